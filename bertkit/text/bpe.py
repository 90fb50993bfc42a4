"""Byte-level BPE, RoBERTa's (and GPT-2's) tokenizer: text -> token ids.

The pipeline, stage by stage:

    special tokens   "<s>", "</s>", "<pad>", "<unk>", "<mask>" written in the text are
                     cut out first and become their own ids; "<mask>" also takes the
                     whitespace before it ("... is the <mask>" -> ..., " the", "<mask>")
    pre-tokenizer    GPT-2's pattern cuts the rest into pieces (byte_level.py)
    model            each piece is spelled in byte symbols and merged pair by pair, the
                     pair ranked highest in merges.txt first (Sennrich et al. 2016;
                     Radford et al. 2019), then looked up in vocab.json

Words repeat in real text, so a word's ids are cached after the first time; a long text
is tokenized only as far as `max_tokens` needs. `encode_offsets` adds each token's character
span (a byte of a character spans the whole character; leading and trailing spaces trimmed,
as transformers' `RobertaTokenizerFast` with roberta-base's `trim_offsets=True`), cached by word.

    >>> from bertkit.text.bpe import BytePairEncoding, BpeTokenizer
    >>> vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4,
    ...          "h": 5, "i": 6, "Ġ": 7, "hi": 8, "Ġhi": 9}
    >>> model = BytePairEncoding(vocab, [("h", "i"), ("Ġ", "hi")])
    >>> tokenizer = BpeTokenizer(model)
    >>> tokenizer.encode("hi hi <mask>")
    [8, 9, 4]
"""

from __future__ import annotations

import heapq
import json
import re
from itertools import accumulate, chain
from pathlib import Path

from bertkit.errors import VocabError
from bertkit.text.byte_level import BYTE_TO_SYMBOL, WHITESPACE, ByteLevelPreTokenizer, from_symbols, to_symbols
from bertkit.text.tokenizer import ChunkCache, ChunkedTokenizer, append_offsets

VOCAB_FILE = "vocab.json"
MERGES_FILE = "merges.txt"
TOKENIZER_FILE = "tokenizer.json"  # what transformers 5 writes instead of the two above
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"

# RoBERTa's special tokens: role -> default spelling (roles as in tokenizer_config.json).
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",  # RoBERTa packs <s> A </s></s> B </s>: cls and sep are bos and eos
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}
# The tokens that take the whitespace before them ("lstrip"); RoBERTa's mask does, so that
# "capital of <mask>." asks for " Paris" (a word with its space), as in pretraining.
ABSORBS_SPACE_BEFORE = {"<mask>"}


class BytePairEncoding:
    """The BPE model: byte symbols -> ids, merging adjacent pairs by rank.

    vocab: token (in byte symbols) -> id. merges: pairs, best (lowest rank) first.
    """

    CACHE_SIZE = 500_000  # pieces

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self._cache = ChunkCache(self._encode, self.CACHE_SIZE)  # " the" recurs in " the,", " the." ...

    def encode(self, symbols: str) -> list[int]:
        """Ids of one piece already written in byte symbols (see byte_level.to_symbols)."""
        return self._cache[symbols]

    def _encode(self, symbols: str) -> list[int]:
        # A byte symbol missing from the vocabulary (one trained without the full byte
        # alphabet) is dropped, as the reference does; merged symbols are always present.
        vocab = self.vocab
        return [vocab[token] for token in self.merge(symbols) if token in vocab]

    def merge(self, symbols: str) -> list[str]:
        """Apply the merges: always the best-ranked adjacent pair next, leftmost among equals."""
        if len(symbols) > 24:
            return self._merge_long(symbols)
        # Short pieces (nearly all): rescanning the few pairs beats keeping a heap.
        word = list(symbols)
        rank_of = self.ranks.get
        while len(word) > 1:
            best = None
            for i in range(len(word) - 1):
                rank = rank_of((word[i], word[i + 1]))
                if rank is not None and (best is None or rank < best):
                    best, at = rank, i
            if best is None:
                break
            word[at : at + 2] = [word[at] + word[at + 1]]
        return word

    def _merge_long(self, symbols: str) -> list[str]:
        """`merge` in O(n log n): a heap of candidate pairs over a linked list of symbols, so
        that a 1 MB piece ("xxxx...") does not take quadratic time."""
        ranks = self.ranks
        word: list[str | None] = list(symbols)
        n = len(word)
        following = list(range(1, n + 1))  # index of the next live symbol; n = none
        preceding = list(range(-1, n - 1))  # index of the previous live symbol; -1 = none
        heap = [(rank, i) for i, pair in enumerate(zip(word, word[1:])) if (rank := ranks.get(pair)) is not None]
        heapq.heapify(heap)
        while heap:
            rank, i = heapq.heappop(heap)
            j = following[i]
            # stale entry: one of the two symbols has changed since the pair was pushed
            if word[i] is None or j == n or ranks.get((word[i], word[j])) != rank:
                continue
            word[i] += word[j]
            word[j] = None
            following[i] = following[j]
            if following[j] < n:
                preceding[following[j]] = i
            left, right = preceding[i], following[i]
            if left >= 0 and (r := ranks.get((word[left], word[i]))) is not None:
                heapq.heappush(heap, (r, left))
            if right < n and (r := ranks.get((word[i], word[right]))) is not None:
                heapq.heappush(heap, (r, i))
        return [symbol for symbol in word if symbol is not None]


class BpeTokenizer(ChunkedTokenizer):
    """Text -> ids with byte-level BPE: special tokens, GPT-2 pre-tokenizer, BPE model.

    Special tokens are matched in the text longest first; the ones in `absorbs_space_before`
    also take the whitespace in front of them. The chunks cached are the pre-tokenizer's words.
    """

    CACHE_SIZE = 500_000  # words
    # A cut where a whitespace run starts: no word, piece or special token reaches across it.
    PREFIX_CUT = re.compile(f"(?<![{WHITESPACE}])[{WHITESPACE}]")

    def __init__(
        self,
        model: BytePairEncoding,
        special_tokens: dict[str, str] = SPECIAL_TOKENS,
        add_prefix_space: bool = False,
        absorbs_space_before: set[str] = ABSORBS_SPACE_BEFORE,
    ):
        super().__init__(model.vocab, special_tokens, absorbs_space_before)
        self.model = model
        self.pre_tokenizer = ByteLevelPreTokenizer(add_prefix_space)
        self._cache = ChunkCache(self._encode_word, self.CACHE_SIZE)
        self._offset_cache: ChunkCache | None = None  # word -> (ids, starts, ends): encode_offsets

    @classmethod
    def from_directory(cls, directory: str | Path) -> BpeTokenizer:
        """Reads tokenizer.json, or vocab.json + merges.txt, and tokenizer_config.json.

        tokenizer.json (what transformers 5 writes) says which special tokens take the space
        before them; with vocab.json + merges.txt alone, `<mask>` does, as in roberta-base.
        """
        directory = Path(directory)
        config = _read_tokenizer_config(directory / TOKENIZER_CONFIG_FILE)
        special = {role: _token_text(config.get(role, default)) for role, default in SPECIAL_TOKENS.items()}
        if (directory / TOKENIZER_FILE).is_file():
            vocab, merges, absorbs = read_tokenizer_json(directory / TOKENIZER_FILE)
        else:
            vocab = read_vocab_json(directory / VOCAB_FILE)
            merges = read_merges_txt(directory / MERGES_FILE, vocab)
            absorbs = ABSORBS_SPACE_BEFORE
        for role in ("cls_token", "sep_token", "pad_token"):
            if special[role] not in vocab:
                raise VocabError(f"{directory}: the vocabulary has no {role} {special[role]!r}")
        model = BytePairEncoding(vocab, merges)
        return cls(model, special, bool(config.get("add_prefix_space", False)), absorbs)

    def decode_token(self, token_id: int) -> str:
        return from_symbols(self.id_to_token(token_id))

    def continues_word(self, token_id: int) -> bool:
        return not self.id_to_token(token_id).startswith("Ġ")

    def encode_chunks(self, text: str) -> list[int]:
        return list(chain.from_iterable(map(self._cache.__getitem__, self.pre_tokenizer.words(text))))

    def encode_chunks_offsets(self, text: str, start: int, ids: list[int], spans: list[tuple[int, int]]) -> None:
        """`encode_chunks` with each id's span, shifted by `start`; word by word from a cache."""
        cache = self._offset_cache
        if cache is None:
            cache = self._offset_cache = ChunkCache(self._word_offsets, self.CACHE_SIZE)
        prefixed = self.pre_tokenizer.add_prefix_space and text and not text.startswith(" ")
        if prefixed:
            text, start = " " + text, start - 1  # the added space is in no span (trimmed, or clamped)
        words = self.pre_tokenizer._words(text)  # they cover the text, one after the other
        first = len(spans)
        append_offsets(list(map(cache.__getitem__, words)), accumulate(map(len, words), initial=start), ids, spans)
        if prefixed and len(spans) > first:
            a, b = spans[first]
            spans[first] = (max(a, start + 1), max(b, start + 1))

    def _word_offsets(self, word: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """Ids of one pre-tokenizer word and their spans in it, as transformers' RoBERTa
        tokenizer gives them (`trim_offsets=True`, as roberta-base's tokenizer.json): a token
        spans the characters its bytes come from (each byte of a character the whole
        character), without its leading and trailing spaces ("Ġworld" spans "world"; a token of
        spaces only is empty, at its end)."""
        vocab, space = self.model.vocab, BYTE_TO_SYMBOL[ord(" ")]
        ids: list[int] = []
        spans: list[tuple[int, int]] = []
        for match in self.pre_tokenizer.piece_matches(word):
            piece, base = match.group(), match.start()
            symbols = to_symbols(piece)
            if piece.isascii():
                char_of = range(len(piece))
            else:  # the character each byte comes from
                char_of = [k for k, c in enumerate(piece) for _ in range(len(c.encode("utf-8", "surrogatepass")))]
                if len(char_of) != len(symbols):  # a surrogate pair in the str: one character for all
                    char_of = [0] * len(symbols)
            position = 0
            for token in self.model.merge(symbols):
                n = len(token)
                token_id = vocab.get(token)
                if token_id is not None:  # a byte missing from the vocabulary is dropped, as in encode
                    body = token.strip(space)
                    if body:
                        lead = n - len(token.lstrip(space))
                        first, last = position + lead, position + lead + len(body) - 1
                        spans.append((base + char_of[first], base + char_of[last] + 1))
                    else:
                        end = base + char_of[position + n - 1] + 1
                        spans.append((end, end))
                    ids.append(token_id)
                position += n
        return tuple(ids), tuple(a for a, _ in spans), tuple(b for _, b in spans)

    def _encode_word(self, word: str) -> list[int]:
        encode = self.model.encode
        return [i for piece in self.pre_tokenizer.pieces(word) for i in encode(to_symbols(piece))]


def _token_text(value) -> str:
    # tokenizer_config.json writes a special token as a string or as {"content": ..., ...}
    return value["content"] if isinstance(value, dict) else str(value)


def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise VocabError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise VocabError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise VocabError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:  # a directory, no permission, ...
        raise VocabError(f"{path}: cannot read it ({e.strerror})") from None


def _read_tokenizer_config(path: Path) -> dict:
    if not path.is_file():
        return {}
    config = _read_json(path)
    if not isinstance(config, dict):
        raise VocabError(f"{path}: expected a JSON object")
    return config


def _check_vocab(vocab, path: Path) -> dict[str, int]:
    if not isinstance(vocab, dict) or not vocab:
        raise VocabError(f"{path}: expected a non-empty JSON object mapping tokens to ids")
    for token, i in vocab.items():
        if type(i) is not int or i < 0:
            raise VocabError(f"{path}: token {token!r} has id {i!r}; ids must be non-negative integers")
    return vocab


def read_vocab_json(path: Path) -> dict[str, int]:
    """vocab.json: {"token in byte symbols": id, ...}."""
    if not path.exists():
        raise VocabError(
            f"{path}: file not found; a byte-level BPE model needs {VOCAB_FILE} and {MERGES_FILE} (or {TOKENIZER_FILE})"
        )
    return _check_vocab(_read_json(path), path)


def read_merges_txt(path: Path, vocab: dict[str, int]) -> list[tuple[str, str]]:
    """merges.txt: an optional "#version" line, then one "left right" pair per line, best first."""
    if not path.exists():
        raise VocabError(f"{path}: file not found; a byte-level BPE model needs {VOCAB_FILE} and {MERGES_FILE}")
    try:
        # "\n" only: str.splitlines would also break at U+0085, U+2028, ... inside a token
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as e:
        raise VocabError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:  # a directory, no permission, ...
        raise VocabError(f"{path}: cannot read it ({e.strerror})") from None
    merges = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if not line or (number == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        merges.append(_check_merge(pair, vocab, f"{path} line {number}"))
    return merges


def _check_merge(pair, vocab: dict[str, int], where: str) -> tuple[str, str]:
    if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
        raise VocabError(f"{where}: expected a merge 'left right' (two tokens, one space), got {pair!r}")
    left, right = pair
    for token in (left, right, left + right):
        if token not in vocab:
            raise VocabError(f"{where}: merge {left!r} + {right!r} uses {token!r}, which is not in the vocabulary")
    return left, right


def read_tokenizer_json(path: Path) -> tuple[dict[str, int], list[tuple[str, str]], set[str]]:
    """tokenizer.json of a BPE model: vocab, merges, and the added tokens that lstrip."""
    data = _read_json(path)
    model = data.get("model") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE" or "merges" not in model:
        raise VocabError(f"{path}: expected a byte-level BPE tokenizer (model.type 'BPE' with merges)")
    vocab = _check_vocab(model.get("vocab"), path)
    merges = [
        _check_merge(m.split(" ") if isinstance(m, str) else m, vocab, f"{path} merge {n}")
        for n, m in enumerate(model["merges"])
    ]
    added = data.get("added_tokens") or []
    absorbs = {t["content"] for t in added if isinstance(t, dict) and t.get("lstrip")}
    for t in added:
        if isinstance(t, dict) and "content" in t and "id" in t:
            vocab.setdefault(t["content"], t["id"])
    return vocab, merges, absorbs
