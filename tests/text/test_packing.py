import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bertkit.text.packing as packing
from bertkit.errors import InputError
from bertkit.text.packing import Packer, PackingLayout, round_robin, waterfall

BERT = PackingLayout.bert(cls_id=101, sep_id=102)
ROBERTA = PackingLayout(start=(0,), end=(2,), between=(2,), pad_id=1, typed_segments=False)


def dealt_one_by_one(lengths, budget):
    """Round robin as its definition says: one token per segment in turn."""
    kept = [0] * len(lengths)
    while budget > 0 and any(k < n for k, n in zip(kept, lengths)):
        for i, n in enumerate(lengths):
            if budget > 0 and kept[i] < n:
                kept[i] += 1
                budget -= 1
    return kept


def test_docstring_examples():
    assert doctest.testmod(packing).failed == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=5), st.integers(0, 100))
def test_round_robin_is_dealing_one_token_per_segment_in_turn(lengths, budget):
    assert round_robin(lengths, budget) == dealt_one_by_one(lengths, budget)


def test_round_robin_first_segment_keeps_the_odd_token():
    assert round_robin([100, 100], 125) == [63, 62]
    assert round_robin([3, 100], 125) == [3, 100]
    assert round_robin([100, 3], 125) == [100, 3]
    assert round_robin([100, 100, 100], 124) == [42, 41, 41]


def test_waterfall():
    assert waterfall([100, 100], 125) == [100, 25]
    assert waterfall([200, 100, 5], 125) == [125, 0, 0]


def test_single_segment_layout_and_padding():
    out = Packer(BERT, seq_length=6).pack([[[1, 2], [], [1, 2, 3, 4, 5]]])
    assert out["input_word_ids"].tolist() == [[101, 1, 2, 102, 0, 0], [101, 102, 0, 0, 0, 0], [101, 1, 2, 3, 4, 102]]
    assert out["input_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0], [1] * 6]
    assert out["input_type_ids"].tolist() == [[0] * 6] * 3
    assert all(a.dtype == np.int32 for a in out.values())


def test_three_segments_type_ids_count_up():
    out = Packer(BERT, seq_length=10).pack([[[1]], [[2, 2]], [[3]]])
    assert out["input_word_ids"].tolist() == [[101, 1, 102, 2, 2, 102, 3, 102, 0, 0]]
    assert out["input_type_ids"].tolist() == [[0, 0, 0, 1, 1, 1, 2, 2, 0, 0]]
    assert out["input_mask"].tolist() == [[1] * 8 + [0, 0]]


def test_roberta_layout_is_just_data():
    out = Packer(ROBERTA, seq_length=9).pack([[[5, 6]], [[7]]])
    assert out["input_word_ids"].tolist() == [[0, 5, 6, 2, 2, 7, 2, 1, 1]]
    assert out["input_type_ids"].tolist() == [[0] * 9]
    single = Packer(ROBERTA, seq_length=4).pack([[[5, 6, 7]]])
    assert single["input_word_ids"].tolist() == [[0, 5, 6, 2]]


def test_padding_longest_pads_to_the_batch_but_never_past_seq_length():
    packer = Packer(BERT, seq_length=8)
    assert packer.pack([[[1], [1, 2, 3]]], padding="longest")["input_word_ids"].shape == (2, 5)
    assert packer.pack([[[1] * 50]], padding="longest")["input_word_ids"].shape == (1, 8)
    assert packer.pack([[[1]], [[2]]], padding="longest")["input_word_ids"].shape == (1, 5)
    assert packer.pack([[]])["input_word_ids"].shape == (0, 8)


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError, match="truncate"):
        Packer(BERT, truncate="longest_first")
    with pytest.raises(InputError, match="seq_length"):
        Packer(BERT, seq_length=0)
    with pytest.raises(InputError, match="special tokens"):
        Packer(BERT, seq_length=2).pack([[[1]], [[2]]])
    with pytest.raises(InputError, match="rows"):
        Packer(BERT).pack([[[1]], [[2], [3]]])
    with pytest.raises(InputError, match="padding"):
        Packer(BERT).pack([[[1]]], padding="max")
