"""The input of a bulk embedding run: a text, JSON-lines or CSV file, read one record at a time.

- txt: one text per line (split at "\\n" only, "\\r\\n" accepted), id = the 1-based line number;
- jsonl: one JSON object per line, its `text_column` field ("text") embedded, its `id_column`
  field ("id") the id when present, else the line number;
- csv / tsv: a header row, then one record per row (quoted fields may span lines); the text
  column is `text_column`, else "text", else the only column; the id column is `id_column`,
  else "id" when the header has one, else the line the record starts on.

A record with nothing to embed is not an error: `parse` gives the reason ("empty line", "bad
JSON", "no text field", ...) and the run lists it in its index and counts it. What makes the
whole file unreadable (no such file, a CSV without the named column, a CSV line that is not
UTF-8) is an InputError.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> _ = path.write_text('{"id": "a", "text": "hello"}\\n\\n{"text": 3}\\n{oops\\n')
    >>> reading = InputFile(path)
    >>> [reading.parse(record) for record in reading.records()]
    [(1, 'a', 'hello'), (2, 'empty line'), (3, 'text not a string'), (4, 'bad JSON')]
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

from bertkit.errors import InputError

FORMATS = ("txt", "jsonl", "csv", "tsv")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}  # anything else: txt
Record = tuple[int, bytes]  # (1-based line it starts on, its bytes: the line, or a CSV row as JSON)


class InputFile:
    """How to read one input file: its format and columns (defaults from its suffix and header)."""

    def __init__(
        self, path: Path, format: str | None = None, text_column: str | None = None, id_column: str | None = None
    ):
        self.path = Path(path)
        if not (self.path.is_file() or self.path.is_fifo() or self.path.is_char_device()):
            raise InputError(f"{self.path}: input file not found")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise InputError(f"{self.path}: the input file is empty, nothing to embed")
        self.format = format or SUFFIXES.get(self.path.suffix.lower(), "txt")
        if self.format not in FORMATS:
            raise InputError(f"unknown input format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.format == "txt" and (text_column or id_column):
            raise InputError("a .txt input is one text per line: --text-column / --id-column are for jsonl and csv")
        self.text_column, self.id_column = text_column or "text", id_column or "id"
        self.columns: tuple[int, int | None] | None = None  # CSV: (text index, id index)
        if self.format in ("csv", "tsv"):
            self.columns = self._csv_columns(text_column, id_column)

    def settings(self) -> dict:
        """What decides the vectors and ids besides the lines themselves (recorded in the manifest)."""
        return {"format": self.format, "text_column": self.text_column, "id_column": self.id_column,
                "csv_columns": self.columns}  # fmt: skip

    def records(self) -> Iterator[Record]:
        """Every record of the file, in order, read lazily."""
        if self.columns is not None:
            yield from self._csv_records()
            return
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, start=1):
                yield number, line[3:] if number == 1 and line.startswith(b"\xef\xbb\xbf") else line

    def parse(self, record: Record) -> tuple:
        """(line, id, text), or (line, reason) for a record with no text."""
        line, raw = record
        if self.columns is not None:
            row = json.loads(raw)
            text_at, id_at = self.columns
            if not any(row):
                return line, "empty line"
            if len(row) <= text_at:
                return line, f"no {self.text_column} column"
            text = row[text_at]
            found = (line, row[id_at] if id_at is not None and id_at < len(row) else line, text)
            return found if text.strip() else (line, "empty text")
        try:
            text = raw.decode("utf-8").rstrip("\n").removesuffix("\r")
        except UnicodeDecodeError:
            return line, "not UTF-8"
        if not text.strip():
            return line, "empty line"
        if self.format == "txt":
            return line, line, text
        try:
            value = json.loads(text)
        except ValueError:
            return line, "bad JSON"
        if not isinstance(value, dict):
            return line, "not a JSON object"
        if self.text_column not in value:
            return line, f"no {self.text_column} field"
        text = value[self.text_column]
        if not isinstance(text, str):
            return line, f"{self.text_column} not a string"
        if not text.strip():
            return line, "empty text"
        return line, value.get(self.id_column, line), text

    def _lines(self) -> Iterator[str]:
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    raise InputError(f"{self.path}: line {number} is not UTF-8 text") from None

    def _reader(self, lines: Iterator[str]):
        return csv.reader(lines, delimiter="\t" if self.format == "tsv" else ",")

    def _csv_columns(self, text_column: str | None, id_column: str | None) -> tuple[int, int | None]:
        if not self.path.is_file():
            raise InputError(f"{self.path}: CSV input is read from its header first, so it must be a regular file")
        header = next(self._reader(self._lines()), None)
        if header is None:
            raise InputError(f"{self.path}: the input file is empty, nothing to embed")
        names = ", ".join(header)
        if text_column is None and "text" not in header and len(header) != 1:
            raise InputError(f"{self.path}: no 'text' column; name the column to embed with --text-column ({names})")
        text_column = text_column or ("text" if "text" in header else header[0])
        for wanted in (text_column, id_column):
            if wanted is not None and wanted not in header:
                raise InputError(f"{self.path}: no column {wanted!r} in the header ({names})")
        id_column = id_column or ("id" if "id" in header else None)
        self.text_column, self.id_column = text_column, id_column
        return header.index(text_column), None if id_column is None else header.index(id_column)

    def _csv_records(self) -> Iterator[Record]:
        reader = self._reader(self._lines())
        try:
            next(reader)  # the header
            while True:
                start = reader.line_num + 1
                row = next(reader, None)
                if row is None:
                    return
                yield start, json.dumps(row).encode() + b"\n"
        except csv.Error as e:
            raise InputError(f"{self.path}: line {reader.line_num}: not CSV ({e})") from None


def count_lines(path: Path) -> int | None:
    """Lines of a regular file by a byte scan (about 1 GB/s); None for a pipe."""
    if not path.is_file():
        return None
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")
