"""A pretraining corpus read as documents: the format of Google's `create_pretraining_data.py`,
plain UTF-8 text, one sentence per line, documents separated by blank lines.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "corpus.txt"
    >>> _ = path.write_text("one two\\nthree\\n\\nfour five six\\n", encoding="utf-8")
    >>> stats = CorpusStats()
    >>> list(read_documents([path], lambda line: [len(w) for w in line.split()], 2, stats))
    [[[3, 3], [5]], [[4, 4], [3]]]
    >>> stats.documents, stats.split_lines
    (2, 1)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import InputError


@dataclass
class CorpusStats:
    """What `read_documents` saw; `split_lines` counts lines longer than a sequence."""

    files: int = 0
    lines: int = 0
    documents: int = 0
    tokens: int = 0
    split_lines: int = 0


def text_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file, streamed; binary or non-UTF-8 files are refused."""
    if not path.exists():
        raise InputError(f"corpus file not found: {path}")
    if path.is_dir():
        raise InputError(f"corpus path is a directory, not a text file: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if b"\x00" in raw:
                raise InputError(f"{path}: line {number} contains NUL bytes; this looks like a binary file, not text")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}: line {number} is not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                    "convert the file to UTF-8 or leave it out"
                ) from None


def corpus_lines(paths: Sequence[str | os.PathLike]) -> Iterator[str]:
    """Every line of every file, in order: what a vocabulary is learned from."""
    for path in paths:
        yield from text_lines(Path(path))


def read_documents(
    paths: Sequence[str | os.PathLike],
    tokenize: Callable[[str], list[int]],
    max_sentence_tokens: int,
    stats: CorpusStats | None = None,
) -> Iterator[list[list[int]]]:
    """Stream documents (lists of tokenised sentences) from text files; each file ends a document.

    A sentence longer than `max_sentence_tokens` is cut into consecutive pieces of at most that
    many tokens (counted in `stats.split_lines`) rather than truncated, so no text is lost.
    """
    stats = stats if stats is not None else CorpusStats()
    for path in map(Path, paths):
        stats.files += 1
        document: list[list[int]] = []
        for line in text_lines(path):
            stats.lines += 1
            line = line.strip()
            if not line:
                if document:
                    stats.documents += 1
                    yield document
                document = []
                continue
            ids = tokenize(line)
            if not ids:
                continue
            stats.tokens += len(ids)
            if len(ids) > max_sentence_tokens:
                stats.split_lines += 1
            for start in range(0, len(ids), max_sentence_tokens):
                document.append(ids[start : start + max_sentence_tokens])
        if document:
            stats.documents += 1
            yield document
