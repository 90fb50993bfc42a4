"""BERT's pre-tokenizer: special tokens kept whole, then words, then punctuation split off.

Three splits, in the order the reference applies them:

- `SpecialTokenSplitter`: "[MASK]", "[SEP]", ... written in the text are kept as one token each,
  matched exactly (case-sensitive, anywhere, even inside a word), before any normalisation;
  this is how HuggingFace's tokenizers treat them and what a fill-mask prompt relies on.
- whitespace: `str.split()` on the cleaned text (see `BertNormalizer.clean`);
- punctuation: every ASCII symbol and every character of Unicode category P becomes a word of
  its own ("don't" -> "don", "'", "t").
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bertkit.text.normalization import char_class, char_classes
from bertkit.text.unicode_classes import WHITESPACE_RANGES

_WHITE_SPACE = char_class(WHITESPACE_RANGES)
_WHITE_SPACE_CHARS = "".join(chr(c) for lo, hi in WHITESPACE_RANGES for c in range(lo, hi + 1))

_ASCII_PUNCT = r"!-/:-@\[-`{-~"
_split_ascii_punctuation = re.compile(f"[{_ASCII_PUNCT}]|[^{_ASCII_PUNCT}]+").findall


def split_punctuation(word: str) -> list[str]:
    """'hello,world!' -> ['hello', ',', 'world', '!']"""
    if word.isascii():
        return _split_ascii_punctuation(word)
    return char_classes().split_punctuation(word)


class SpecialTokenSplitter:
    """Splits a text around the special tokens written in it.

    >>> SpecialTokenSplitter({"[MASK]": 103}).split("a [MASK] b[MASK]")
    ['a ', 103, ' b', 103]
    >>> SpecialTokenSplitter({"<mask>": 4}, absorbs_space_before={"<mask>"}).split("a <mask> b")
    ['a', 4, ' b']
    """

    def __init__(self, tokens: dict[str, int], absorbs_space_before: Collection[str] = ()):
        self.ids = dict(tokens)
        # a cheap test before the regex: most texts contain none of the tokens' first characters
        self._first_chars = tuple({token[0] for token in self.ids})
        # Tokens in `absorbs_space_before` ("lstrip" in HuggingFace's terms: RoBERTa's <mask>)
        # also take the whitespace (White_Space property) before them.
        self._absorbs = bool(absorbs_space_before)
        alternatives = "|".join(
            (f"{_WHITE_SPACE}*" if t in absorbs_space_before else "") + re.escape(t)
            for t in sorted(self.ids, key=len, reverse=True)
        )
        self._pattern = re.compile(f"({alternatives})") if self.ids else None
        self._split = self._pattern.split if self.ids else None
        self._longest = max(map(len, self.ids), default=0)

    def split(self, text: str) -> list[str | int]:
        """Alternating plain-text pieces (str, possibly empty ones dropped) and special ids (int)."""
        if self._split is None or not any(c in text for c in self._first_chars):
            return [text]
        parts = self._split(text)
        if len(parts) == 1:
            return parts
        # re.split with one group: [text, token, text, token, ..., text]
        if self._absorbs:
            parts[1::2] = [p.lstrip(_WHITE_SPACE_CHARS) for p in parts[1::2]]
        return [self.ids[p] if i % 2 else p for i, p in enumerate(parts) if p or i % 2]

    def split_with_spans(self, text: str) -> list[tuple[int, int, int | None]]:
        """`split` with places: (start, end, None) for a plain-text piece, (start, end, id) for a
        special token, whose span is the token as written (without the whitespace it absorbs).

        >>> SpecialTokenSplitter({"<mask>": 4}, absorbs_space_before={"<mask>"}).split_with_spans("a <mask> b")
        [(0, 1, None), (2, 8, 4), (8, 10, None)]
        """
        if self._pattern is None or not any(c in text for c in self._first_chars):
            return [(0, len(text), None)] if text else []
        spans: list[tuple[int, int, int | None]] = []
        position = 0
        for match in self._pattern.finditer(text):
            token = match.group()
            if self._absorbs:
                token = token.lstrip(_WHITE_SPACE_CHARS)
            start = match.end() - len(token)
            if match.start() > position:
                spans.append((position, match.start(), None))
            spans.append((start, match.end(), self.ids[token]))
            position = match.end()
        if position < len(text):
            spans.append((position, len(text), None))
        return spans

    def inside_token(self, text: str, position: int) -> bool:
        """Does a special token written in `text` span `position` (start < position < end)?

        >>> SpecialTokenSplitter({"[MASK]": 103}).inside_token("a [MASK]", 7)
        True
        """
        if self._pattern is None:
            return False
        # matches are found left to right, as `split` finds them; none starting before
        # `position` reaches past `position + longest`
        window = text[: position + self._longest]
        if not any(c in window for c in self._first_chars):
            return False
        return any(m.start() < position < m.end() for m in self._pattern.finditer(window))
