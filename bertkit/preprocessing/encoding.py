"""Texts as token ids, and batches of them as the encoder's input tensors: the one path from
texts to model inputs that embedding, prediction, evaluation and training all take.

Texts are tokenized once, up front, each only as far as it can be packed; a batch is packed
([CLS] A [SEP] B [SEP], truncated round-robin) and padded only to its own longest example
(dynamic padding); `batches` groups examples of similar length (`data.batches.length_batches`)
and says which examples each batch holds, so results go back in input order.

For tagging, each word is tokenized on its own and labelled at its *first* sub-word, as in
the BERT paper (section 4.3); the other pieces get the ignored label -100. Words that fall
past `seq_length` are cut and counted, as are words that make no token at all.

    >>> from bertkit import Preprocessor
    >>> pre = Preprocessor.from_pretrained(seq_length=16)
    >>> words = encode_words(pre, [["Tokenization", "is", "fun"]])  # token ##ization is fun
    >>> words.ids[0], words.first_pieces[0]
    ([19204, 3989, 2003, 4569], [0, 2, 3])
    >>> batch, labels = collate_words(pre, words, [0], tags=[[1, 2, 0]])
    >>> labels.tolist()
    [[-100, 1, -100, 2, 0, -100]]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from bertkit.data.batches import length_batches

IGNORE_INDEX = -100  # PyTorch's cross-entropy skips this label


@dataclasses.dataclass
class EncodedTexts:
    ids: list[list[int]]  # sub-word ids of each first text (no more than can be packed)
    ids_b: list[list[int]] | None  # and of each second text, for pairs
    lengths: list[int]  # packed length of each example, special tokens included
    cut: list[int] = dataclasses.field(default_factory=list)  # examples longer than seq_length, truncated


def encode_texts(pre, texts: list[str], texts_b: list[str] | None = None) -> EncodedTexts:
    segments = 1 if texts_b is None else 2
    # No segment can keep more than the whole budget, so no tokenizer needs to go further; one
    # token more tells the examples that were cut from those that fit exactly.
    budget = pre.budget(segments)
    ids = pre.tokenizer.encode_batch(texts, max_tokens=budget + 1)
    ids_b = pre.tokenizer.encode_batch(texts_b, max_tokens=budget + 1) if texts_b is not None else None
    totals = [len(a) + (len(ids_b[i]) if ids_b is not None else 0) for i, a in enumerate(ids)]
    cut = [i for i, total in enumerate(totals) if total > budget]
    for i in cut:  # each segment to the budget (the packer shares it out round-robin)
        ids[i] = ids[i][:budget]
        if ids_b is not None:
            ids_b[i] = ids_b[i][:budget]
    special = pre.layout.num_special_tokens(segments)
    lengths = [min(pre.seq_length, total + special) for total in totals]
    return EncodedTexts(ids, ids_b, lengths, cut)


def collate_texts(pre, encoded: EncodedTexts, indices: list[int]) -> dict[str, torch.Tensor]:
    """The encoder's input for the examples `indices` (texts, pairs or sentences of words),
    padded to their longest."""
    segments = [[encoded.ids[i] for i in indices]]
    if encoded.ids_b is not None:
        segments.append([encoded.ids_b[i] for i in indices])
    return pre.pack_inputs(segments, padding="longest")


def batches(pre, encoded: EncodedTexts, batch_size: int = 32) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """(indices, the encoder's input for them): every example once, in batches of similar
    length, at most `batch_size` examples and `batch_size * seq_length` padded positions each."""
    for indices in length_batches(encoded.lengths, max_tokens=batch_size * pre.seq_length, max_texts=batch_size):
        yield indices, collate_texts(pre, encoded, indices)


@dataclasses.dataclass
class EncodedWords(EncodedTexts):
    # per word, the index into `ids` of its first piece; -1: no piece
    first_pieces: list[list[int]] = dataclasses.field(default_factory=list)
    words_cut: int = 0  # words past seq_length (never labelled, predicted "O")
    words_without_tokens: int = 0  # words the tokenizer turned into nothing


def encode_words(pre, sentences: list[list[str]]) -> EncodedWords:
    flat = [word for words in sentences for word in words]
    if pre.tokenize([" a"]) != pre.tokenize(["a"]):
        # A space-sensitive tokenizer (byte-level BPE) sees each word as it would mid-sentence,
        # after a space, as HuggingFace's `add_prefix_space=True` for pre-split words.
        flat = [" " + word for word in flat]
    pieces = iter(pre.tokenize(flat))
    budget = pre.budget(1)
    encoded = EncodedWords([], None, [])
    for words in sentences:
        ids: list[int] = []
        firsts: list[int] = []
        for _ in words:
            word_ids = next(pieces)
            if not word_ids:
                encoded.words_without_tokens += 1
                firsts.append(-1)
            elif len(ids) >= budget:
                encoded.words_cut += 1
                firsts.append(-1)
            else:
                firsts.append(len(ids))
                ids.extend(word_ids)
        ids = ids[:budget]
        encoded.ids.append(ids)
        encoded.first_pieces.append(firsts)
        encoded.lengths.append(len(ids) + pre.layout.num_special_tokens(1))
    return encoded


def collate_words(
    pre, encoded: EncodedWords, indices: list[int], tags: list[list[int]] | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """The encoder's input for sentences `indices` and, given `tags` (class ids per word of
    every sentence), the label of every token position: the word's tag at its first piece."""
    batch = collate_texts(pre, encoded, indices)
    if tags is None:
        return batch, None
    offset = len(pre.layout.start)  # [CLS] comes first
    labels = torch.full(batch["input_word_ids"].shape, IGNORE_INDEX, dtype=torch.long)
    for row, i in enumerate(indices):
        for position, tag in zip(encoded.first_pieces[i], tags[i]):
            if position >= 0:
                labels[row, offset + position] = tag
    return batch, labels
