"""bertkit/text/byte_level.py: the byte <-> symbol map and GPT-2's pre-tokenizer.

Parity with the reference on real text and on every code point: tests/parity/test_bpe_parity.py.
"""

import doctest

from bertkit.text import byte_level
from bertkit.text.byte_level import BYTE_TO_SYMBOL, ByteLevelPreTokenizer, from_symbols, to_symbols


def test_docstring_examples():
    assert doctest.testmod(byte_level).failed == 0


def test_byte_symbols_are_reversible_and_printable():
    assert len(set(BYTE_TO_SYMBOL.values())) == 256
    assert all(s.isprintable() and not s.isspace() for s in BYTE_TO_SYMBOL.values())
    assert to_symbols(" \n") == "ĠĊ"
    for text in ["café 😀", "\x00\x7f\xa0", "日本"]:
        assert from_symbols(to_symbols(text)) == text
    assert from_symbols(to_symbols("a\ud800b")) == "a\ufffdb"  # a lone surrogate


def test_pieces():
    split = ByteLevelPreTokenizer().split
    assert split("I'm here, they'll see 3.14!") == [
        "I",
        "'m",
        " here",
        ",",
        " they",
        "'ll",
        " see",
        " 3",
        ".",
        "14",
        "!",
    ]
    assert split("a   b\n\n c ") == ["a", "  ", " b", "\n\n", " c", " "]
    assert split("x\u3000y \u00a0z") == ["x", "\u3000", "y", " ", "\u00a0", "z"]  # \s is Unicode
    assert split("\x1c\x1d") == ["\x1c\x1d"]  # information separators are not whitespace here
    assert split("naïve 日本語 ٣٤") == ["naïve", " 日本語", " ٣٤"]


def test_words_never_cut_a_piece():
    pre = ByteLevelPreTokenizer()
    text = "  Hello,  world!\n\tIt's   3 o'clock  \n"
    assert [p for w in pre.words(text) for p in pre.pieces(w)] == pre.pieces(text)


def test_add_prefix_space():
    pre = ByteLevelPreTokenizer(add_prefix_space=True)
    assert pre.split("Hello") == [" Hello"] and pre.split(" Hello") == [" Hello"] and pre.split("") == []
