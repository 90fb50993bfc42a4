"""`bertkit predict --model DIR TEXT...` (or `--input FILE`): labels and scores of a fine-tuned model.

    $ bertkit predict --model spam-model "WINNER!! Claim your free prize now" "see you at 6?"
    spam	0.9981	WINNER!! Claim your free prize now
    ham	0.9990	see you at 6?

`--format json` prints one JSON object per text (all scores; words, tags and entities for a
tagger, with each word's and entity's character span unless `--no-offsets`), `--format csv` a table. `--input` reads one text per line, or a CSV/TSV/JSONL file's
`--text-column` (and `--text-pair-column` for pairs).
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_loading_arguments, load_model
from bertkit.data.labeled import read_texts
from bertkit.errors import InputError

HELP = "labels and scores from a fine-tuned classifier or tagger, for texts or a file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to label")
    parser.add_argument("--input", metavar="FILE", help="one text per line, or a .csv/.tsv/.jsonl table")
    parser.add_argument("--text-column", default="text", help="column of the texts in a table (text)")
    parser.add_argument("--text-pair-column", metavar="NAME", help="column of the second texts, for pairs")
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text", help="output format (text)")
    parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--sigmoid", action="store_true", help="a one-output model's score through a sigmoid (default: raw)"
    )
    parser.add_argument(
        "--no-offsets",
        dest="offsets",
        action="store_false",
        help="leave out a tagger's (start, end) character span of each word and entity (json and csv)",
    )
    add_loading_arguments(parser, required=True, precision_note="; the head stays fp32")


def _read_input(args) -> tuple[list[str], list[str] | None]:
    if args.input is not None:
        return read_texts(args.input, args.text_column, args.text_pair_column)
    if not args.texts:
        raise InputError("nothing to predict: give texts, or --input FILE")
    return list(args.texts), None


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import sys

    texts, pairs = _read_input(args)
    model = load_model(args)
    results = model.predict(texts, pairs, batch_size=args.batch_size, sigmoid=args.sigmoid, offsets=args.offsets)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        if args.format == "json":
            for text, result in zip(texts, results):
                out.write(json.dumps({"text": text, **result}, ensure_ascii=False) + "\n")
        elif args.format == "csv":
            writer = csv.writer(out)
            tagging = "tags" in results[0] if results else False
            labels = [] if tagging or not results else list(results[0]["scores"])
            writer.writerow(["text", "entities"] if tagging else ["text", "label", "score", *labels])
            for text, r in zip(texts, results):
                if tagging:
                    writer.writerow([text, json.dumps(r["entities"], ensure_ascii=False)])
                else:
                    label = r["label"] if "label" in r else "|".join(r["labels"])
                    score = r.get("score", max(r["scores"].values()))
                    writer.writerow([text, label, f"{score:.4f}", *(f"{r['scores'][k]:.4f}" for k in labels)])
        else:
            for text, r in zip(texts, results):
                if "tags" in r:
                    out.write(" ".join(f"{w}/{t}" for w, t in zip(r["words"], r["tags"])) + "\n")
                elif "label" in r:
                    out.write(f"{r['label']}\t{r['score']:.4f}\t{text}\n")
                else:
                    out.write(f"{'|'.join(r['labels']) or '-'}\t{text}\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0
