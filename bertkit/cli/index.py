"""`bertkit index FOLDER... --output DIR`: every text document under the folders, cut into
windows of the model's length, embedded and stored for `bertkit search`.

    $ bertkit index /usr/share/common-licenses --output licences.index
    indexed 14 documents, 379 windows (254 tokens, stride 32) into licences.index in 38.2 s

Folders are walked in sorted order (hidden entries left out; `--suffix .md` to read only some
files); a file that is not UTF-8 text, is empty, or links to a file already read is skipped, and
the skipped files are counted on stderr (`--verbose` lists each). See `bertkit.retrieval`.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_loading_arguments, load_model
from bertkit.errors import InputError

HELP = "embed a folder of documents, window by window, into an index that `bertkit search` reads"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="FOLDER", help="folders (walked) or files to index")
    parser.add_argument("--output", required=True, metavar="DIR", help="the index folder to write")
    parser.add_argument(
        "--suffix", action="append", default=None, metavar=".EXT",
        help="read only files ending so in folders (repeatable, e.g. --suffix .md --suffix .txt; default: every file)",
    )  # fmt: skip
    parser.add_argument("--window", type=int, default=None, help="tokens per window (default: all the model reads)")
    parser.add_argument("--stride", type=int, default=32, help="tokens shared by neighbouring windows (default 32)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="list every skipped file and why")
    add_loading_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from collections import Counter

    from bertkit.retrieval import build_index

    suffixes = None if not args.suffix else tuple(s.lower() for s in args.suffix)
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    model = load_model(args)
    started = time.perf_counter()
    index = build_index(
        model, args.sources, args.output, window=args.window, stride=args.stride, suffixes=suffixes,
        batch_size=args.batch_size, progress=not args.no_progress,
    )  # fmt: skip
    skipped = index.manifest["skipped"]
    if args.verbose:
        for entry in skipped:
            print(f"skipped {entry['path']}: {entry['why']}", file=sys.stderr)
    elif skipped:
        reasons = Counter(entry["why"].split(" as ")[0] for entry in skipped)
        said = ", ".join(f"{count} {why}" for why, count in reasons.most_common())
        print(f"skipped {len(skipped)} files ({said}; --verbose lists them)", file=sys.stderr)
    window = args.window or model.embed_length - model.preprocessor.layout.num_special_tokens(1)
    print(
        f"indexed {len(index.documents)} documents, {len(index.vectors)} windows ({window} tokens, stride "
        f"{args.stride}) into {args.output} in {time.perf_counter() - started:.1f} s"
    )
    return 0
