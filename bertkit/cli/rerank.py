"""`bertkit rerank --model DIR QUERY DOCUMENT...` (or `--input FILE`): documents ordered by a
pair model's relevance to the query, best first.

    $ bertkit rerank --model my-cross-encoder "how do I install it" "Thanks to everyone." "Run make setup."
    1	4.2113	[1]	Run make setup.
    2	-3.9702	[0]	Thanks to everyone.

Columns: rank, score (a one-output model's raw score, or its sigmoid with `--sigmoid`; a
two-label model's probability of its second label), the document's index in the input, the
document. `--json` prints one JSON list `[{"index", "score", "document"}]`. `--input` reads one
document per line, or a CSV/TSV/JSONL file's `--text-column`.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_loading_arguments, load_model
from bertkit.data.labeled import read_texts
from bertkit.errors import InputError

HELP = "documents ordered by a cross-encoder's relevance to a query"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", metavar="QUERY", help="what the documents are ranked for")
    parser.add_argument("documents", nargs="*", metavar="DOCUMENT", help="documents to rank")
    parser.add_argument("--input", metavar="FILE", help="documents: one per line, or a .csv/.tsv/.jsonl table")
    parser.add_argument("--text-column", default="text", help="column of the documents in a table (text)")
    parser.add_argument("--top-n", type=int, default=None, metavar="N", help="print only the N best")
    parser.add_argument("--sigmoid", action="store_true", help="a one-output model's score through a sigmoid")
    parser.add_argument("--json", action="store_true", help="one JSON list instead of the table")
    parser.add_argument("--batch-size", type=int, default=32)
    add_loading_arguments(parser, required=True, precision_note="; the head stays fp32")


def run(args: argparse.Namespace) -> int:
    import json

    if args.input is not None:
        if args.documents:
            raise InputError("give the documents as arguments or with --input, not both")
        documents, _ = read_texts(args.input, args.text_column, None)
    else:
        documents = list(args.documents)
    if not documents:
        raise InputError("nothing to rank: give documents after the query, or --input FILE")
    model = load_model(args)
    ranked = model.rerank(
        args.query, documents, top_n=args.top_n, batch_size=args.batch_size, sigmoid=args.sigmoid, return_documents=True
    )
    if args.json:
        print(json.dumps(ranked, ensure_ascii=False))
        return 0
    for rank, entry in enumerate(ranked, start=1):
        shown = " ".join(entry["document"].split())
        print(f"{rank}\t{entry['score']:.4f}\t[{entry['index']}]\t{shown}")
    return 0
