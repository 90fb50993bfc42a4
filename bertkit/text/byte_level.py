"""Byte-level pre-tokenization (GPT-2, RoBERTa): text -> pieces -> byte symbols.

Two stages of the byte-level BPE pipeline live here:

1. `ByteLevelPreTokenizer.split` cuts text into pieces with GPT-2's pattern: the English
   contractions `'s 't 're 've 'm 'll 'd`, then runs of letters, of numbers, or of other
   symbols, each taking at most one space in front of it (" world" is one piece: the leading
   space is part of the word), and runs of whitespace. A whitespace run before a word leaves
   its last space to that word: "a  b" -> ["a", " ", " b"].
2. `to_symbols` writes a piece's UTF-8 bytes as printable characters (`BYTE_TO_SYMBOL`), so
   that every string, emoji and control characters included, is spelled with 256 symbols the
   BPE vocabulary always contains, and no text is ever unknown. A space becomes "Ġ", a newline
   "Ċ".

    >>> pre = ByteLevelPreTokenizer()
    >>> pre.split("Hello world, it's 2024!\\n")
    ['Hello', ' world', ',', ' it', "'s", ' 2024', '!', '\\n']
    >>> to_symbols(" café")
    'ĠcafÃ©'
"""

from __future__ import annotations

import re

from bertkit.text.normalization import char_class
from bertkit.text.unicode_classes import LETTER_RANGES, NUMBER_RANGES, WHITESPACE_RANGES


def _bytes_to_symbols() -> dict[int, str]:
    """GPT-2's reversible byte -> character map.

    Bytes that are printable, non-space Latin-1 characters stand for themselves; the other 68
    (controls, space, DEL, NBSP, soft hyphen) are moved, in byte order, to U+0100 onwards.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    moved = (b for b in range(256) if b not in table)
    for n, b in enumerate(moved):
        table[b] = chr(256 + n)
    return dict(sorted(table.items()))


BYTE_TO_SYMBOL: dict[int, str] = _bytes_to_symbols()
SYMBOL_TO_BYTE: dict[str, int] = {s: b for b, s in BYTE_TO_SYMBOL.items()}


def to_symbols(piece: str) -> str:
    """A piece of text as byte-level symbols: one symbol per UTF-8 byte.

    A lone surrogate (not valid Unicode, so not UTF-8) becomes U+FFFD, as a lossy UTF-16 to
    UTF-8 conversion makes it.
    """
    try:
        utf8 = piece.encode("utf-8")
    except UnicodeEncodeError:
        utf8 = piece.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    # latin-1 turns each byte into the character of the same number; translate maps them all
    # to their symbols in one C call
    return utf8.decode("latin-1").translate(BYTE_TO_SYMBOL)


def from_symbols(symbols: str) -> str:
    """The inverse of `to_symbols`; byte sequences that are not UTF-8 decode to U+FFFD."""
    return bytes(SYMBOL_TO_BYTE[s] for s in symbols).decode("utf-8", "replace")


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    """Code-point ranges as the inside of a `re` character class, to combine classes."""
    return char_class(ranges)[1:-1]


LETTER = _char_class(LETTER_RANGES)
NUMBER = _char_class(NUMBER_RANGES)
WHITESPACE = _char_class(WHITESPACE_RANGES)

# GPT-2's pattern, with \p{L}, \p{N}, \s spelled out (see unicode_classes.py for why).
# `\s+(?!\S)` takes a whitespace run except its last character when a word follows, so that
# the word keeps its leading space.
GPT2_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d"
    rf"| ?[{LETTER}]+"
    rf"| ?[{NUMBER}]+"
    rf"| ?[^{WHITESPACE}{LETTER}{NUMBER}]+"
    rf"|[{WHITESPACE}]+(?![^{WHITESPACE}])"
    rf"|[{WHITESPACE}]+"
)


# GPT-2's pieces never cross whitespace, except for the one space a piece may take in front:
# so text is first cut into words (a run of non-whitespace with that space, or a whitespace run
# under the same rule as above), and each word into pieces on its own. This pattern's classes
# are small; GPT2_PATTERN's large ones make `re` about 10x slower, so the tokenizer runs
# GPT2_PATTERN only once per distinct word and caches the result.
WORD_PATTERN = rf" ?[^{WHITESPACE}]+|[{WHITESPACE}]+(?![^{WHITESPACE}])|[{WHITESPACE}]+"


class ByteLevelPreTokenizer:
    """Splits text into the pieces that byte-level BPE encodes one at a time.

    add_prefix_space: put a space in front of text that does not start with one, so that the
    first word is spelled like every other (" Hello"). RoBERTa was trained without it (False).

        >>> ByteLevelPreTokenizer().words("Hi  you're\\n\\nhere")
        ['Hi', ' ', " you're", '\\n', '\\n', 'here']
        >>> ByteLevelPreTokenizer().pieces(" you're")
        [' you', "'re"]
    """

    def __init__(self, add_prefix_space: bool = False):
        self.add_prefix_space = add_prefix_space
        self._words = re.compile(WORD_PATTERN).findall
        self.pieces = re.compile(GPT2_PATTERN).findall
        self.piece_matches = re.compile(GPT2_PATTERN).finditer  # `pieces` with places

    def words(self, text: str) -> list[str]:
        """Text cut where GPT-2's pieces can never straddle the cut."""
        if self.add_prefix_space and text and not text.startswith(" "):
            text = " " + text
        return self._words(text)

    def split(self, text: str) -> list[str]:
        """Text cut into GPT-2's pieces."""
        return [piece for word in self.words(text) for piece in self.pieces(word)]
