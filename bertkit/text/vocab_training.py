"""Learning a sub-word vocabulary from raw text: WordPiece (BERT) and byte-level BPE (RoBERTa).

Both start from the words of the corpus, as our own pre-tokenisers cut them, spelled as
symbols, and repeatedly merge the most frequent adjacent pair of symbols into a new one
(Sennrich et al. 2016) until the vocabulary has the size asked for. They differ in spelling:

- WordPiece: characters, the ones inside a word marked with the continuation prefix `##`
  ("hello" -> h ##e ##l ##l ##o). The result is `vocab.txt`: [PAD] [UNK] [CLS] [SEP] [MASK],
  the alphabet, then the merged pieces. Tokenisation afterwards is greedy longest match, as
  for every BERT vocabulary. (HuggingFace `tokenizers`' WordPieceTrainer also learns its
  pieces by frequency merges; Google's original used a likelihood criterion it did not publish.)
- Byte-level BPE: the 256 byte symbols of `byte_level.py`, so nothing is ever unknown
  (" hello" -> Ġ h e l l o). The result is `vocab.json` (<s> <pad> </s> <unk>, bytes, merges,
  <mask> last, as in RoBERTa) and `merges.txt` (the merges by rank).

    >>> vocab = train_wordpiece(["the cat sat on the mat", "the cat ate the rat"] * 5, vocab_size=40)
    >>> vocab[:5], "##at" in vocab, "the" in vocab
    (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], True, True)
"""

from __future__ import annotations

import heapq
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from bertkit.errors import InputError
from bertkit.text.bert_tokenizer import BertTokenizer, split_chunks
from bertkit.text.byte_level import BYTE_TO_SYMBOL, ByteLevelPreTokenizer, to_symbols
from bertkit.text.normalization import BertNormalizer
from bertkit.text.vocab import DEFAULT_SPECIAL_TOKENS

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BPE_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3 as in RoBERTa; <mask> goes last
BPE_MASK = "<mask>"
CONTINUATION = "##"
MAX_WORD_CHARS = 100  # WordPiece gives up on longer words ([UNK]); no point learning from them


# ---------------------------------------------------------------------------------------------
# The merge learner shared by both vocabularies


def learn_merges(
    words: dict[tuple[str, ...], int],
    max_new_symbols: int,
    join: Callable[[str, str], str],
    min_frequency: int = 2,
) -> tuple[list[tuple[str, str]], list[str]]:
    """Merge the most frequent adjacent pair of symbols, again and again.

    words: each word spelled as a tuple of symbols, with its count in the corpus.
    Returns the merges in order and the new symbols they made (new ones only, at most
    `max_new_symbols`). Ties are broken by the pair's spelling, so training is deterministic.
    Pair counts are updated only for the words a merge touches, and the most frequent pair is
    kept in a heap with stale entries skipped: each merge costs the size of its words, not of
    the corpus.
    """
    spellings = [list(w) for w in words]
    counts = list(words.values())
    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for index, (symbols, count) in enumerate(zip(spellings, counts)):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += count
            where.setdefault(pair, set()).add(index)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    new_symbols: list[str] = []
    known: set[str] = {s for symbols in spellings for s in symbols}
    while heap and len(new_symbols) < max_new_symbols:
        negative, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative:
            continue  # stale: the count changed since this entry was pushed
        if -negative < min_frequency:
            break
        first, second = pair
        merged = join(first, second)
        merges.append(pair)
        if merged not in known:
            known.add(merged)
            new_symbols.append(merged)
        changed: set[tuple[str, str]] = set()
        for index in where.pop(pair, ()):
            symbols, count = spellings[index], counts[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= count
                changed.add(old)
            rebuilt, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                    rebuilt.append(merged)
                    i += 2
                else:
                    rebuilt.append(symbols[i])
                    i += 1
            spellings[index] = rebuilt
            for new in zip(rebuilt, rebuilt[1:]):
                pair_counts[new] += count
                changed.add(new)
                where.setdefault(new, set()).add(index)
        pair_counts.pop(pair, None)
        for p in changed:
            c = pair_counts.get(p, 0)
            if c > 0 and p != pair:
                heapq.heappush(heap, (-c, p))
            elif c <= 0:
                pair_counts.pop(p, None)
    return merges, new_symbols


def count_words(texts: Iterable[str], split: Callable[[str], list[str]]) -> Counter:
    """How often each word (as the pre-tokeniser `split` cuts it) occurs in the texts."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(split(text))
    return counts


def _alphabet(char_counts: Counter, limit: int | None) -> set[str]:
    """The `limit` most frequent characters (ties by code point); the rest become unknown."""
    ranked = sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {c for c, _ in (ranked if limit is None else ranked[:limit])}


# ---------------------------------------------------------------------------------------------
# WordPiece


def bert_word_counts(texts: Iterable[str], lowercase: bool = True) -> Counter:
    """Word counts as our BERT tokeniser's stages cut words: special tokens kept whole (and not
    counted), cleaning, optional lower-casing and accent stripping, CJK spacing, punctuation.

    Raw text repeats its whitespace-delimited chunks, and every stage is local to a chunk (see
    `bert_tokenizer.py`), so each distinct chunk is normalised and split once.
    """
    specials = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), WORDPIECE_SPECIALS))
    stages = BertTokenizer({t: i for i, t in enumerate(WORDPIECE_SPECIALS)}, BertNormalizer(lowercase), specials)
    chunks: Counter = Counter()
    words: Counter = Counter()
    for text in texts:
        chunks.update(split_chunks(text))  # the tokenizer's own split: \x0b, \x0c... are no breaks
    for chunk, count in chunks.items():
        for word in stages.words(chunk):
            words[word] += count
    return words


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int,
    lowercase: bool = True,
    min_frequency: int = 2,
    limit_alphabet: int | None = 1000,
    split: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """A WordPiece vocabulary (tokens in id order) learned from texts.

    split: a pre-tokeniser (text -> words); by default our BERT stages (`bert_word_counts`), so
    the vocabulary sees exactly the words the tokeniser will later look up.
    """
    words = count_words(texts, split) if split else bert_word_counts(texts, lowercase)
    return wordpiece_from_counts(words, vocab_size, min_frequency, limit_alphabet)


def wordpiece_from_counts(
    words: Counter, vocab_size: int, min_frequency: int = 2, limit_alphabet: int | None = 1000
) -> list[str]:
    words = Counter({w: c for w, c in words.items() if len(w) <= MAX_WORD_CHARS})
    if not words:
        raise InputError("the corpus holds no words to learn a vocabulary from")
    char_counts: Counter = Counter()
    for word, count in words.items():
        for ch in word:
            char_counts[ch] += count
    alphabet = _alphabet(char_counts, limit_alphabet)
    spelled: dict[tuple[str, ...], int] = {}
    for word, count in words.items():
        if all(ch in alphabet for ch in word):  # words with a rare character stay [UNK]
            spelled[(word[0], *(CONTINUATION + ch for ch in word[1:]))] = count
    initial = sorted({s for symbols in spelled for s in symbols})
    base = [*WORDPIECE_SPECIALS, *initial]
    if len(base) > vocab_size:
        raise InputError(
            f"vocab size {vocab_size} is too small for the {len(initial)} characters of this corpus "
            f"(and {len(WORDPIECE_SPECIALS)} special tokens); ask for at least {len(base)} or lower limit_alphabet"
        )
    _, pieces = learn_merges(
        spelled, vocab_size - len(base), join=lambda a, b: a + b[len(CONTINUATION) :], min_frequency=min_frequency
    )
    return base + pieces


def write_wordpiece_vocab(vocab: Sequence[str], directory: str | os.PathLike, lowercase: bool = True) -> Path:
    """`vocab.txt` (one token per line, line number = id) and the `tokenizer_config.json` that
    tells readers, ours and `transformers`' alike, whether to lower-case."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "vocab.txt"
    path.write_text("".join(token + "\n" for token in vocab), encoding="utf-8")
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "strip_accents": None,
        "tokenize_chinese_chars": True,
        **DEFAULT_SPECIAL_TOKENS,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Byte-level BPE


def byte_level_word_counts(texts: Iterable[str], add_prefix_space: bool = False) -> Counter:
    """Counts of GPT-2 pieces, spelled in byte symbols ("Ġworld"), each piece converted once."""
    split = ByteLevelPreTokenizer(add_prefix_space=add_prefix_space).split
    pieces: Counter = Counter()
    for text in texts:
        pieces.update(split(text))
    return Counter({to_symbols(piece): count for piece, count in pieces.items()})


def train_byte_level_bpe(
    texts: Iterable[str], vocab_size: int, min_frequency: int = 2, add_prefix_space: bool = False
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary (token -> id) and its merges, learned from texts.

    Pieces are cut by GPT-2's pattern and spelled with the 256 byte symbols, all of which are
    in the vocabulary, so any text can be encoded. `<mask>` takes the last id, as in RoBERTa.
    """
    words = byte_level_word_counts(texts, add_prefix_space)
    if not words:
        raise InputError("the corpus holds no words to learn a vocabulary from")
    base = [*BPE_SPECIALS, *BYTE_TO_SYMBOL.values()]
    if len(base) + 1 > vocab_size:
        raise InputError(f"vocab size {vocab_size} is too small for byte-level BPE; ask for at least {len(base) + 1}")
    spelled = {tuple(word): count for word, count in words.items()}
    merges, pieces = learn_merges(spelled, vocab_size - len(base) - 1, join=str.__add__, min_frequency=min_frequency)
    tokens = [*base, *pieces, BPE_MASK]
    return {token: i for i, token in enumerate(tokens)}, merges


def write_byte_level_bpe(
    vocab: dict[str, int],
    merges: Sequence[tuple[str, str]],
    directory: str | os.PathLike,
    add_prefix_space: bool = False,
) -> tuple[Path, Path]:
    """`vocab.json`, `merges.txt` (with the `#version: 0.2` header) and `tokenizer_config.json`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab_path, merges_path = directory / "vocab.json", directory / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    config = {
        "tokenizer_class": "RobertaTokenizer",
        "add_prefix_space": add_prefix_space,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": BPE_MASK,
        # <mask> takes the space before it, as roberta-base's does; transformers reads that here
        "added_tokens_decoder": {
            str(vocab[token]): {
                "content": token,
                "lstrip": token == BPE_MASK,
                "rstrip": False,
                "normalized": False,
                "single_word": False,
                "special": True,
            }
            for token in (*BPE_SPECIALS, BPE_MASK)
        },
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return vocab_path, merges_path
