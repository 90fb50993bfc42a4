"""`bertkit search DIR "query"`: the documents of an index (`bertkit index`) nearest to a query.

    $ bertkit search licences.index "may I sell copies of the program?"
    1	0.6012	/usr/share/common-licenses/GPL-2:5131-6324	  To "propagate" a work means to do anything with it that, ...

Columns: rank, score (the model's similarity: cosine for most), the document and the character
span of its best window, the window's text (shortened; `--full` for all of it). Each document is
listed once, at its best window, unless `--all-windows`. The model is the one the index names,
unless `--model`.
"""

from __future__ import annotations

import argparse

HELP = "the documents of a `bertkit index` nearest to a query"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("index", metavar="DIR", help="an index written by `bertkit index`")
    parser.add_argument("query", metavar="QUERY", help="what to look for")
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="how many results (default 5)")
    parser.add_argument("--all-windows", action="store_true", help="list windows, not documents")
    parser.add_argument("--full", action="store_true", help="print each window's whole text")
    parser.add_argument("--json", action="store_true", help="one JSON list instead of the table")
    parser.add_argument("--model", metavar="DIR", default=None, help="the model (default: the one the index names)")


def run(args: argparse.Namespace) -> int:
    import json

    import bertkit
    from bertkit.retrieval import Index

    index = Index.load(args.index)
    model = bertkit.load(args.model or index.manifest["model"], precision="auto")  # as `bertkit index` loads it
    results = index.search(model, args.query, top_k=args.top_k, per_document=not args.all_windows)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
        return 0
    for rank, entry in enumerate(results, start=1):
        text = "(the file changed since it was indexed)" if entry["text"] is None else " ".join(entry["text"].split())
        if not args.full and len(text) > 160:
            text = text[:157] + "..."
        print(f"{rank}\t{entry['score']:.4f}\t{entry['path']}:{entry['start']}-{entry['end']}\t{text}")
    return 0
