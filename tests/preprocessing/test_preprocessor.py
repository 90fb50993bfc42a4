import doctest

import numpy as np
import pytest
import torch

import bertkit.preprocessing as preprocess
from bertkit import Preprocessor
from bertkit.errors import BertkitError, InputError, InputTypeError, ModelNotFoundError

SENTENCES = ["This is a spam mail", "Computers are not unique to computers"]


@pytest.fixture(scope="module")
def pre():
    return Preprocessor.from_pretrained()


def test_docstring_examples():
    assert doctest.testmod(preprocess).failed == 0


def test_the_tf_hub_notebook_sentences(pre):
    batch = pre(SENTENCES)
    assert list(batch) == ["input_word_ids", "input_mask", "input_type_ids"]
    for tensor in batch.values():
        assert tensor.dtype == torch.int32 and tensor.shape == (2, 128)
    ids = batch["input_word_ids"].tolist()
    assert ids[0] == [101, 2023, 2003, 1037, 12403, 2213, 5653, 102] + [0] * 120
    assert ids[1] == [101, 7588, 2024, 2025, 4310, 2000, 7588, 102] + [0] * 120
    assert batch["input_mask"].tolist() == [[1] * 8 + [0] * 120] * 2
    assert batch["input_type_ids"].tolist() == [[0] * 128] * 2


def test_pairs_type_ids_and_round_robin(pre):
    batch = pre(["a b c d e f"], ["x y z"], padding="longest")
    assert batch["input_type_ids"].tolist() == [[0] * 8 + [1] * 4]
    short = Preprocessor.from_pretrained(seq_length=8)(["a b c d e f"], ["x y z w"])
    # 5 tokens fit: the first segment keeps the odd one
    assert short["input_word_ids"].tolist() == [[101, 1037, 1038, 1039, 102, 1060, 1061, 102]]


def test_padding_longest(pre):
    batch = pre(SENTENCES, padding="longest")
    assert batch["input_word_ids"].shape == (2, 8)
    assert pre(["word " * 500], padding="longest")["input_word_ids"].shape == (1, 128)


def test_a_single_string_is_one_text(pre):
    assert torch.equal(pre(SENTENCES[0])["input_word_ids"], pre(SENTENCES[:1])["input_word_ids"])
    assert pre.tokenize("hello") == [[7592]]


def test_tuples_generators_and_numpy_arrays_of_str(pre):
    expected = pre(SENTENCES)["input_word_ids"]
    for texts in [tuple(SENTENCES), (t for t in SENTENCES), np.array(SENTENCES)]:
        assert torch.equal(pre(texts)["input_word_ids"], expected)


def test_empty_and_whitespace_only_texts_give_cls_sep(pre):
    ids = pre(["", "   ", "\n\t"], padding="longest")["input_word_ids"].tolist()
    assert ids == [[101, 102]] * 3
    assert pre([])["input_word_ids"].shape == (0, 128)


@pytest.mark.parametrize(
    "bad, position",
    [([None], "texts\\[0\\]"), (["ok", 3], "texts\\[1\\] is int"), (["a", b"b"], "texts\\[1\\] is bytes")],
)
def test_non_strings_name_their_position(pre, bad, position):
    with pytest.raises(InputTypeError, match=position):
        pre(bad)
    with pytest.raises(TypeError):  # also a TypeError, for code that catches the builtin
        pre.tokenize(bad)


def test_other_bad_inputs(pre):
    with pytest.raises(InputTypeError, match="not int"):
        pre(5)
    with pytest.raises(InputTypeError, match="bytes"):
        pre(b"bytes")
    with pytest.raises(InputError, match="2 texts but 1 texts_b"):
        pre(SENTENCES, ["one"])
    with pytest.raises(InputTypeError, match="texts_b\\[0\\]"):
        pre(["a"], [None])


def test_a_1mb_text_is_truncated(pre):
    batch = pre(["mail " * 200_000, "ham"])
    assert batch["input_word_ids"][0].tolist() == [101] + [5653] * 126 + [102]
    assert batch["input_mask"].sum().item() == 128 + 3


def test_lone_surrogates_do_not_crash(pre):
    batch = pre(["spam\ud800 mail", "\udfff"], padding="longest")
    assert batch["input_word_ids"].tolist() == [[101, 12403, 2213, 5653, 102], [101, 102, 0, 0, 0]]


def test_pack_inputs_any_number_of_segments_and_waterfall(pre):
    a, b, c = pre.tokenize(["one two three four", "five six", "seven"])
    out = pre.pack_inputs([[a], [b], [c]], seq_length=9, truncate="waterfall")
    assert out["input_word_ids"].tolist() == [[101, *a, 102, *b[:1], 102, 102]]
    assert out["input_type_ids"].tolist() == [[0] * 6 + [1, 1, 2]]
    rr = pre.pack_inputs([[a], [b], [c]], seq_length=9)
    assert rr["input_word_ids"].tolist() == [[101, *a[:2], 102, *b[:2], 102, *c, 102]]
    tensor = pre.pack_inputs([torch.tensor([a])])["input_word_ids"]
    assert tensor.shape == (1, 128) and tensor.dtype == torch.int32


def test_pack_inputs_explains_a_missing_segment_list(pre):
    with pytest.raises(InputTypeError, match="pack_inputs\\(\\[ids\\]\\)"):
        pre.pack_inputs(pre.tokenize(["a b"]))


def test_missing_model_directory_is_one_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        Preprocessor.from_pretrained(tmp_path / "nope")
    with pytest.raises(BertkitError, match="no tokenizer files"):
        Preprocessor.from_pretrained(tmp_path)
