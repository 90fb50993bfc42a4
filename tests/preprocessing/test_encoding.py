"""Fine-tuning inputs: dynamic padding, pairs, and word -> first sub-word label alignment."""

from __future__ import annotations

import pytest

from bertkit import Preprocessor
from bertkit.preprocessing.encoding import IGNORE_INDEX, collate_texts, collate_words, encode_texts, encode_words


@pytest.fixture(scope="module")
def pre():
    return Preprocessor.from_pretrained(seq_length=12)


def test_batches_are_padded_to_their_longest_example(pre):
    encoded = encode_texts(pre, ["short", "a somewhat longer text here", "x " * 40])
    assert encoded.lengths == [3, 7, 12]  # [CLS] ... [SEP], cut at seq_length
    assert collate_texts(pre, encoded, [0, 1])["input_word_ids"].shape == (2, 7)
    assert collate_texts(pre, encoded, [2])["input_word_ids"].shape == (1, 12)


def test_pairs_are_packed_with_type_ids(pre):
    encoded = encode_texts(pre, ["is it spam?"], ["no"])
    batch = collate_texts(pre, encoded, [0])
    assert batch["input_type_ids"].tolist() == [[0, 0, 0, 0, 0, 0, 0, 1, 1]]  # [CLS] is it spam ? [SEP] | no [SEP]
    assert (
        batch["input_word_ids"].tolist() == pre(["is it spam?"], ["no"], padding="longest")["input_word_ids"].tolist()
    )


def test_words_are_labelled_at_their_first_piece_and_cut_words_are_counted(pre):
    sentences = [["Tokenization", "works"], ["a"] * 15, ["\u200b", "b"]]  # long; a word with no token
    encoded = encode_words(pre, sentences)
    assert encoded.first_pieces[0] == [0, 2]
    assert encoded.first_pieces[1] == list(range(10)) + [-1] * 5  # 12 - [CLS] - [SEP] = 10 fit
    assert encoded.first_pieces[2] == [-1, 0]
    assert (encoded.words_cut, encoded.words_without_tokens) == (5, 1)
    batch, labels = collate_words(pre, encoded, [0, 2], tags=[[3, 4], [0] * 15, [1, 2]])
    assert labels.tolist() == [
        [IGNORE_INDEX, 3, IGNORE_INDEX, 4, IGNORE_INDEX],
        [IGNORE_INDEX, 2, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX],
    ]
    assert batch["input_mask"].tolist()[1] == [1, 1, 1, 0, 0]
