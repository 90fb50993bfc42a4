"""`bertkit fill-mask --model DIR "text with [MASK]"`: top-k fillers from a model's MLM head.

    $ bertkit fill-mask --model my-bert "the software is distributed under the [MASK] of the license."
    the software is distributed under the [MASK] of the license.
      [MASK] 1: terms 0.612 | conditions 0.101 | license 0.044 | ...

Each text may hold several masks ([MASK] for BERT, <mask> for RoBERTa); each gets its own
list. `--json` prints one JSON object per text instead.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_model_argument

HELP = "top-k fillers, with scores, for each [MASK] / <mask> of a text"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="text with one or more mask tokens")
    add_model_argument(parser)
    parser.add_argument("--top-k", type=int, default=5, help="fillers per mask (default 5)")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")


def run(args: argparse.Namespace) -> int:
    import json

    from bertkit.tasks.fill_mask import FillMask

    fill = FillMask.from_pretrained(args.model)
    for text in args.texts:
        masks = fill(text, top_k=args.top_k)
        if args.json:
            print(json.dumps({"text": text, "masks": masks}, ensure_ascii=False))
            continue
        print(text)
        for n, fillers in enumerate(masks, start=1):
            shown = " | ".join(f"{f['token']} {f['score']:.3f}" for f in fillers)
            print(f"  {fill.mask_token} {n}: {shown}")
    return 0
