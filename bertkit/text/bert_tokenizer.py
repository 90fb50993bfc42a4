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

Long texts are tokenized only as far as needed: a prefix of the text cut where a word ends
(whitespace; a CJK ideograph when the normaliser spaces them out; see `prefix_cut`) has as ids a
prefix of the text's ids.

Character offsets (`encode_offsets`) take a path of their own, so that `encode` stays as it
was: each chunk is normalised keeping where each character came from (`clean_with_offsets`,
`normalize_word_with_offsets`), and its ids and spans are cached per chunk like its ids. The
spans are those of transformers' `BertTokenizerFast` (tests/text/test_offsets.py); the `tfhub`
flavour has none.

Two flavours (`FLAVORS`), for the two tokenizers BERT checkpoints were trained with:
`BertTokenizer` is the `huggingface` one; `TfHubBertTokenizer` (the `tfhub` flavour) matches
TF Hub's preprocessing models (TF Text's `BertTokenizer`) id for id, with the same chunk cache
over its own normaliser and word split (`tfhub_normalization.py`: NFKC case folding, controls
as spaces, no special tokens in text) and WordPiece's limit counted in UTF-8 bytes.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import accumulate, chain
from pathlib import Path

from bertkit.errors import BertkitError, VocabError
from bertkit.text import tfhub_normalization
from bertkit.text.normalization import (
    ASCII_CONTROL_OR_SPACE,
    CJK_RANGES,
    BertNormalizer,
    char_class,
    nfc_with_offsets,
)
from bertkit.text.pretokenization import split_punctuation
from bertkit.text.tfhub_normalization import TfHubNormalizer
from bertkit.text.tokenizer import ChunkCache, ChunkedTokenizer, append_offsets
from bertkit.text.vocab import (
    DEFAULT_SPECIAL_TOKENS,
    FLAVORS,
    TOKENIZER_CONFIG_FILE,
    VOCAB_FILE,
    check_flavor,
    read_settings,
    read_vocab,
)
from bertkit.text.wordpiece import WordPiece

__all__ = ["FLAVORS", "BertTokenizer", "TfHubBertTokenizer", "split_chunks"]

# Characters `str.split()` treats as whitespace that the reference deletes as controls.
_SPLIT_HAZARD = re.compile(r"[\x0b\x0c\x1c-\x1f\x85]")
# The reference's word boundaries in raw text: tab, newline, CR, Zs, U+2028, U+2029.
_WHITESPACE = "\t\n\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_chunks_with_hazards = re.compile(f"[^{_WHITESPACE}]+").findall
# Where a word ends whatever follows, so a long text may be cut there: whitespace; and before a
# CJK ideograph only when the normaliser spaces them out (else "x博" is one word, as in HF).
_WORD_END = re.compile(f"[{_WHITESPACE}]")
_WORD_END_OR_CJK = re.compile(f"[{_WHITESPACE}]|" + char_class(CJK_RANGES))
# An ASCII symbol is a word of its own unless NFC composes it with what follows: "<", "=", ">"
# and U+0338 (a combining overlay, even after controls that cleaning deletes) make "≮", "≠",
# "≯", which are not punctuation. Those are the only compositions starting with an ASCII symbol
# (checked over all code points), so a symbol followed by printable ASCII or \t\n\r is safe.
_ASCII_SYMBOL = re.compile(r"[!-/:-@\[-`{-~](?=[\t\n\r -~])")


# The chunks of `split_chunks` with their places
_split_at_whitespace = re.compile(f"([{_WHITESPACE}]+)").split
_ascii_pieces = re.compile(r"[!-/:-@\[-`{-~]|[^!-/:-@\[-`{-~]+").finditer


def split_chunks(text: str) -> list[str]:
    """The raw whitespace-delimited chunks of a text, split where the reference splits words.

    >>> split_chunks("a b\\x0cc\\u3000d")   # a form feed is deleted by BERT, not a space
    ['a', 'b\\x0cc', 'd']
    """
    return _chunks_with_hazards(text) if _SPLIT_HAZARD.search(text) else text.split()


class BertTokenizer(ChunkedTokenizer):
    """Text -> WordPiece ids, as BERT's original tokenizer (basic tokenizer + WordPiece).

    >>> from bertkit.bundled import default_model_dir
    >>> tok = BertTokenizer.from_directory(default_model_dir())
    >>> tok.encode("This is a spam mail")
    [2023, 2003, 1037, 12403, 2213, 5653]
    >>> tok.encode_batch(["Hello, world!", ""], max_tokens=2)
    [[7592, 1010], []]
    """

    CACHE_SIZE = 200_000  # chunks, and as many words: bounded memory for endless new text

    def __init__(self, vocab: dict[str, int], normalizer: BertNormalizer, special_tokens: dict[str, str]):
        super().__init__(vocab, special_tokens)
        self.normalizer = normalizer
        self.PREFIX_CUT = _WORD_END_OR_CJK if normalizer.cjk_chars else _WORD_END
        self.model = WordPiece(vocab, unk_token=special_tokens["unk_token"])
        self._cache = ChunkCache(self._encode_chunk, self.CACHE_SIZE)
        self._word_cache = ChunkCache(self.model.encode_word, self.CACHE_SIZE)
        self._offset_cache: ChunkCache | None = None  # chunk -> (ids, starts, ends): encode_offsets

    @classmethod
    def from_directory(cls, directory: str | Path, flavor: str | None = None) -> BertTokenizer:
        """Reads `vocab.txt` and, when present, `tokenizer_config.json`. `flavor=None`: the one
        `tokenizer_config.json` names (`"bertkit_flavor"`), else "huggingface"."""
        directory = Path(directory)
        vocab = read_vocab(directory / VOCAB_FILE)
        settings = read_settings(directory / TOKENIZER_CONFIG_FILE)
        _check_special_tokens(vocab, settings.special_tokens, directory / VOCAB_FILE)
        if flavor is None:
            flavor = settings.flavor or "huggingface"
        return cls.from_vocab(
            vocab, settings.lowercase, flavor, settings.special_tokens, settings.strip_accents, settings.cjk_chars
        )

    @classmethod
    def from_vocab(
        cls,
        vocab: dict[str, int],
        lowercase: bool = True,
        flavor: str = "huggingface",
        special_tokens: dict[str, str] | None = None,
        strip_accents: bool | None = None,
        cjk_chars: bool = True,
    ) -> BertTokenizer:
        """A tokenizer of either flavour over a vocabulary in memory (token -> id). The `tfhub`
        flavour has only `lowercase` (TF Text strips accents exactly when it lower-cases and
        always splits CJK ideographs), so it ignores `strip_accents` and `cjk_chars`.

        >>> vocab = {t: i for i, t in enumerate(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "ss", "[", "]", "sep"])}
        >>> BertTokenizer.from_vocab(vocab, flavor="tfhub").encode("ß [SEP]")
        [4, 5, 7, 6]
        >>> BertTokenizer.from_vocab(vocab).encode("ß [SEP]")
        [0, 2]
        """
        check_flavor(flavor)
        special_tokens = {**DEFAULT_SPECIAL_TOKENS, **(special_tokens or {})}
        _check_special_tokens(vocab, special_tokens)
        if flavor == "tfhub":
            return TfHubBertTokenizer(vocab, TfHubNormalizer(lowercase), special_tokens)
        return BertTokenizer(vocab, BertNormalizer(lowercase, strip_accents, cjk_chars), special_tokens)

    def prefix_cut(self, text: str, start: int) -> int | None:
        """A word end of this configuration (`PREFIX_CUT`); or, when all before it is ASCII, an
        ASCII symbol that stays punctuation; never inside a special token written in the text.

        The symbols cut a long run without whitespace (a base64 blob, "a.a.a.") short: punctuation
        is split off whatever the settings, and nothing ASCII before it composes (NFC) or changes
        case with what follows. Something non-ASCII before it could (a capital sigma is final or
        not depending on what follows a "'"). Non-ASCII punctuation is not a cut for that reason.
        """
        while True:
            symbol = _ASCII_SYMBOL.search(text, start)
            if symbol is not None and not text[: symbol.start()].isascii():
                symbol = None
            end = len(text) if symbol is None else symbol.start()
            word_end = self.PREFIX_CUT.search(text, start, end)  # only as far as the symbol: texts are long
            if word_end is not None:
                position = word_end.start()
            elif symbol is not None:
                position = end
            else:
                return None
            if not self.special_splitter.inside_token(text, position):
                return position
            start = position + 1  # the "]" of "[MASK]": try the next one

    def decode_token(self, token_id: int) -> str:
        return self.id_to_token(token_id)

    def continues_word(self, token_id: int) -> bool:
        return self.id_to_token(token_id).startswith("##")

    def encode_chunks(self, text: str) -> list[int]:
        """Ids of a text without special tokens: the ids of its raw chunks, from the cache."""
        return list(chain.from_iterable(map(self._cache.__getitem__, split_chunks(text))))

    def encode_chunks_offsets(self, text: str, start: int, ids: list[int], spans: list[tuple[int, int]]) -> None:
        """`encode_chunks` with each id's span, shifted by `start`; chunk by chunk from a cache."""
        cache = self._offset_cache
        if cache is None:
            cache = self._offset_cache = ChunkCache(self._chunk_offsets, self.CACHE_SIZE)
        parts = _split_at_whitespace(text)  # chunk, whitespace, chunk, ..., chunk ("" at the ends)
        places = list(accumulate(map(len, parts), initial=start))[0::2]
        append_offsets(list(map(cache.__getitem__, parts[0::2])), places, ids, spans)

    def _chunk_offsets(self, chunk: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Ids of one raw chunk (as `_encode_chunk`), and the starts and the ends of their spans in it.

        As transformers' fast tokenizers: a sub-word spans the original characters of its first
        to its last normalised character, so an accent stripped off its end, or a control
        character deleted, is in no span; a whole-word [UNK] spans the word."""
        word_cache, normalizer = self._word_cache, self.normalizer
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        if chunk.isascii() and not ASCII_CONTROL_OR_SPACE.search(chunk):  # the common case: no change of length
            word = chunk.lower() if normalizer.lowercase else chunk
            for match in _ascii_pieces(word):
                piece = match.group()
                piece_ids = word_cache[piece]
                ids += piece_ids
                a, b = match.span()
                self._piece_spans(piece, piece_ids, range(a, b), range(a + 1, b + 1), spans)
            return tuple(ids), tuple(a for a, _ in spans), tuple(b for _, b in spans)
        strip = normalizer.strip_accents
        for word, starts, ends in normalizer.clean_with_offsets(chunk, nfc=not strip):
            normalized = normalizer.normalize_word_with_offsets(word, starts, ends)
            if strip and not word.isascii() and not unicodedata.is_normalized("NFC", word):
                # NFC left out to keep the reference's spans; nearly always the same word
                if normalized[0] != normalizer.normalize_word(unicodedata.normalize("NFC", word)):
                    normalized = normalizer.normalize_word_with_offsets(*nfc_with_offsets(word, starts, ends))
            word, starts, ends = normalized
            position = 0
            for piece in split_punctuation(word):
                piece_ids = word_cache[piece]
                ids += piece_ids
                n = position + len(piece)
                self._piece_spans(piece, piece_ids, starts[position:n], ends[position:n], spans)
                position = n
        return tuple(ids), tuple(a for a, _ in spans), tuple(b for _, b in spans)

    def _piece_spans(self, piece: str, piece_ids, starts, ends, spans: list[tuple[int, int]]) -> None:
        """Appends the span of each WordPiece id of one word whose characters start at `starts`
        and end at `ends`."""
        if len(piece_ids) == 1:  # the whole word: in the vocabulary, or [UNK]
            spans.append((starts[0], ends[len(piece) - 1]))
            return
        position, marker, token = 0, len(self.model.prefix), self._id_to_token
        for k, token_id in enumerate(piece_ids):
            length = len(token[token_id]) - (marker if k else 0)
            spans.append((starts[position], ends[position + length - 1]))
            position += length

    def words(self, text: str) -> list[str]:
        """The normalised, pre-tokenized words WordPiece sees (special tokens left out)."""
        words = []
        for part in self.special_splitter.split(text):
            if isinstance(part, str):
                for word in self.normalizer.clean(part).split():
                    words += split_punctuation(self.normalizer.normalize_word(word))
        return words

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        """Ids of one raw whitespace-free chunk: all stages but the whitespace split."""
        normalizer, word_cache = self.normalizer, self._word_cache
        ids: list[int] = []
        for word in normalizer.clean(chunk).split():  # clean may space out CJK ideographs
            for piece in split_punctuation(normalizer.normalize_word(word)):
                ids += word_cache[piece]
        return tuple(ids)


class TfHubBertTokenizer(BertTokenizer):
    """The `tfhub` flavour: text -> WordPiece ids as TF Hub's BERT preprocessing models give them.

    The same chunk cache and WordPiece as `BertTokenizer` over TF Text's stages: its normaliser
    and word split (`TfHubNormalizer`), no special tokens recognised in the text ("[MASK]" is
    "[", "mask", "]", as in TF Hub), and words over 100 UTF-8 bytes (not characters) as [UNK].

    >>> from bertkit.bundled import default_model_dir
    >>> tok = BertTokenizer.from_directory(default_model_dir(), flavor="tfhub")
    >>> tok.flavor, tok.encode("Straße，naïve")
    ('tfhub', [2358, 8180, 3366, 1010, 15743])
    """

    flavor = "tfhub"
    PREFIX_CUT = tfhub_normalization.PREFIX_CUT
    prefix_cut = ChunkedTokenizer.prefix_cut  # the first PREFIX_CUT: no special tokens to step over

    def __init__(self, vocab: dict[str, int], normalizer: TfHubNormalizer, special_tokens: dict[str, str]):
        ChunkedTokenizer.__init__(self, vocab, special_tokens)
        self.normalizer = normalizer
        self.model = WordPiece(vocab, unk_token=special_tokens["unk_token"], max_bytes_per_word=100)
        self._cache = ChunkCache(self._encode_chunk, self.CACHE_SIZE)
        self._word_cache = ChunkCache(self.model.encode_word, self.CACHE_SIZE)

    def encode_chunks(self, text: str) -> list[int]:
        return list(chain.from_iterable(map(self._cache.__getitem__, self.normalizer.split_chunks(text))))

    def _encode_text(self, text: str) -> list[int]:
        return self.encode_chunks(text)  # "[SEP]" written in a text is text

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Not for this flavour: NFKC case folding moves characters too freely to follow cheaply."""
        raise BertkitError(
            "character offsets are for the huggingface flavour of WordPiece (and byte-level BPE); "
            "this tokenizer is the tfhub flavour: load it with flavor='huggingface' for offsets"
        )

    def words(self, text: str) -> list[str]:
        return self.normalizer.words(text)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        word_cache = self._word_cache
        ids: list[int] = []
        for word in self.normalizer.words(chunk):
            ids += word_cache[word]
        return tuple(ids)


def _check_special_tokens(vocab: dict[str, int], special_tokens: dict[str, str], path: Path | None = None) -> None:
    for role in ("unk_token", "cls_token", "sep_token", "pad_token"):
        token = special_tokens[role]
        if token not in vocab:
            where = "" if path is None else f"{path}: "
            raise VocabError(f"{where}the vocabulary has no {role} {token!r}")
