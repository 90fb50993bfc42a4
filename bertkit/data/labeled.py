"""Labelled data for fine-tuning: texts with labels (CSV, TSV, JSONL) and tagged words (CoNLL).

Tables name their columns; the defaults `text` and `label` mean a plain two-column file needs
no options. A second text column makes sentence pairs; a label separator makes multi-label
rows (`sports|politics`); `regression=True` reads each label as a number (a similarity score).
A file without a header line gets its column names from `columns`.

CoNLL files hold one word per line, the word in the first column and its tag in the last
(any columns between are ignored), columns separated by tabs (then a word may hold spaces) or
else by spaces, sentences separated by blank lines, `-DOCSTART-` lines skipped.

Rows that cannot be used (empty text, no label, a score that is not a finite number) are
dropped and *counted*: `dropped` maps each
reason to its number of rows, and the caller reports it. Anything else wrong with a file is an
`InputError` naming the file, the line and what to do.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "train.csv"
    >>> _ = path.write_text("text,label\\nfree entry now,spam\\n,ham\\nsee you soon,ham\\n")
    >>> data = read_table(path)
    >>> data.texts, data.labels, data.dropped
    (['free entry now', 'see you soon'], ['spam', 'ham'], {'empty text': 1})
    >>> _ = path.write_text("text,label\\nvery long text here,0.4\\nshort,n/a\\none,nan\\ntwo words,0.2\\n")
    >>> data = read_table(path, regression=True)
    >>> data.labels, data.dropped
    ([0.4, 0.2], {'a non-numeric label': 1, 'a NaN or infinite label': 1})
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from bertkit.errors import InputError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".jsonl": None, ".ndjson": None, ".json": None}
CONLL_SUFFIXES = (".conll", ".conllu", ".iob", ".iob2", ".bio", ".ner")


@dataclasses.dataclass
class LabeledTexts:
    """Texts (or text pairs) and their labels; multi-label rows hold a list of labels."""

    texts: list[str]
    labels: list  # list[str]; list[list[str]] for multi-label; list[float] for regression
    texts_b: list[str] | None = None
    source: str = ""
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> LabeledTexts:
        pick = lambda values: [values[i] for i in indices]  # noqa: E731
        return LabeledTexts(
            pick(self.texts), pick(self.labels), pick(self.texts_b) if self.texts_b else None, self.source
        )


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as words, one tag per word."""

    words: list[list[str]]
    tags: list[list[str]]
    source: str = ""
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, indices: list[int]) -> TaggedSentences:
        return TaggedSentences([self.words[i] for i in indices], [self.tags[i] for i in indices], self.source)


def is_conll(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CONLL_SUFFIXES


# --- files -----------------------------------------------------------------------------------


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole file as text, or an `InputError` that says what is wrong and where."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not valid {encoding} (byte 0x{raw[e.start]:02x} at offset {e.start}); "
            "re-save the file as UTF-8, or name its encoding with --encoding (e.g. latin-1)"
        ) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


# --- tables ------------------------------------------------------------------------------------


def read_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    text_pair_column: str | None = None,
    label_separator: str | None = None,
    columns: list[str] | None = None,
    encoding: str = "utf-8",
    regression: bool = False,
) -> LabeledTexts:
    """Texts and labels from a CSV, TSV or JSONL file (chosen by its suffix); with `regression`
    the labels are floats, and a row whose label is not a finite number is dropped."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"{path}: unknown file type {suffix or '(no suffix)'}; use .csv, .tsv, .jsonl "
            f"or, for tagging, CoNLL ({', '.join(CONLL_SUFFIXES)})"
        )
    text, delimiter = read_text_file(path, encoding), TABLE_SUFFIXES[suffix]
    rows, found = _csv_rows(path, text, delimiter, columns) if delimiter else _json_rows(path, text)
    wanted = {"--text-column": text_column, "--label-column": label_column}
    if text_pair_column:
        wanted["--text-pair-column"] = text_pair_column
    for option, name in wanted.items():
        if name not in found:
            raise InputError(
                f"{path}: no column {name!r}; the file has columns: {', '.join(map(str, found)) or '(none)'}; "
                f"choose one with {option}"
            )

    data = LabeledTexts([], [], [] if text_pair_column else None, source=str(path))
    for row in rows:
        text_a = _cell(row.get(text_column))
        text_b = _cell(row.get(text_pair_column)) if text_pair_column else None
        label = _label(row.get(label_column), label_separator)
        if regression and label and not isinstance(label, list):
            label = _score(label)
        reason = (
            "empty text" if not text_a.strip()
            else f"empty {text_pair_column}" if text_pair_column and not text_b.strip()
            else "no label" if label == "" or label == []
            else "a non-numeric label" if regression and not isinstance(label, float)
            else "a NaN or infinite label" if regression and not math.isfinite(label)
            else None
        )  # fmt: skip
        if reason:
            data.dropped[reason] = data.dropped.get(reason, 0) + 1
            continue
        data.texts.append(text_a)
        data.labels.append(label)
        if text_pair_column:
            data.texts_b.append(text_b)
    if not data.texts:
        raise InputError(f"{path}: no usable rows ({describe_dropped(data.dropped) or 'the file has no data rows'})")
    return data


def read_texts(
    path: str | Path, text_column: str = "text", text_pair_column: str | None = None, encoding: str = "utf-8"
) -> tuple[list[str], list[str] | None]:
    """Texts to label: a table's text column(s), or any other file's lines (blank lines kept)."""
    path = Path(path)
    suffix = path.suffix.lower()
    text = read_text_file(path, encoding)
    if suffix not in TABLE_SUFFIXES:
        return text.splitlines(), None
    delimiter = TABLE_SUFFIXES[suffix]
    rows, found = _csv_rows(path, text, delimiter, None) if delimiter else _json_rows(path, text)
    for name in filter(None, (text_column, text_pair_column)):
        if name not in found:
            raise InputError(f"{path}: no column {name!r}; the file has columns: {', '.join(map(str, found))}")
    texts = [_cell(row.get(text_column)) for row in rows]
    return texts, [_cell(row.get(text_pair_column)) for row in rows] if text_pair_column else None


def _csv_rows(path: Path, text: str, delimiter: str, columns: list[str] | None) -> tuple[list[dict], list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = [row for row in reader if row]
    except csv.Error as e:
        raise InputError(f"{path}: line {reader.line_num}: {e}") from None
    header = list(columns) if columns else [name.strip() for name in table.pop(0)]
    if not table:
        raise InputError(f"{path}: the file has a header line ({', '.join(header)}) but no data rows")
    return [dict(zip(header, row)) for row in table], header


def _json_rows(path: Path, text: str) -> tuple[list[dict], list[str]]:
    rows, found = [], {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path}: line {number} is not JSON ({e.msg}); expected one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise InputError(f"{path}: line {number} is a JSON {type(row).__name__}, expected an object")
        rows.append(row)
        found.update(dict.fromkeys(row))
    return rows, list(found)


def _cell(value) -> str:
    return "" if value is None else str(value)


def _label(value, separator: str | None):
    """A label cell -> str, or a list of str for multi-label ('' / [] = no label)."""
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    if isinstance(value, bool):
        value = int(value)
    value = _cell(value).strip()
    if separator is not None:
        return [part.strip() for part in value.split(separator) if part.strip()]
    return value


def _score(label: str) -> float | str:
    """A regression label: its float value, or the text itself when it is not a number."""
    try:
        return float(label)
    except ValueError:
        return label


def describe_dropped(dropped: dict[str, int]) -> str:
    return ", ".join(f"{count} row{'s' * (count != 1)} with {reason}" for reason, count in dropped.items())


# --- CoNLL -------------------------------------------------------------------------------------


def read_conll(path: str | Path, encoding: str = "utf-8") -> TaggedSentences:
    """Tagged sentences from a CoNLL-style file: word first, tag last, blank line between sentences."""
    path = Path(path)
    data = TaggedSentences([], [], source=str(path))
    words: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if words:
            data.words.append(list(words))
            data.tags.append(list(tags))
            words.clear()
            tags.clear()

    for number, line in enumerate(read_text_file(path, encoding).splitlines(), start=1):
        # Tab-separated files may hold words that are or contain spaces (a full-width space in
        # Japanese text); other files separate columns by any whitespace.
        fields = line.split("\t") if "\t" in line and line.strip() else line.split()
        if not fields or fields[0] == "-DOCSTART-":
            end_sentence()
        elif len(fields) < 2:
            raise InputError(
                f"{path}: line {number} has one column ({line.strip()!r}); CoNLL lines hold a word "
                "and its tag separated by whitespace, with a blank line between sentences"
            )
        else:
            words.append(fields[0])
            tags.append(fields[-1])
    end_sentence()
    if not data.words:
        raise InputError(f"{path}: no tagged words found")
    return data


def split(data, fraction: float, seed: int):
    """(train, held-out) with `fraction` of the rows held out, chosen by a seeded shuffle."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(data)).tolist()
    held = max(1, round(len(data) * fraction))
    if held >= len(data):
        raise InputError(f"{data.source}: {len(data)} rows are too few to hold {fraction:.0%} out for evaluation")
    return data.subset(sorted(order[held:])), data.subset(sorted(order[:held]))


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) spans of a BIO (IOB1 or IOB2) tag sequence; `end` is exclusive.

    As conlleval: an I- tag that does not continue an entity of its type starts a new one.
    """
    spans: list[tuple[str, int, int]] = []
    kind, start = None, 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, name = tag.partition("-") if "-" in tag else (tag, "", "")
        begins = prefix in ("B", "S") or (prefix in ("I", "E") and name != kind)
        if kind is not None and (prefix not in ("I", "E") or begins):
            spans.append((kind, start, i))
            kind = None
        if prefix in ("B", "I", "S", "E") and name and (begins or kind is None):
            kind, start = name, i
    return spans
