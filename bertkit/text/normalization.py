"""BERT's normaliser: the first stage of WordPiece tokenization.

What BERT's "basic tokenizer" does to text before splitting it, in the order HuggingFace's
Python `BertTokenizer` (our id-for-id reference) does it:

1. `clean`: drop NUL, U+FFFD and every character of Unicode category C (control, format,
   unassigned, private use, lone surrogates) except tab, newline and carriage return; turn
   whitespace (tab, newline, carriage return, category Zs) into a plain space.
2. `space_cjk`: put spaces around CJK ideographs, so that each one becomes its own word.
3. NFC, so that composed and decomposed spellings of the same letter agree.
4. per word (after the whitespace split of the pre-tokenizer): `normalize_word` lower-cases
   and strips accents (NFD, then drop the nonspacing marks, category Mn). `strip_accents=None`
   means "strip when lower-casing", as HuggingFace's `strip_accents=None`.

Character classes come from Python's own `unicodedata` (Unicode 14.0 on Python 3.11), as in the
reference, and are built once, on the first text that is not ASCII.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# CJK Unified Ideographs and their extensions, and the compatibility ideographs: the blocks the
# original BERT (and HuggingFace) treat as Chinese characters. Hangul and Kana are not in them.
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# ASCII symbols count as punctuation although Unicode files some of them as S* ($, +, <, ^, `).
ASCII_PUNCTUATION_RANGES = ((33, 47), (58, 64), (91, 96), (123, 126))

# The only whitespace characters left after `clean`: tab, newline, carriage return, Zs; and the
# line/paragraph separators U+2028/U+2029 (categories Zl/Zp, so `clean` keeps them), which the
# reference's `str.split()` treats as word boundaries too.
ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ASCII_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f]")
_TAB_NEWLINE_CR_TO_SPACE = str.maketrans("\t\n\r", "   ")


def char_class(ranges) -> str:
    """A regex character class `[...]` matching the inclusive code-point ranges."""
    parts = []
    for lo, hi in ranges:
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
    return "[" + "".join(parts) + "]"


_CATEGORIES = "Cc Cf Cn Co Cs Ll Lm Lo Lt Lu Mc Me Mn Nd Nl No Pc Pd Pe Pf Pi Po Ps Sc Sk Sm So Zl Zp Zs".split()
# one character per category (a..~, none special in a regex class), so that the categories
# of all code points fit in one str
_CATEGORY_LETTER = {category: chr(ord("a") + i) for i, category in enumerate(_CATEGORIES)}


def _runs(letters: str, categories) -> list[tuple[int, int]]:
    """Inclusive code-point ranges whose category is one of `categories`."""
    wanted = "".join(_CATEGORY_LETTER[c] for c in categories)
    return [(m.start(), m.end() - 1) for m in re.finditer(f"[{wanted}]+", letters)]


@functools.cache
def _category_letters() -> str:
    """The category of every code point as one letter each, built by C-level maps (a Python
    loop over 1.1 million code points takes seconds)."""
    return "".join(map(_CATEGORY_LETTER.__getitem__, map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))))


def category_ranges(*categories: str) -> list[tuple[int, int]]:
    """Inclusive code-point ranges of the given general categories ("Mn", "Cc", ...), as
    Python's `unicodedata` assigns them.

    >>> category_ranges("Zl", "Zp")
    [(8232, 8233)]
    """
    return _runs(_category_letters(), categories)


class CharClasses:
    """Compiled regexes for the Unicode categories BERT's basic tokenizer asks about."""

    def __init__(self):
        letters = _category_letters()
        space, control = _CATEGORY_LETTER["Zs"], _CATEGORY_LETTER["Cc"]
        # tab, newline and carriage return are whitespace, not controls; U+FFFD is removed too
        letters = letters[:9] + space * 2 + letters[11:13] + space + letters[14:0xFFFD] + control + letters[0xFFFE:]
        other = [c for c in _CATEGORIES if c[0] == "C"]
        self.removed = re.compile(char_class(_runs(letters, other)) + "+")
        self.whitespace = re.compile(char_class(_runs(letters, ["Zs"])))
        self.marks = re.compile(char_class(_runs(letters, ["Mn"])) + "+")
        self.cjk = re.compile("(" + char_class(CJK_RANGES) + ")")
        punctuation = _runs(letters, [c for c in _CATEGORIES if c[0] == "P"]) + list(ASCII_PUNCTUATION_RANGES)
        punct = char_class(punctuation)
        self.punctuation = re.compile(punct)
        self.split_punctuation = re.compile(f"{punct}|[^{punct[1:-1]}]+").findall


@functools.cache
def char_classes() -> CharClasses:
    """Built on first use (about 0.3 s)."""
    return CharClasses()


class BertNormalizer:
    """Cleaning, CJK spacing, lower-casing and accent stripping, as BERT's basic tokenizer.

    >>> n = BertNormalizer(lowercase=True)
    >>> n.clean("Caf\\u00e9\\x00 \\u4e2d\\u6587")
    'Café  中  文 '
    >>> n.normalize_word("Café")
    'cafe'
    """

    def __init__(self, lowercase: bool = True, strip_accents: bool | None = None, cjk_chars: bool = True):
        self.lowercase = lowercase
        # HuggingFace: strip_accents=None follows lowercase; True/False force it either way.
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.cjk_chars = cjk_chars

    def clean(self, text: str) -> str:
        """Stages 1-3 on a whole text: remove controls, map whitespace, space CJK, NFC."""
        if text.isascii():
            if _ASCII_CONTROL_OR_SPACE.search(text):
                text = ASCII_CONTROL.sub("", text).translate(_TAB_NEWLINE_CR_TO_SPACE)
            return text
        classes = char_classes()
        text = classes.whitespace.sub(" ", classes.removed.sub("", text))
        if self.cjk_chars:
            text = classes.cjk.sub(r" \1 ", text)
        return unicodedata.normalize("NFC", text)

    def normalize_word(self, word: str) -> str:
        """Stage 4 on one whitespace-free word: lower-case, then strip accents."""
        if self.lowercase:
            word = word.lower()
        if self.strip_accents and not word.isascii():
            word = char_classes().marks.sub("", unicodedata.normalize("NFD", word))
        return word
