"""What the rest of bertkit needs from a tokenizer, whatever its sub-word model.

`BertTokenizer` (WordPiece) and the byte-level BPE tokenizer of RoBERTa both provide this;
the `Preprocessor` composes any of them with a `PackingLayout` (see `loading.py`).
"""

from __future__ import annotations

from typing import Protocol, Sequence


class Tokenizer(Protocol):
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens around it."""

    def encode_batch(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """`encode` for each text; with `max_tokens`, exactly the first `max_tokens` ids of each
        (a tokenizer may stop early on long texts as long as the result is the same)."""

    def token_id(self, role: str) -> int:
        """The id of a special token by role: "cls_token", "sep_token", "pad_token", ..."""

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary entry of an id."""
