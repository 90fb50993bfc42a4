"""BERT's tokenizer: special tokens -> normaliser -> pre-tokenizer -> WordPiece, with a cache.

The stages live in their own modules (`normalization`, `pretokenization`, `wordpiece`); this
file composes them and makes the composition fast. Ids match HuggingFace's Python
`BertTokenizer` id for id (tests/parity/test_wordpiece_parity.py).

Why it is fast: every stage of BERT's basic tokenizer is local to a whitespace-delimited chunk
of the raw text (cleaning and CJK spacing work per character; NFC never composes across a
space; lower-casing and accent stripping work per word). So the ids of a text are the
concatenation of the ids of its raw chunks, and real text repeats its chunks ("the", "of",
"is,"): each distinct chunk is tokenized once and then looked up in a dict. The split itself
is `str.split()`, in C, which breaks on exactly the reference's whitespace except for five
control characters (\\x0b, \\x0c, \\x1c-\\x1f, \\x85) that the reference deletes instead; texts containing those take a regex.

Long texts are tokenized only as far as needed: a prefix of the text cut at whitespace or
before a CJK ideograph (where no stage looks across) has as ids a prefix of the text's ids.
"""

from __future__ import annotations

import re
from itertools import chain
from pathlib import Path
from typing import Sequence

from bertkit.errors import VocabError
from bertkit.text.normalization import CJK_RANGES, BertNormalizer, char_class
from bertkit.text.pretokenization import SpecialTokenSplitter, split_punctuation
from bertkit.text.vocab import TOKENIZER_CONFIG_FILE, VOCAB_FILE, read_settings, read_vocab
from bertkit.text.wordpiece import WordPiece

# Characters `str.split()` treats as whitespace that the reference deletes as controls.
_SPLIT_HAZARD = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")
# The reference's word boundaries in raw text: tab, newline, CR, Zs, U+2028, U+2029.
_WHITESPACE = "\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_chunks_with_hazards = re.compile(f"[^{_WHITESPACE}]+").findall
# Where a long text may be cut without changing the ids before the cut.
_CUT = re.compile(f"[{_WHITESPACE}]|" + char_class(CJK_RANGES))


class _ChunkCache(dict):
    """chunk -> tuple of ids; computes missing entries, forgets everything when full."""

    def __init__(self, encode_chunk, max_size: int):
        super().__init__()
        self._encode_chunk = encode_chunk
        self._max_size = max_size

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        ids = self._encode_chunk(chunk)
        if len(chunk) <= 100:  # long chunks (URLs, a 1 MB run of letters) hardly ever repeat
            if len(self) >= self._max_size:  # a stream of random text must not grow it forever
                self.clear()
            self[chunk] = ids
        return ids


class BertTokenizer:
    """Text -> WordPiece ids, as BERT's original tokenizer (basic tokenizer + WordPiece).

    >>> from bertkit.bundled import default_model_dir
    >>> tok = BertTokenizer.from_directory(default_model_dir())
    >>> tok.encode("This is a spam mail")
    [2023, 2003, 1037, 12403, 2213, 5653]
    >>> tok.encode_batch(["Hello, world!", ""], max_tokens=2)
    [[7592, 1010], []]
    """

    CACHE_SIZE = 500_000  # chunks

    def __init__(self, vocab: dict[str, int], normalizer: BertNormalizer, special_tokens: dict[str, str]):
        self.vocab = vocab
        self.normalizer = normalizer
        self.special_tokens = dict(special_tokens)  # role ("cls_token") -> string ("[CLS]")
        self.model = WordPiece(vocab, unk_token=special_tokens["unk_token"])
        self.special_splitter = SpecialTokenSplitter(
            {token: vocab[token] for token in self.special_tokens.values() if token in vocab}
        )
        self._id_to_token = {i: t for t, i in vocab.items()}
        self._cache = _ChunkCache(self._encode_chunk, self.CACHE_SIZE)
        self._word_cache: dict[str, tuple[int, ...]] = {}

    @classmethod
    def from_directory(cls, directory: str | Path) -> BertTokenizer:
        """Reads `vocab.txt` and, when present, `tokenizer_config.json`."""
        directory = Path(directory)
        vocab = read_vocab(directory / VOCAB_FILE)
        settings = read_settings(directory / TOKENIZER_CONFIG_FILE)
        for role in ("unk_token", "cls_token", "sep_token", "pad_token"):
            token = settings.special_tokens[role]
            if token not in vocab:
                raise VocabError(f"{directory / VOCAB_FILE}: the vocabulary has no {role} {token!r}")
        normalizer = BertNormalizer(settings.lowercase, settings.strip_accents, settings.cjk_chars)
        return cls(vocab, normalizer, settings.special_tokens)

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
        """Ids of `text` without [CLS]/[SEP]; with `max_tokens`, only the first that many."""
        if max_tokens is not None and len(text) > 16 * max_tokens + 256:
            return self._encode_prefix(text, max_tokens)
        ids = self._encode_text(text)
        return ids if max_tokens is None else ids[:max_tokens]

    def encode_batch(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        """`encode` for each text."""
        encode = self.encode
        return [encode(text, max_tokens) for text in texts]

    def words(self, text: str) -> list[str]:
        """The normalised, pre-tokenized words WordPiece sees (special tokens left out)."""
        words = []
        for part in self.special_splitter.split(text):
            if isinstance(part, str):
                for word in self.normalizer.clean(part).split():
                    words += split_punctuation(self.normalizer.normalize_word(word))
        return words

    def _encode_text(self, text: str) -> list[int]:
        parts = self.special_splitter.split(text)
        if len(parts) == 1 and parts[0] is text:  # no special tokens in it: the common case
            return self._encode_plain(text)
        ids: list[int] = []
        for part in parts:
            if isinstance(part, int):
                ids.append(part)
            else:
                ids += self._encode_plain(part)
        return ids

    def _encode_plain(self, text: str) -> list[int]:
        chunks = _chunks_with_hazards(text) if _SPLIT_HAZARD.search(text) else text.split()
        return list(chain.from_iterable(map(self._cache.__getitem__, chunks)))

    def _encode_prefix(self, text: str, max_tokens: int) -> list[int]:
        # Each token takes at least one character, so the prefix grows until it holds enough.
        length = 8 * max_tokens + 64
        while True:
            cut = _CUT.search(text, length)
            if cut is None:
                return self._encode_text(text)[:max_tokens]
            ids = self._encode_text(text[: cut.start()])
            if len(ids) >= max_tokens:
                return ids[:max_tokens]
            length = 2 * cut.start() + 1

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Ids of one raw whitespace-free chunk: all stages but the whitespace split."""
        normalizer, word_cache, encode_word = self.normalizer, self._word_cache, self.model.encode_word
        ids: list[int] = []
        for word in normalizer.clean(chunk).split():  # clean may space out CJK ideographs
            for piece in split_punctuation(normalizer.normalize_word(word)):
                piece_ids = word_cache.get(piece)
                if piece_ids is None:
                    piece_ids = encode_word(piece)
                    if len(piece) <= 100:
                        if len(word_cache) >= self.CACHE_SIZE:
                            word_cache.clear()
                        word_cache[piece] = piece_ids
                ids += piece_ids
        return tuple(ids)
