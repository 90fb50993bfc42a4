"""`bertkit attention TEXT --output PNG`: what each token attends to, as token-by-token heatmaps.

$ bertkit attention "This is a spam mail" --pair "Computers are not unique to computers" --output att.png
$ bertkit attention "This is a spam mail" --layer 0 --head 3 --output head.png
$ bertkit attention "输入一个有效的日期。" --output zh.png        # Chinese labels in a CJK font

One layer (default: the last), one head or all of them in a grid (default). Layers and heads
count from 0, as `enc(batch, output_attentions=True)["attentions"][layer][:, head]` does.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from bertkit.cli import add_flavor_argument, add_model_argument, say_flavor
from bertkit.errors import InputError

HELP = "heatmaps of one layer's attention probabilities (one head or all), tokens on both axes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", metavar="TEXT", help="the text whose attention to draw")
    parser.add_argument("--pair", metavar="TEXT", help="a second segment: [CLS] TEXT [SEP] PAIR [SEP]")
    parser.add_argument("--layer", type=int, default=-1, help="layer, from 0 (default -1: the last)")
    parser.add_argument("--head", default="all", help="head, from 0, or all (default): every head in a grid")
    parser.add_argument("--output", required=True, metavar="PNG", help="the picture to write (.png, .svg, .pdf)")
    parser.add_argument("--seq-length", type=int, default=128, metavar="N", help="longer texts are cut (default 128)")
    add_model_argument(parser)
    add_flavor_argument(parser)


def run(args: argparse.Namespace) -> int:
    head = parse_head(args.head)
    from bertkit import Encoder, Preprocessor  # here: `bertkit --help` skips torch
    from bertkit.tasks.attention import MissingFontWarning, attention_maps, draw_attention, save_figure

    pre = Preprocessor.from_pretrained(args.model, seq_length=args.seq_length, flavor=args.flavor)
    say_flavor(pre)
    encoder = Encoder.from_pretrained(args.model)
    maps = attention_maps(pre, encoder, args.text, args.pair)
    layers = len(maps.layers)
    if not -layers <= args.layer < layers:
        raise InputError(f"--layer {args.layer} does not exist: this model has {layers} layers (0 to {layers - 1})")
    layer = args.layer % layers
    heads = maps.layers[layer].shape[0]
    if head is not None and not 0 <= head < heads:
        raise InputError(f"--head {head} does not exist: this model has {heads} heads per layer (0 to {heads - 1})")
    shown = args.text if args.pair is None else f"{args.text} | {args.pair}"
    name = "all-MiniLM-L6-v2" if args.model is None else Path(args.model).name
    title = f"{name}, layer {layer} (of 0-{layers - 1}): {shown}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingFontWarning)
        figure = draw_attention(maps.tokens, maps.layers[layer], head=head, title=title, layer=layer)
    for w in caught:  # one line, rather than Python's two-line warning
        if isinstance(w.message, MissingFontWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    try:
        path = save_figure(figure, args.output)
    except (OSError, ValueError) as e:  # a missing folder, a format matplotlib does not write
        raise InputError(f"cannot write {args.output}: {e}") from None
    what = f"head {head}" if head is not None else f"{heads} heads"
    print(f"wrote {path}: layer {layer}, {what}, {len(maps.tokens)} tokens: {' '.join(maps.tokens)}")
    return 0


def parse_head(value: str) -> int | None:
    if value == "all":
        return None
    try:
        return int(value)
    except ValueError:
        raise InputError(f"--head takes a head number (from 0) or all, not {value!r}") from None
