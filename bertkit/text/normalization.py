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
from collections.abc import Sequence

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
ASCII_CONTROL_OR_SPACE = re.compile(r"[\x00-\x1f\x7f]")
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


_ascii_words = re.compile(r"[^ ]+").finditer


@functools.cache
def _words():
    """Words of cleaned text: what `str.split()` splits at is a space, U+2028 or U+2029 by then."""
    return re.compile("[^ \u2028\u2029]+").finditer


@functools.cache
def _words_and_cjk():
    """`_words`, with each CJK ideograph a word of its own (what `space_cjk` does)."""
    cjk = char_class(CJK_RANGES)
    return re.compile(f"{cjk}|[^ \u2028\u2029{cjk[1:-1]}]+").finditer


def nfc_with_offsets(word: str, starts: Sequence[int], ends: Sequence[int]) -> tuple[str, Sequence[int], Sequence[int]]:
    """NFC of `word`, each character with the span of all it was composed from: canonical
    decomposition character by character, canonical reordering, then canonical composition."""
    combining = unicodedata.combining
    chars = [(d, a, b) for c, a, b in zip(word, starts, ends) for d in unicodedata.normalize("NFD", c)]
    i = 0
    while i < len(chars):  # reorder each run of non-starters by combining class (a stable sort)
        if combining(chars[i][0]) == 0:
            i += 1
            continue
        j = i
        while j < len(chars) and combining(chars[j][0]) != 0:
            j += 1
        chars[i:j] = sorted(chars[i:j], key=lambda item: combining(item[0]))
        i = j
    out: list[list] = []
    starter = None
    last_class = 0
    for c, a, b in chars:
        klass = combining(c)
        if starter is not None and (last_class == 0 or last_class < klass):
            composed = unicodedata.normalize("NFC", out[starter][0] + c)
            if len(composed) == 1:  # not blocked, and a primary composite
                out[starter] = [composed, out[starter][1], max(out[starter][2], b)]
                continue
        if klass == 0:
            starter = len(out)
        last_class = klass
        out.append([c, a, b])
    composed_word = "".join(c for c, _, _ in out)
    if composed_word != unicodedata.normalize("NFC", word):  # not expected; never a wrong id
        composed_word = unicodedata.normalize("NFC", word)
        return composed_word, [starts[0]] * len(composed_word), [ends[-1]] * len(composed_word)
    return composed_word, [a for _, a, _ in out], [b for _, _, b in out]


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
            if ASCII_CONTROL_OR_SPACE.search(text):
                text = ASCII_CONTROL.sub("", text).translate(_TAB_NEWLINE_CR_TO_SPACE)
            return text
        classes = char_classes()
        text = classes.whitespace.sub(" ", classes.removed.sub("", text))
        if self.cjk_chars:
            text = classes.cjk.sub(r" \1 ", text)
        return unicodedata.normalize("NFC", text)

    def clean_with_offsets(self, chunk: str, nfc: bool = True) -> list[tuple[str, Sequence[int], Sequence[int]]]:
        """Stages 1-3 on one raw whitespace-free chunk, keeping where each character came from:
        the words of `clean(chunk).split()`, each with the start and the end in `chunk` of each
        of its characters. A character NFC composes spans its parts; `nfc=False` leaves NFC out
        (accent stripping undoes it, and transformers' fast tokenizers never compose: a stripped
        accent then belongs to no token, as there).

        >>> BertNormalizer().clean_with_offsets("a\\x00b\\u4e2d")
        [('ab', [0, 2], [1, 3]), ('中', [3], [4])]
        """
        n = len(chunk)
        starts: Sequence[int] = range(n)
        if chunk.isascii():
            if ASCII_CONTROL_OR_SPACE.search(chunk):
                starts = [i for i, c in enumerate(chunk) if not ASCII_CONTROL.match(c)]
                chunk = "".join(chunk[i] for i in starts).translate(_TAB_NEWLINE_CR_TO_SPACE)
            pattern = _ascii_words
        else:
            classes = char_classes()
            if classes.removed.search(chunk) or classes.whitespace.search(chunk):
                starts = [i for i, c in enumerate(chunk) if not classes.removed.match(c)]
                chunk = classes.whitespace.sub(" ", "".join(chunk[i] for i in starts))
            pattern = _words_and_cjk() if self.cjk_chars else _words()
        ends = range(1, n + 1) if isinstance(starts, range) else [i + 1 for i in starts]
        words = []
        for match in pattern(chunk):
            a, b = match.span()
            word, word_starts, word_ends = match.group(), starts[a:b], ends[a:b]
            if nfc and not word.isascii() and not unicodedata.is_normalized("NFC", word):
                word, word_starts, word_ends = nfc_with_offsets(word, word_starts, word_ends)
            words.append((word, word_starts, word_ends))
        return words

    def normalize_word_with_offsets(
        self, word: str, starts: Sequence[int], ends: Sequence[int]
    ) -> tuple[str, Sequence[int], Sequence[int]]:
        """`normalize_word`, keeping each character's start and end: a character lower-casing or
        NFD expands shares the span of the one it came from; stripped accents are gone."""
        if self.lowercase:
            lowered = word.lower()
            if len(lowered) != len(word):  # "İ" -> "i̇": expand spans as each character expands
                lengths = [len(c.lower()) for c in word]
                starts = [a for a, k in zip(starts, lengths) for _ in range(k)]
                ends = [b for b, k in zip(ends, lengths) for _ in range(k)]
            word = lowered
        if self.strip_accents and not word.isascii():
            marks = char_classes().marks
            expected = marks.sub("", unicodedata.normalize("NFD", word))
            if expected != word:
                kept = [
                    (d, a, b)
                    for c, a, b in zip(word, starts, ends)
                    for d in (c if c.isascii() else unicodedata.normalize("NFD", c))
                    if not marks.match(d)
                ]
                if "".join(d for d, _, _ in kept) == expected:
                    starts, ends = [a for _, a, _ in kept], [b for _, _, b in kept]
                else:  # marks that NFD reorders across other marks: the whole word for each
                    starts, ends = [starts[0]] * len(expected), [ends[-1]] * len(expected)
                word = expected
        return word, starts, ends

    def normalize_word(self, word: str) -> str:
        """Stage 4 on one whitespace-free word: lower-case, then strip accents."""
        if self.lowercase:
            word = word.lower()
        if self.strip_accents and not word.isascii():
            word = char_classes().marks.sub("", unicodedata.normalize("NFD", word))
        return word
