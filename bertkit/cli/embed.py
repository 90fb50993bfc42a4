"""`bertkit embed --input F --output F.npy`: one vector per line of a text file (`--output DIR`: any size).

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

Corpora of any size: an `--output` folder (a name without a suffix, or an existing folder) gets
the vectors in shards with an index, streamed, resumable and shardable under `torchrun`
(`bertkit.tasks.bulk`); the input may be text, JSON lines (`.jsonl`: a "text" and an optional
"id" field) or CSV (`.csv` / `.tsv`: a "text" and an optional "id" column):

    $ bertkit embed --input corpus.jsonl --output vectors/ --shard-size 1000
    embedding: pooling mean, normalised, max 256 tokens (the model's sentence-transformers files)
    embed: 100%|██████████| 2000/2000 [00:58<00:00, 34.18text/s]
    skipped 2 of 2000 lines: 1 bad JSON, 1 empty line (each listed with its reason in vectors/shard-*.index.jsonl)
    wrote vectors/: 1998 vectors of 384 float32 in 2 shards, with their (line, id) index; precision int8 (auto)
    $ torchrun --nproc_per_node 4 -m bertkit embed --input corpus.jsonl --output vectors/   # the same files

Lines with no text (empty, bad JSON, no text field) get no vector in a folder; they are listed
in the index with the reason and counted on stderr. Rerunning a killed command resumes it.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from bertkit.cli import add_loading_arguments, load_model, precision_chosen
from bertkit.errors import InputError, TruncationWarning

# bertkit.pipeline.POOLINGS, written out so that `bertkit --help` does not import torch
POOLINGS = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken", "pooled")
QUANTIZED = ("int8", "uint8", "binary", "ubinary")  # bertkit.tasks.compact.PRECISIONS but float32
LONG_TEXTS = ("truncate", "chunk", "error")  # bertkit.pipeline.LONG_TEXTS
FORMATS = ("txt", "jsonl", "csv", "tsv")  # bertkit.tasks.bulk.inputs.FORMATS

HELP = "embed each line of a text file into one vector, saved as a .npy array"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", required=True, metavar="FILE",
        help="UTF-8 text, one text per line; for a folder --output also .jsonl or .csv / .tsv",
    )  # fmt: skip
    parser.add_argument(
        "--output", required=True, metavar="FILE.npy|DIR",
        help="a file: one (N, H) array; a folder (no suffix, or existing): shards with a (line, id) index, "
        "streamed, resumable, split across torchrun ranks",
    )  # fmt: skip
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
        help="write int8/uint8 (per-dimension ranges of these vectors; a folder: of its first block, kept in "
        "ranges.npy) or binary/ubinary (packed bits)",
    )  # fmt: skip
    parser.add_argument(
        "--long", choices=LONG_TEXTS, default="truncate",
        help="a line longer than the model reads: truncate it (one warning; default), chunk it (the token-weighted "
        "mean of overlapping windows of the model's length), or error",
    )  # fmt: skip
    parser.add_argument(
        "--stride", type=int, default=32, help="with --long chunk: tokens shared by neighbouring windows (default 32)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="texts per batch (default 32)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    bulk = parser.add_argument_group("a folder --output (bertkit.tasks.bulk)")
    bulk.add_argument("--format", choices=FORMATS, default=None, help="the input's format (default: by its suffix)")
    bulk.add_argument("--text-column", default=None, help='jsonl field / csv column to embed (default "text")')
    bulk.add_argument(
        "--id-column", default=None, help='jsonl field / csv column of the ids (default "id", else the line number)'
    )  # fmt: skip
    bulk.add_argument("--shard-size", type=int, default=None, help="input lines per shard (default 16384)")
    bulk.add_argument("--block-size", type=int, default=None, help="texts per embedding call (default 4096)")
    bulk.add_argument("--overwrite", action="store_true", help="replace a folder made with other settings")
    add_loading_arguments(parser)


BULK_FLAGS = ("format", "text_column", "id_column", "shard_size", "block_size", "overwrite")


def folder_output(args: argparse.Namespace) -> bool:
    """An --output folder: one that exists, or a name without a suffix ("vectors", "out/")."""
    from pathlib import Path

    target = Path(args.output)
    return target.is_dir() or args.output.endswith(("/", "\\")) or not target.suffix


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    if folder_output(args):
        return run_folder(args)
    given = [f"--{flag.replace('_', '-')}" for flag in BULK_FLAGS if getattr(args, flag) not in (None, False)]
    if given or Path(args.input).suffix.lower() in (".jsonl", ".ndjson", ".csv", ".tsv"):
        what = given[0] if given else f"{args.input}: a JSON-lines or CSV input"
        raise InputError(f"{what} is for a folder --output (shards with an index): give --output DIR")
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
    if args.long == "chunk":
        compact["stride"] = args.stride
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        vectors = model.embed(
            texts, **chosen, **compact, batch_size=args.batch_size, progress=not args.no_progress
        )  # fmt: skip
    say_warnings(caught)
    with open(target, "wb") as f:  # np.save(path) would append .npy to other names
        np.save(f, vectors)
    chosen = precision_chosen(args, model)
    print(f"wrote {target}: {vectors.shape} {vectors.dtype}, row i = line i of {source}; {chosen}")
    return 0


def say_warnings(caught: list) -> None:
    """The conflict was said before embedding; truncation is one line; any other kind of warning as it came."""
    for w in caught:
        if isinstance(w.message, TruncationWarning):
            print(f"warning: {w.message.summary()}; --long error refuses such lines", file=sys.stderr)
        elif not issubclass(w.category, UserWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def run_folder(args: argparse.Namespace) -> int:
    """`--output DIR`: bertkit.tasks.bulk.embed_file, with this command's flags."""
    from bertkit.tasks import bulk  # here: `bertkit --help` skips numpy and torch
    from bertkit.tasks.bulk.inputs import InputFile

    reading = InputFile(args.input, args.format, args.text_column, args.id_column)  # before the model: quick errors
    model = load_model(args)
    chosen = dict(pooling=args.pooling, normalize=args.normalize, prompt_name=args.prompt_name)
    settings = model.embed_settings(**chosen)
    rank = int(os.environ.get("RANK", 0))
    if rank == 0:
        print(f"embedding: {settings.describe()}", file=sys.stderr)
        if settings.conflict:
            print(f"warning: {settings.conflict}", file=sys.stderr)
    embed_args = dict(chosen, dimensions=args.dimensions, long=args.long, batch_size=args.batch_size)
    if args.long == "chunk":  # only then: a folder made before --stride existed resumes as it was
        embed_args["stride"] = args.stride
    sizes = {k: v for k, v in (("shard_size", args.shard_size), ("block_size", args.block_size)) if v is not None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        manifest = bulk.embed_file(
            model, args.input, args.output, embed_args, args.quantize or "float32", reading, **sizes,
            overwrite=args.overwrite, progress=not args.no_progress,
        )  # fmt: skip
    say_warnings([w for w in caught if rank == 0 or not isinstance(w.message, TruncationWarning)])
    if manifest is None:  # another rank: its shards are written, rank 0 writes the manifest
        return 0
    if manifest["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in manifest["skipped"].items())
        print(
            f"skipped {sum(manifest['skipped'].values())} of {manifest['lines']} lines: {reasons} "
            f"(each listed with its reason in {args.output.rstrip('/')}/shard-*.index.jsonl)",
            file=sys.stderr,
        )
    shards = len(manifest["shards"])
    if manifest["kept_shards"]:
        print(f"resumed: {manifest['kept_shards']} of {shards} shards were complete (verified), kept", file=sys.stderr)
    print(
        f"wrote {args.output}: {manifest['rows']} vectors of {manifest['dim']} {manifest['dtype']} in "
        f"{shards} shard{'s' if shards != 1 else ''}, with their (line, id) index; {precision_chosen(args, model)}"
    )
    return 0
