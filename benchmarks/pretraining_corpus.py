"""A pretraining corpus of real text nobody on this project wrote, in BERT's format.

One sentence per line, a blank line between documents, from what every machine built from our
image has (see tests/corpora.py): Debian changelog entries (a document each), the licenses in
/usr/share/common-licenses (a document per file), and the docstrings of Python's standard
library (a document each, when it has at least three sentences).

    python benchmarks/pretraining_corpus.py --output corpus.txt --megabytes 4
    python benchmarks/pretraining_corpus.py --output prose.txt --megabytes 2 --changelog-megabytes 0.9
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # corpora.py, the shared real-text loader
import corpora  # noqa: E402

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def sentences(text: str) -> list[str]:
    """Text -> sentences: paragraphs and lines joined, then cut after . ! ? before a capital."""
    flat = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(flat) if len(s.split()) >= 2]


def changelog_document(entry: str) -> list[str]:
    """A changelog entry: its bullet points as sentences (header and signature dropped)."""
    lines = []
    for line in entry.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        line = line.lstrip("*-+ ").strip()
        if lines and not re.match(r"^[A-Z\[]", line):  # a wrapped bullet continues the last one
            lines[-1] += " " + line
        else:
            lines.append(line)
    return [s for line in lines for s in sentences(line)]


def documents(seed: int = 0, changelog_megabytes: float | None = None) -> list[list[str]]:
    """Changelog entries, licenses and docstrings of at least three sentences, shuffled.

    changelog_megabytes: keep only this much changelog text (the first entries, in the order
    read), so that the prose (licenses, docstrings: ~0.85 MB) is a larger share of the corpus.
    """
    changelogs = [changelog_document(e) for e in corpora.changelog_entries(max_files=1200, per_file=40)]
    changelogs = [d for d in changelogs if len(d) >= 3]
    if changelog_megabytes is not None:
        budget, kept = int(changelog_megabytes * 1_000_000), []
        for doc in changelogs:
            budget -= len(("\n".join(doc) + "\n\n").encode("utf-8"))
            if budget < 0:
                break
            kept.append(doc)
        changelogs = kept
    prose = [sentences(text) for text in corpora.license_texts()]
    prose += [sentences(s) for s in corpora.stdlib_strings() if len(s) > 200]
    docs = changelogs + [d for d in prose if len(d) >= 3]
    random.Random(seed).shuffle(docs)
    return docs


def write_corpus(path: str | Path, megabytes: float, seed: int = 0, changelog_megabytes: float | None = None) -> dict:
    budget = int(megabytes * 1_000_000)
    written = n_docs = n_sentences = 0
    with open(path, "w", encoding="utf-8") as f:
        for doc in documents(seed, changelog_megabytes):
            if written >= budget:
                break
            block = "\n".join(doc) + "\n\n"
            f.write(block)
            written += len(block.encode("utf-8"))
            n_docs += 1
            n_sentences += len(doc)
    return {"bytes": written, "documents": n_docs, "sentences": n_sentences}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--changelog-megabytes", type=float, default=None, help="at most this much changelog text (default: no limit)")
    args = parser.parse_args()
    made = write_corpus(args.output, args.megabytes, args.seed, args.changelog_megabytes)
    print(f"wrote {args.output}: {made['bytes']:,} bytes, {made['documents']:,} documents, {made['sentences']:,} sentences")
