import doctest
import sys
import unicodedata

import bertkit.text.normalization as normalization
from bertkit.text.normalization import BertNormalizer, char_classes


def test_docstring_examples():
    assert doctest.testmod(normalization).failed == 0


def test_clean_removes_controls_nul_and_replacement_char_keeps_tab_newline_as_space():
    n = BertNormalizer()
    assert n.clean("a\x00b\ufffdc\x07d\te\nf\rg\x0bh") == "abcd e f gh"
    assert n.clean("zero\u200bwidth\u00adsoft") == "zerowidthsoft"  # Cf characters
    assert n.clean("lone \ud800 surrogate") == "lone  surrogate"
    assert n.clean("private \ue000 use, unassigned \U000e0080") == "private  use, unassigned "


def test_clean_maps_unicode_spaces_and_keeps_line_separators():
    n = BertNormalizer()
    assert n.clean("a\u00a0b\u3000c\u2009d") == "a b c d"
    # U+2028 is category Zl: kept here, a word boundary for str.split()
    assert n.clean("a\u2028b").split() == ["a", "b"]


def test_cjk_ideographs_are_spaced_but_not_kana_or_hangul():
    n = BertNormalizer()
    assert n.clean("中文abc").split() == ["中", "文", "abc"]
    assert n.clean("ひらがな한국어").split() == ["ひらがな한국어"]
    assert BertNormalizer(cjk_chars=False).clean("中文").split() == ["中文"]


def test_nfc_composes_decomposed_letters():
    assert BertNormalizer(lowercase=False).clean("e\u0301") == "\u00e9"


def test_lowercase_strips_accents_by_default():
    n = BertNormalizer(lowercase=True)
    assert n.normalize_word("CAFÉ") == "cafe"
    assert n.normalize_word("İstanbul") == "istanbul"
    assert n.normalize_word("ΟΔΟΣ") == "οδος"  # final sigma, as Python's str.lower()


def test_strip_accents_flags_follow_huggingface():
    assert BertNormalizer(lowercase=False).normalize_word("Café") == "Café"
    assert BertNormalizer(lowercase=True, strip_accents=False).normalize_word("Café") == "café"
    assert BertNormalizer(lowercase=False, strip_accents=True).normalize_word("Café") == "Cafe"


def test_character_classes_agree_with_unicodedata():
    classes = char_classes()
    for ch in ["\x00", "\x7f", "\u200b", "\ud800", "\U000e0001", "\ue000", "\ufffd"]:
        assert classes.removed.fullmatch(ch), repr(ch)
    for ch in ["\t", "\n", "a", " ", "中"]:
        assert not classes.removed.fullmatch(ch), repr(ch)
    marks = [chr(c) for c in range(0x300, 0x370)]
    assert all(classes.marks.fullmatch(m) for m in marks if unicodedata.category(m) == "Mn")


def test_character_classes_cover_every_code_point_exactly():
    classes = char_classes()
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    categories = list(map(unicodedata.category, everything))

    def kept(predicate) -> str:
        return "".join(ch for ch, cat in zip(everything, categories) if predicate(ord(ch), cat))

    whitespace = lambda cp, cat: cp in (9, 10, 13) or cat == "Zs"  # noqa: E731
    assert classes.whitespace.sub("", everything) == kept(lambda cp, cat: not whitespace(cp, cat))
    removed = lambda cp, cat: not whitespace(cp, cat) and (cat[0] == "C" or cp == 0xFFFD)  # noqa: E731
    assert classes.removed.sub("", everything) == kept(lambda cp, cat: not removed(cp, cat))
    assert classes.marks.sub("", everything) == kept(lambda cp, cat: cat != "Mn")
    ascii_symbols = set(range(33, 48)) | set(range(58, 65)) | set(range(91, 97)) | set(range(123, 127))
    punctuation = lambda cp, cat: cat[0] == "P" or cp in ascii_symbols  # noqa: E731
    assert classes.punctuation.sub("", everything) == kept(lambda cp, cat: not punctuation(cp, cat))
