"""What the rest of bertkit needs from a tokenizer, whatever its sub-word model.

`BertTokenizer` (WordPiece) and the byte-level BPE tokenizer of RoBERTa both provide this;
the `Preprocessor` composes any of them with a `PackingLayout` (see `loading.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import chain, repeat
from operator import add, itemgetter
from typing import Protocol

from bertkit.text.pretokenization import SpecialTokenSplitter


class Tokenizer(Protocol):
    vocab_size: int
    flavor: str  # whose tokenization it reproduces: "huggingface" or "tfhub" (WordPiece only)

    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens around it."""

    def encode_batch(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """`encode` for each text; with `max_tokens`, exactly the first `max_tokens` ids of each
        (a tokenizer may stop early on long texts as long as the result is the same)."""

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`encode(text)` and each id's (start, end) character span in `text` (end exclusive), as
        transformers' fast tokenizers give `offset_mapping`."""

    def token_id(self, role: str) -> int:
        """The id of a special token by role: "cls_token", "sep_token", "pad_token", ..."""

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary entry of an id."""

    def decode_token(self, token_id: int) -> str:
        """The text a token stands for: a WordPiece entry as it is ("##ing"), a byte-level BPE
        entry decoded to its characters ("Ġparis" -> " paris")."""

    def continues_word(self, token_id: int) -> bool:
        """Whether the token continues the word before it (WordPiece "##x"; a byte-level piece
        without its leading space): what whole-word masking groups."""


_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


def append_offsets(entries: list, places, ids: list[int], spans: list[tuple[int, int]]) -> None:
    """Appends the ids and spans of consecutive chunks: `entries[k]` = (ids, starts, ends) of
    chunk k, its spans relative to the chunk, which starts at `places[k]` in the text. Every
    loop in C (map, chain, repeat): what is left of the cost is making the span tuples."""
    chunk_ids = list(map(_first, entries))
    shifts = list(chain.from_iterable(map(repeat, places, map(len, chunk_ids))))
    ids += chain.from_iterable(chunk_ids)
    spans += zip(
        map(add, chain.from_iterable(map(_second, entries)), shifts),
        map(add, chain.from_iterable(map(_third, entries)), shifts),
    )


class ChunkCache(dict):
    """chunk -> its ids; computes missing entries, forgets everything when full."""

    def __init__(self, encode_chunk: Callable[[str], Sequence[int]], max_size: int):
        super().__init__()
        self._encode_chunk = encode_chunk
        self._max_size = max_size

    def __missing__(self, chunk: str) -> Sequence[int]:
        ids = self._encode_chunk(chunk)
        if len(chunk) <= 100:  # long chunks (URLs, a 1 MB run of letters) hardly ever repeat
            if len(self) >= self._max_size:  # a stream of random text must not grow it forever
                self.clear()
            self[chunk] = ids
        return ids


class ChunkedTokenizer:
    """The `Tokenizer` protocol for a sub-word tokenizer whose text splits into chunks that
    are tokenized independently (and so cached): special tokens first, then `encode_chunks`.

    A subclass gives `encode_chunks(text)` (ids of text without special tokens) and
    `PREFIX_CUT`, a pattern matching where a text may be cut without changing the ids before
    the cut, so that long texts are tokenized only as far as `max_tokens` needs.
    """

    PREFIX_CUT: re.Pattern
    flavor = "huggingface"

    def __init__(self, vocab: dict[str, int], special_tokens: dict[str, str], absorbs_space_before=()):
        self.vocab = vocab
        self.special_tokens = dict(special_tokens)  # role ("cls_token") -> string ("[CLS]", "<s>")
        self.special_splitter = SpecialTokenSplitter(
            {token: vocab[token] for token in self.special_tokens.values() if token in vocab},
            absorbs_space_before,
        )
        self._id_to_token = {i: t for t, i in vocab.items()}

    def encode_chunks(self, text: str) -> list[int]:
        raise NotImplementedError

    def encode_chunks_offsets(self, text: str, start: int, ids: list[int], spans: list[tuple[int, int]]) -> None:
        """Appends the ids of a text without special tokens, and their spans shifted by `start`."""
        raise NotImplementedError

    # -- vocabulary ------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def token_id(self, role: str) -> int:
        """The id of a special token by role: "cls_token", "sep_token", "pad_token", ..."""
        return self.vocab[self.special_tokens[role]]

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def id_to_token(self, token_id: int) -> str:
        return self._id_to_token[token_id]

    # -- encoding --------------------------------------------------------------------------

    def encode(self, text: str, max_tokens: int | None = None) -> list[int]:
        """Ids of `text` without the special tokens packing adds; with `max_tokens`, only the
        first that many."""
        if max_tokens is not None and len(text) > 16 * max_tokens + 256:
            return self._encode_prefix(text, max_tokens)
        ids = self._encode_text(text)
        return ids if max_tokens is None else ids[:max_tokens]

    def encode_batch(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """`encode` for each text."""
        encode = self.encode
        return [encode(text, max_tokens) for text in texts]

    def _encode_text(self, text: str) -> list[int]:
        parts = self.special_splitter.split(text)
        if len(parts) == 1 and parts[0] is text:  # no special tokens in it: the common case
            return self.encode_chunks(text)
        return list(
            chain.from_iterable([part] if isinstance(part, int) else self.encode_chunks(part) for part in parts)
        )

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`encode(text)` and the (start, end) character span in `text` of each id (end
        exclusive), equal to the `offset_mapping` of transformers' fast tokenizers: a special
        token written in the text spans what is written; a sub-word spans the original
        characters it was normalised from. A separate path, so `encode` stays as fast as it was.
        """
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for start, end, special in self.special_splitter.split_with_spans(text):
            if special is None:
                self.encode_chunks_offsets(text[start:end], start, ids, spans)
            else:
                ids.append(special)
                spans.append((start, end))
        return ids, spans

    def prefix_cut(self, text: str, start: int) -> int | None:
        """The first position >= `start` where `text` may be cut without changing the ids before
        the cut (None: nowhere). By default the first match of `PREFIX_CUT`."""
        cut = self.PREFIX_CUT.search(text, start)
        return None if cut is None else cut.start()

    def _encode_prefix(self, text: str, max_tokens: int) -> list[int]:
        # Each token takes at least one character, so the prefix grows until it holds enough.
        length = 8 * max_tokens + 64
        while True:
            cut = self.prefix_cut(text, length)
            if cut is None:
                return self._encode_text(text)[:max_tokens]
            ids = self._encode_text(text[:cut])
            if len(ids) >= max_tokens:
                return ids[:max_tokens]
            length = 2 * cut + 1
