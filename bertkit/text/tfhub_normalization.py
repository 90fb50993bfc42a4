"""TF Hub's normaliser and word split: the first stages of the `tfhub` flavour of WordPiece.

TF Hub's BERT preprocessing models (tf-models' exporter, e.g. `en-uncased-preprocess/3`) run
TF Text's `BertTokenizer`, whose basic tokenizer differs from HuggingFace's (the `huggingface`
flavour, `normalization.py`). What it does, as measured against TF Text 2.20 on every code point
and on real text (tests/text/test_tfhub_flavor.py pins each rule):

1. lower-casing (uncased models only) is ICU's NFKC_Casefold: compatibility forms are unfolded
   ("，" -> ",", "ﬁ" -> "fi", "²" -> "2", "…" -> "...", U+00A0 -> " "), letters case-folded
   ("ß" -> "ss", "ς" -> "σ") and default-ignorable code points deleted (U+200B, U+00AD, U+FE0F:
   "ab\\u200bcd" is one word); then NFD and the nonspacing marks (Mn) dropped ("é" -> "e").
   Cased models get no normalisation at all: no NFC, no NFKC, accents kept.
2. every control (Cc) and format (Cf) character becomes a space, so it splits words (HuggingFace
   deletes them and joins the words); U+FFFD, private-use and unassigned characters are kept (and
   so are lone surrogates, which UTF-8 cannot carry to TF Text).
3. words are split on ASCII space only (RE2's `\\s`; the controls are spaces by now): U+2028,
   U+2029, U+1680 and, in cased models, U+00A0 and the other Unicode spaces are word characters.
4. punctuation (Unicode P*, ASCII symbols) and CJK ideographs (the same blocks as BERT's) are
   words of their own; special tokens written in the text ("[SEP]") are not recognised.

TF Text classifies characters by newer Unicode versions than Python 3.11's `unicodedata`
(14.0): its regexes (RE2) by 15.x, its normalisation (ICU) by 16.0. The `_UNICODE_15_*` and
`_UNICODE_16_FOLDS` tables are those differences (210 code points, none of them in the corpora;
all agree with TF Text on Python 3.11, the code point alone and between letters).

Everything here is local to a chunk of raw text between ASCII whitespace or controls:
case folding has no context (NFKC_Casefold maps "Σ" to "σ" wherever it stands), and a space or
control is a starter that NFKC never composes with a neighbour; so `BertTokenizer` may tokenize
such chunks one by one and cache them, and cut long texts there (`PREFIX_CUT`).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from bertkit.text.normalization import ASCII_PUNCTUATION_RANGES, CJK_RANGES, category_ranges, char_class

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt), which NFKC_Casefold deletes.
DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip

# Characters Unicode 15.0 added to the classes TF Text's regexes use (Python 3.11 calls them Cn).
_UNICODE_15_MARKS = (
    (0x0ECE, 0x0ECE), (0x10EFD, 0x10EFF), (0x11241, 0x11241), (0x11F00, 0x11F01), (0x11F36, 0x11F3A),
    (0x11F40, 0x11F40), (0x11F42, 0x11F42), (0x13440, 0x13440), (0x13447, 0x13455), (0x1E08F, 0x1E08F),
    (0x1E4EC, 0x1E4EF),
)  # fmt: skip
_UNICODE_15_PUNCTUATION = ((0x11B00, 0x11B09), (0x11F43, 0x11F4F))
_UNICODE_15_FORMAT = ((0x13439, 0x1343F),)

# NFD(NFKC_Casefold) of the letters Unicode 15 and 16 added with a case folding, a compatibility
# or a canonical decomposition (CaseFolding.txt, UnicodeData.txt 16.0), which ICU applies.
_CYRILLIC_MODIFIERS = "абвгдежзиклмопрстуфхцчшыэюꚉәіјөүӏабвгдежзиклопсуфхцчшъыґіѕџҫꙑұ"  # U+1E030..U+1E06D
_UNICODE_16_FOLDS = {
    0x1C89: "\u1c8a", 0xA7CB: "\u0264", 0xA7CC: "\ua7cd", 0xA7DA: "\ua7db", 0xA7DC: "\u019b",
    0x105C9: "\U000105d2\u0307", 0x105E4: "\U000105da\u0307",
    0x11383: "\U00011382\U000113c9", 0x11385: "\U00011384\U000113bb", 0x1138E: "\U0001138b\U000113c2",
    0x11391: "\U00011390\U000113c9", 0x113C5: "\U000113c2\U000113c2", 0x113C7: "\U000113c2\U000113b8",
    0x113C8: "\U000113c2\U000113c9",
    0x16121: "\U0001611e\U0001611e", 0x16122: "\U0001611e\U00016129", 0x16123: "\U0001611e\U0001611f",
    0x16124: "\U00016129\U0001611f", 0x16125: "\U0001611e\U00016120", 0x16126: "\U0001611e\U0001611e\U0001611f",
    0x16127: "\U0001611e\U00016129\U0001611f", 0x16128: "\U0001611e\U0001611e\U00016120",
    0x16D68: "\U00016d67\U00016d67", 0x16D69: "\U00016d63\U00016d67", 0x16D6A: "\U00016d63\U00016d67\U00016d67",
    **{0x10D50 + i: chr(0x10D70 + i) for i in range(22)},  # Garay capitals
    **{0x1CCD6 + i: c for i, c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789")},  # outlined A-Z, 0-9
    **{0x1E030 + i: c for i, c in enumerate(_CYRILLIC_MODIFIERS)},
}  # fmt: skip

# Raw text is cut into chunks at ASCII whitespace and the controls `str.split()` also splits at:
# spaces after rule 2 in both cases. `str.split()` does it fastest, but splits at more: the
# characters listed here are word characters for TF Text (before NFKC, in a cased model).
_CHUNK_BREAK = "\t\n\x0b\x0c\r\x1c-\x20\x85"
_chunks_between_breaks = re.compile(f"[^{_CHUNK_BREAK}]+").findall
_NOT_A_BREAK = {
    True: re.compile("[\u1680\u2028\u2029]"),  # NFKC makes the other Unicode spaces " "
    False: re.compile("[\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"),
}

_ASCII_PUNCT = r"!-/:-@\[-`{-~"
_ascii_words = re.compile(f"[{_ASCII_PUNCT}]|[^{_ASCII_PUNCT}\\x00-\\x20\\x7f]+").findall


class _Classes:
    """The regexes of the non-ASCII path, built on first use (about 0.3 s, shared with
    `normalization.char_classes`)."""

    def __init__(self):
        self.ignorable = re.compile(char_class(DEFAULT_IGNORABLE_RANGES) + "+")
        self.marks = re.compile(char_class(category_ranges("Mn") + list(_UNICODE_15_MARKS)) + "+")
        self.newer_letters = re.compile(char_class([(c, c) for c in sorted(_UNICODE_16_FOLDS)]))
        controls = char_class(category_ranges("Cc", "Cf") + list(_UNICODE_15_FORMAT))[1:-1]
        punctuation = category_ranges("Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps") + list(_UNICODE_15_PUNCTUATION)
        delimiters = char_class(punctuation + list(ASCII_PUNCTUATION_RANGES) + list(CJK_RANGES))
        # a delimiter alone, or a run of anything but delimiters, controls and the space
        self.words = re.compile(f"{delimiters}|[^{delimiters[1:-1]}{controls} ]+").findall


@functools.cache
def _classes() -> _Classes:
    return _Classes()


def _fold_letter(match: re.Match) -> str:
    return _UNICODE_16_FOLDS[ord(match.group())]


class TfHubNormalizer:
    """TF Text's basic tokenizer: text -> the words WordPiece sees.

    >>> TfHubNormalizer(lowercase=True).words("Straße，naïve ﬁle\\x00[SEP]")
    ['strasse', ',', 'naive', 'file', '[', 'sep', ']']
    >>> TfHubNormalizer(lowercase=False).words("Straße\\u00a0naïve")
    ['Straße\\xa0naïve']
    """

    def __init__(self, lowercase: bool = True):
        self.lowercase = lowercase
        self._not_a_break = _NOT_A_BREAK[lowercase]

    def normalize(self, text: str) -> str:
        """Rule 1: NFKC_Casefold, NFD, nonspacing marks dropped (uncased); the text as it is (cased)."""
        if not self.lowercase:
            return text
        if text.isascii():
            return text.lower()
        classes = _classes()
        if classes.newer_letters.search(text):
            text = classes.newer_letters.sub(_fold_letter, text)
        text = classes.ignorable.sub("", text)
        # NFKD before case folding (NFKD can make an upper-case letter: "ℌ" -> "H") and after it
        # (case folding can make a compatibility character: "ǅ" -> "ǆ" -> "dž"). NFKD, not NFKC:
        # NFD follows NFKC_Casefold, and NFD(NFKC(x)) is NFKD(x).
        text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
        return classes.marks.sub("", text)

    def words(self, text: str) -> list[str]:
        """Rules 1-4: normalise, then split at spaces, controls, punctuation and CJK ideographs."""
        text = self.normalize(text)
        if text.isascii():
            return _ascii_words(text)
        return _classes().words(text)

    def split_chunks(self, text: str) -> list[str]:
        """The raw text between ASCII whitespace and controls, where TF Text splits words too.

        >>> TfHubNormalizer(lowercase=False).split_chunks("a b\\x0cc\\u00a0d")
        ['a', 'b', 'c\\xa0d']
        """
        return _chunks_between_breaks(text) if self._not_a_break.search(text) else text.split()


# Where a long text may be cut: nothing before these characters changes with what follows them
# (no context in case folding; NFKC composes nothing onto an ASCII character or an ideograph,
# which are starters), and each starts a word of its own whatever follows.
PREFIX_CUT = re.compile(f"[{_CHUNK_BREAK}{_ASCII_PUNCT}]|" + char_class(CJK_RANGES))
