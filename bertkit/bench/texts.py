"""The texts a bench run embeds: yours (`--texts-file`), or the built-in real-text mix.

The mix is real text that nobody on this project wrote, read (deterministically, and cached) from
files a Debian machine with Django installed has, nothing downloaded: Django's translation
catalogs, the licenses, Debian changelogs, the standard library's comments and strings."""

from __future__ import annotations

import ast
import functools
import gzip
import json
import random
import re
import sysconfig
import tokenize
from pathlib import Path

from bertkit.errors import InputError

LICENSES_DIR = Path("/usr/share/common-licenses")
DOC_DIR = Path("/usr/share/doc")
STDLIB_DIR = Path(sysconfig.get_paths()["stdlib"])
STDLIB_UNICODE_TESTS = (  # standard library tests that are mostly strange strings; missing ones are skipped
    "test/test_unicode.py", "test/test_codecs.py", "test/test_unicodedata.py", "test/test_ucn.py", "test/test_re.py",
    "test/test_str.py", "test/test_codeccallbacks.py", "test/test_email/test_email.py",
)  # fmt: skip

_PO_STRING = re.compile(r'^(?:msgid|msgid_plural|msgstr(?:\[\d+\])?)?\s*"(.*)"\s*$')
_PO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def read_texts(path: Path) -> list[str]:
    """A file's texts, one per line (blank lines skipped), or a JSON list of strings."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("a .json texts file holds one list of strings")
        return [str(t) for t in data]
    return [line for line in raw.splitlines() if line.strip()]


def _read_po(path: Path) -> list[str]:
    """The msgid/msgstr strings of one .po file, multi-line strings joined."""
    strings: list[list[str]] = []
    in_string = False  # a msgid/msgstr line started a string that "..." lines continue
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _PO_STRING.match(line)
        in_string = bool(match) and not line.startswith("#") and (line.startswith("msg") or in_string)
        if in_string:
            if line.startswith("msg"):
                strings.append([])
            strings[-1].append(re.sub(r"\\(.)", lambda m: _PO_ESCAPES.get(m.group(1), m.group(0)), match.group(1)))
    return [s for s in map("".join, strings) if s.strip()]


@functools.cache
def po_files() -> tuple[Path, ...]:
    try:
        import django  # optional: only its catalogs are read
    except ImportError:
        raise InputError(_missing("Django's translation catalogs (pip install django)")) from None
    return tuple(sorted(Path(django.__file__).parent.rglob("locale/*/LC_MESSAGES/*.po")))


@functools.cache
def po_strings_by_language() -> dict[str, list[str]]:
    """language code ("zh_Hans", "ar", ...) -> its msgid/msgstr strings, in file order."""
    by_language: dict[str, list[str]] = {}
    for path in po_files():  # locale/<language>/LC_MESSAGES/*.po
        by_language.setdefault(path.parent.parent.name, []).extend(_read_po(path))
    return by_language


@functools.cache
def po_strings() -> list[str]:
    """Every msgid/msgstr of Django's catalogs, all languages (~130,000 strings)."""
    return [s for language in sorted(po_strings_by_language()) for s in po_strings_by_language()[language]]


@functools.cache
def license_texts() -> list[str]:
    """Whole license files (symlinks once): long documents."""
    if not LICENSES_DIR.is_dir():
        raise InputError(_missing(f"the license texts in {LICENSES_DIR} (Debian's base-files)"))
    paths = sorted({p.resolve() for p in LICENSES_DIR.iterdir() if p.is_file()})
    return [path.read_text(encoding="utf-8", errors="replace") for path in paths]


@functools.cache
def license_paragraphs() -> list[str]:
    """Blank-line separated paragraphs of the license texts."""
    return [p.strip() for text in license_texts() for p in re.split(r"\n\s*\n", text) if p.strip()]


@functools.cache
def changelog_entries(max_files: int = 300, per_file: int = 50) -> list[str]:
    """The first `per_file` entries ("pkg (1.2-3) unstable; ..." up to the " -- Maintainer"
    line) of the first `max_files` Debian changelogs in sorted order."""
    entries = []
    for path in sorted(DOC_DIR.glob("*/changelog*.gz"))[:max_files]:
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        except (OSError, EOFError):
            continue
        entries += [e.strip() for e in re.split(r"\n(?=\S)", text) if e.strip()][:per_file]
    return entries


def _python_strings(path: Path) -> list[str]:
    """Comments and str literals (docstrings included) of one Python source file."""
    found = []
    try:
        with open(path, "rb") as f:
            for token in tokenize.tokenize(f.readline):
                if token.type == tokenize.COMMENT:
                    found.append(token.string.lstrip("#").strip())
                elif token.type == tokenize.STRING:
                    try:
                        value = ast.literal_eval(token.string)
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        continue  # f-strings and the like
                    if isinstance(value, str):
                        found.append(value)
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError, OSError):
        pass
    return [s for s in found if s]


@functools.cache
def stdlib_strings() -> list[str]:
    """Comments, docstrings and string literals of the standard library (~100,000 strings)."""
    files = sorted(STDLIB_DIR.glob("*.py")) + sorted((STDLIB_DIR / "encodings").glob("*.py"))
    files += [STDLIB_DIR / name for name in STDLIB_UNICODE_TESTS if (STDLIB_DIR / name).is_file()]
    return [s for path in files for s in _python_strings(path)]


def realistic_mix(n: int = 10_000, seed: int = 0) -> list[str]:
    """`n` texts with the length mix of a classification / embedding workload:
    40% short UI strings (a few words, many languages), 30% sentences (changelog lines,
    docstring first lines), 20% paragraphs (licenses, changelog entries), 10% long documents
    (2-20k characters, far past 128 tokens)."""
    rng = random.Random(seed)
    short = [s for s in po_strings() if len(s) < 80]
    sentences = [line.strip(" *-") for e in changelog_entries() for line in e.splitlines()[1:]]
    sentences = [s for s in sentences if 40 <= len(s) <= 300 and not s.startswith("-- ")]
    sentences += [s.strip().split("\n\n")[0] for s in stdlib_strings() if 40 <= len(s.strip().split("\n\n")[0]) <= 300]
    paragraphs = [p for p in license_paragraphs() + changelog_entries() if 300 < len(p) <= 2000]
    documents = license_texts()
    if not (short and sentences and paragraphs and documents):
        raise InputError(_missing(f"enough text in Django's catalogs, {LICENSES_DIR} and {DOC_DIR}"))
    texts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.9:
            texts.append(rng.choice(short if r < 0.4 else sentences if r < 0.7 else paragraphs))
        else:
            document = rng.choice(documents)
            start = rng.randrange(max(1, len(document) - 2000))
            texts.append(document[start : start + rng.randrange(2000, 20000)])
    return texts


def _missing(source: str) -> str:
    return f"the built-in text mix reads {source}, not found here; give your own texts with --texts-file"
