import doctest

import bertkit.text.pretokenization as pretokenization
from bertkit.text.pretokenization import SpecialTokenSplitter, split_punctuation


def test_docstring_examples():
    assert doctest.testmod(pretokenization).failed == 0


def test_ascii_symbols_are_punctuation_even_when_unicode_says_symbol():
    assert split_punctuation("a$b+c<d^e`f") == ["a", "$", "b", "+", "c", "<", "d", "^", "e", "`", "f"]
    assert split_punctuation("don't...") == ["don", "'", "t", ".", ".", "."]


def test_unicode_punctuation_splits_but_symbols_do_not():
    assert split_punctuation("«bonjour»") == ["«", "bonjour", "»"]
    assert split_punctuation("你好。") == ["你好", "。"]
    assert split_punctuation("a€b©c") == ["a€b©c"]  # Sc and So are not punctuation


def test_special_tokens_match_exactly_and_anywhere():
    splitter = SpecialTokenSplitter({"[MASK]": 103, "[SEP]": 102})
    assert splitter.split("no specials") == ["no specials"]
    assert splitter.split("a[MASK]b [SEP]") == ["a", 103, "b ", 102]
    assert splitter.split("[mask] [Mask]") == ["[mask] [Mask]"]
    assert SpecialTokenSplitter({}).split("[MASK]") == ["[MASK]"]
