import doctest

import bertkit.text.wordpiece as wordpiece
from bertkit.text.wordpiece import WordPiece

VOCAB = {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4, "##a": 5, "aff": 6, "##ff": 7}


def test_docstring_examples():
    assert doctest.testmod(wordpiece).failed == 0


def test_greedy_longest_match_first():
    wp = WordPiece(VOCAB)
    assert wp.encode_word("affable") == (6, 3)  # "aff" beats "a"
    assert wp.encode_word("aaa") == (4, 5, 5)


def test_a_word_with_an_unknown_part_is_one_unk():
    assert WordPiece(VOCAB).encode_word("unx") == (0,)


def test_words_over_100_characters_are_unk_and_100_is_not():
    wp = WordPiece(VOCAB)
    assert wp.encode_word("a" * 100) == (4,) + (5,) * 99
    assert wp.encode_word("a" * 101) == (0,)
    assert WordPiece(VOCAB, max_chars_per_word=3).encode_word("aaaa") == (0,)


def test_custom_unk_and_prefix():
    wp = WordPiece({"<unk>": 9, "x": 1, "@@y": 2}, unk_token="<unk>", continuation_prefix="@@")
    assert wp.encode_word("xy") == (1, 2)
    assert wp.encode_word("yx") == (9,)
