"""Long documents read whole: does a piece of a document find its own document?

Documents, real and long, nobody on this project wrote: the licences in /usr/share/common-licenses
(GPL, Apache, MPL, ...) and the manuals of Python standard-library modules as `pydoc` prints
them (json, re, argparse, ...), each cut to --max-chars. The bundled all-MiniLM-L6-v2 reads 256
tokens, so most of each document is past what one vector of it sees.

Three ways to store the documents, in one run:

- truncate: one vector per document from its first 256 tokens (what `embed` does by default);
- chunk: one vector per document, the token-weighted mean of its windows (`embed(long="chunk")`);
- windows: every window's vector (`embed_windows`), a document scored by its best window: what a
  retrieval index stores.

Queries: (1) every window of every document, as a vector (`embed_windows`), against the
document vectors: does it rank its own document first (recall@1)? (2) one sentence from the
middle of each window, embedded on its own, against each store: the realistic case of a user
who remembers a phrase.

    python benchmarks/chunk_retrieval.py                  # ~40 documents
    python benchmarks/chunk_retrieval.py --max-chars 8000 --stride 64
"""

import argparse
import pydoc
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bertkit  # noqa: E402
from bertkit.bench.report import machine_description  # noqa: E402
from bertkit.bench.texts import license_texts  # noqa: E402

MODULES = (
    "argparse", "bisect", "calendar", "codecs", "collections", "configparser", "csv", "datetime", "decimal",
    "difflib", "email.message", "fractions", "ftplib", "functools", "gzip", "heapq", "html.parser", "http.client",
    "imaplib", "inspect", "ipaddress", "itertools", "json", "logging", "mailbox", "pathlib", "pickle", "random", "re",
    "shutil", "smtplib", "socket", "sqlite3", "statistics", "string", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "typing", "unittest", "urllib.parse", "uuid", "zipfile",
)  # fmt: skip


def documents(max_chars: int) -> tuple[list[str], list[str]]:
    names, texts = [], []
    seen = set()
    for text in license_texts():
        key = text[:200]
        if key not in seen and len(text) > 2000:
            seen.add(key)
            names.append(f"licence {text.strip().splitlines()[0][:50]}")
            texts.append(text[:max_chars])
    for module in MODULES:
        text = pydoc.render_doc(module, renderer=pydoc.plaintext)
        if len(text) > 2000:
            names.append(f"manual {module}")
            texts.append(text[:max_chars])
    return names, texts


def middle_sentence(text: str) -> str | None:
    """A line of prose from the middle of a window: at least 6 words, as a user might quote it."""
    lines = [line.strip() for line in text.splitlines() if len(re.findall(r"[A-Za-z]{2,}", line)) >= 6]
    return lines[len(lines) // 2] if lines else None


def recall(scores: np.ndarray, truth: np.ndarray) -> float:
    return float((scores.argmax(axis=1) == truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-chars", type=int, default=10_000, help="characters of each document (default 10,000)")
    parser.add_argument("--stride", type=int, default=32, help="tokens shared by neighbouring windows (default 32)")
    args = parser.parse_args()

    model = bertkit.load()
    names, texts = documents(args.max_chars)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        truncated = model.embed(texts)
    cut = [str(w.message) for w in caught]
    chunked = model.embed(texts, long="chunk", stride=args.stride)
    chunks = model.embed_windows(texts, stride=args.stride)
    seconds = time.perf_counter() - started
    tokens = sum(len(ids) for ids in model.preprocessor.tokenize(texts))

    owners = chunks.text_index
    sentences, sentence_owner = [], []
    for i in range(len(chunks)):
        sentence = middle_sentence(chunks.text(i, texts))
        if sentence:
            sentences.append(sentence)
            sentence_owner.append(owners[i])
    queries = model.embed(sentences)
    sentence_owner = np.asarray(sentence_owner)

    def best_window(query_vectors: np.ndarray) -> np.ndarray:  # a document's score: its best window's
        scores = query_vectors @ chunks.vectors.T
        out = np.full((len(query_vectors), len(texts)), -np.inf, dtype=np.float32)
        for d in range(len(texts)):
            out[:, d] = scores[:, owners == d].max(axis=1)
        return out

    print(f"# {machine_description()}")
    print(
        f"{len(texts)} documents ({sum(n.startswith('licence') for n in names)} licences, "
        f"{sum(n.startswith('manual') for n in names)} pydoc manuals), {tokens:,} tokens, "
        f"{len(chunks)} windows of <= 254 tokens (stride {args.stride}); {cut[0] if cut else 'none cut'}"
    )
    print(f"embedding all three stores: {seconds:.1f} s")
    print()
    print("| query | truncate (1 vector/doc) | chunk (1 vector/doc) | windows (best window) |")
    print("|---|---|---|---|")
    print(
        f"| each window's vector ({len(chunks)}) | {recall(chunks.vectors @ truncated.T, owners):.3f} | "
        f"{recall(chunks.vectors @ chunked.T, owners):.3f} | 1.000 (itself) |"
    )
    print(
        f"| a sentence from each window ({len(sentences)}) | {recall(queries @ truncated.T, sentence_owner):.3f} | "
        f"{recall(queries @ chunked.T, sentence_owner):.3f} | {recall(best_window(queries), sentence_owner):.3f} |"
    )


if __name__ == "__main__":
    main()
