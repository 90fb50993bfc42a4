"""`bertkit embed --input F --output F.npy`: one vector per line of a text file.

    $ bertkit embed --input sentences.txt --output vectors.npy
    embedding: pooling mean, normalised, max 256 tokens (the model's sentence-transformers files)
    embed: 100%|██████████| 1000/1000 [00:04<00:00, 231.9text/s]
    wrote vectors.npy: (1000, 384) float32, row i = line i of sentences.txt

The pooling, normalisation, longest text and prompt are the model's own (its
sentence-transformers files; without them: cls, not normalised, 128 tokens), as
`bertkit.load(model).embed(texts)` makes them; `--pooling`, `--normalize` / `--no-normalize`,
`--prompt-name` and `--seq-length` override them. Texts are batched by length and written back
in input order. Blank lines get a vector too (of the empty text), so row i is always line i.

`--dimensions K` keeps each vector's first K values (re-normalised when normalised);
`--quantize int8|uint8|binary|ubinary` writes that dtype (int8 / uint8 ranges: this file's own
vectors; binary: packed bits, K / 8 bytes a row), as sentence-transformers' `precision`. Lines
longer than the model reads are truncated with one `warning:` line, or refused with `--long error`.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from bertkit.cli import add_loading_arguments, load_model, precision_chosen
from bertkit.errors import InputError, TruncationWarning

# bertkit.pipeline.POOLINGS, written out so that `bertkit --help` does not import torch
POOLINGS = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", "pooled")
QUANTIZED = ("int8", "uint8", "binary", "ubinary")  # bertkit.tasks.compact.PRECISIONS but float32
LONG_TEXTS = ("truncate", "error")  # bertkit.pipeline.LONG_TEXTS

HELP = "embed each line of a text file into one vector, saved as a .npy array"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="FILE", help="UTF-8 text, one text per line")
    parser.add_argument("--output", required=True, metavar="FILE.npy", help="where to write the (N, H) array")
    parser.add_argument(
        "--pooling", choices=POOLINGS, default=None,
        help="cls (first token), mean over real tokens, max, mean_sqrt_len_tokens, weightedmean, lasttoken, "
        "or pooled (the pooler's output); default: the model's own",
    )  # fmt: skip
    normalize = parser.add_mutually_exclusive_group()
    normalize.add_argument(
        "--normalize", action="store_true", default=None, help="scale each vector to unit L2 norm"
    )  # fmt: skip
    normalize.add_argument(
        "--no-normalize", action="store_false", dest="normalize", help="do not (default: as the model says)"
    )  # fmt: skip
    parser.add_argument("--prompt-name", default=None, help="one of the model's prompts, put before each text")
    parser.add_argument(
        "--dimensions", type=int, default=None, metavar="K",
        help="keep the first K values of each vector (Matryoshka), re-normalised when normalised",
    )  # fmt: skip
    parser.add_argument(
        "--quantize", choices=QUANTIZED, default=None,
        help="write int8/uint8 (per-dimension ranges of these vectors) or binary/ubinary (packed bits)",
    )  # fmt: skip
    parser.add_argument(
        "--long", choices=LONG_TEXTS, default="truncate",
        help="a line longer than the model reads: truncate it (one warning; default) or error",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32, help="texts per batch (default 32)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_loading_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    source = Path(args.input)
    if not source.is_file():
        raise InputError(f"{source}: input file not found")
    try:
        texts = source.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not texts:
        raise InputError(f"{source}: the input file is empty, nothing to embed")
    target = Path(args.output)
    if not target.parent.is_dir():
        raise InputError(f"{target}: the output's directory does not exist")

    model = load_model(args)
    chosen = dict(pooling=args.pooling, normalize=args.normalize, prompt_name=args.prompt_name)
    settings = model.embed_settings(**chosen)
    print(f"embedding: {settings.describe()}", file=sys.stderr)
    if settings.conflict:  # one line here, rather than Python's two-line warning from embed()
        print(f"warning: {settings.conflict}", file=sys.stderr)
    compact = dict(dimensions=args.dimensions, precision=args.quantize or "float32", long=args.long)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        vectors = model.embed(
            texts, **chosen, **compact, batch_size=args.batch_size, progress=not args.no_progress
        )  # fmt: skip
    for w in caught:  # the conflict was said above; any other kind of warning is shown as it came
        if isinstance(w.message, TruncationWarning):
            print(f"warning: {w.message.summary()}; --long error refuses such lines", file=sys.stderr)
        elif not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    with open(target, "wb") as f:  # np.save(path) would append .npy to other names
        np.save(f, vectors)
    chosen = precision_chosen(args, model)
    print(f"wrote {target}: {vectors.shape} {vectors.dtype}, row i = line i of {source}; {chosen}")
    return 0
