"""bertkit/pipeline.py: `bertkit.load(...).embed(texts)`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import bertkit
from bertkit.errors import InputError, InputTypeError, TruncationWarning

TEXTS = [
    "A man is eating food.",
    "Someone eats.",
    "",
    "The GNU General Public License is a free, copyleft license for software and other kinds of works. " * 3,
    "Computers are not unique to computers",
    "ok",
]


@pytest.fixture(scope="module")
def model():
    return bertkit.load()


def test_docstring_example(model):
    vecs = model.embed(["A man is eating food.", "Someone eats."], pooling="mean", normalize=True)
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert float(vecs[0] @ vecs[1]) > 0.5


def test_batched_by_length_yet_returned_in_input_order(model):
    together = model.embed(TEXTS, batch_size=2)
    for i, text in enumerate(TEXTS):
        alone = model.embed([text])
        np.testing.assert_allclose(together[i], alone[0], atol=2e-5, rtol=0)


def test_poolings_are_what_they_say(model):
    batch = model.preprocessor(TEXTS[:3])
    with torch.no_grad():
        out = model.encoder(batch)
    np.testing.assert_allclose(
        model.embed(TEXTS[:3], pooling="cls", normalize=False), out["sequence_output"][:, 0], atol=2e-5
    )
    np.testing.assert_allclose(
        model.embed(TEXTS[:3], pooling="pooled", normalize=False), out["pooled_output"], atol=2e-5
    )
    mask = batch["input_mask"].unsqueeze(-1).float()
    mean = (out["sequence_output"] * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(model.embed(TEXTS[:3], pooling="mean", normalize=False), mean, atol=2e-5)
    unit = model.embed(TEXTS[:3], pooling="mean", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(unit, mean / mean.norm(dim=1, keepdim=True), atol=2e-5)


def test_nothing_to_embed_gives_an_empty_array(model):
    assert model.embed([]).shape == (0, 384)


def test_bf16_is_close_and_still_float32():
    vecs = bertkit.load(precision="bf16").embed(TEXTS, pooling="mean", normalize=True)
    reference = bertkit.load().embed(TEXTS, pooling="mean", normalize=True)
    assert vecs.dtype == np.float32
    assert np.min(np.sum(vecs * reference, axis=1)) > 0.99


def test_progress_bar_on_request(model, capsys):
    model.embed(TEXTS, progress=True)
    assert "embed: 100%" in capsys.readouterr().err


def test_bad_arguments(model):
    with pytest.raises(InputTypeError, match="not one string"):
        model.embed("one text")
    with pytest.raises(InputTypeError, match="text 1 is int"):
        model.embed(["a", 1])
    with pytest.raises(InputError, match="unknown pooling 'maximum'"):
        model.embed(["a"], pooling="maximum")
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        model.embed(["a"], batch_size=0)
    with pytest.raises(InputError, match="unknown precision 'fp8'"):
        bertkit.load(precision="fp8")


def test_docstring_examples_run():
    import doctest

    import bertkit.pipeline

    assert doctest.testmod(bertkit.pipeline).failed == 0


def words(n: int) -> str:
    """A text of n tokens (n + 2 with [CLS] and [SEP])."""
    return " ".join(["a"] * n)


def test_long_texts_warn_once_with_their_count(model):
    assert len(model.preprocessor.tokenize([words(254)])[0]) == 254
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exactly 256 tokens with [CLS] and [SEP]: fits, no warning
        model.embed(TEXTS + [words(254)])
    mix = [words(255), *TEXTS, words(600), words(254), words(1000)]
    with pytest.warns(TruncationWarning) as caught:
        model.embed(mix)
    assert len(caught) == 1 and caught[0].filename == __file__  # points at the caller
    assert str(caught[0].message) == (
        "3 of 10 texts are longer than the model's 256 tokens and were truncated; "
        "pass long='error' to refuse such texts"
    )
    with pytest.raises(
        InputError, match=r"^text 7 is 602 tokens long \(special tokens included\), more than the model's 256; "
    ):
        model.embed([*TEXTS, words(254), words(600), words(255)], long="error")
    np.testing.assert_array_equal(model.embed(TEXTS, long="error"), model.embed(TEXTS))


def test_compact_vectors_shapes_and_dtypes(model):
    full = model.embed(TEXTS)
    short = model.embed(TEXTS, dimensions=64)
    np.testing.assert_allclose(short, full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True), atol=1e-6)
    for precision, dtype, width in [("int8", np.int8, 64), ("uint8", np.uint8, 64), ("binary", np.int8, 8),
                                    ("ubinary", np.uint8, 8), ("float32", np.float32, 64)]:  # fmt: skip
        vectors = model.embed(TEXTS, dimensions=64, precision=precision)
        assert vectors.shape == (len(TEXTS), width) and vectors.dtype == dtype
    assert model.embed([], precision="ubinary").shape == (0, 48)


def test_bad_compact_arguments_are_one_line_each(model):
    for options, error, message in [
        (dict(dimensions=0), InputError, "dimensions must be between 1 and the model's 384, got 0"),
        (dict(dimensions=385), InputError, "dimensions must be between 1 and the model's 384, got 385"),
        (dict(dimensions=64.0), InputTypeError, "dimensions must be an int, not float"),
        (dict(precision="fp16"), InputError, "unknown precision 'fp16'; choose one of float32, int8, uint8, binary, ubinary"),
        (dict(long="split"), InputError, "unknown long='split'; choose one of truncate, chunk, error"),
        (dict(ranges=np.zeros((2, 384))), InputError, "ranges are for precision int8 or uint8, not 'float32'"),
        (dict(precision="int8", dimensions=64, ranges=np.zeros((2, 384))), InputError,
         r"ranges must have shape \(2, 64\) \(each dimension's min, then max\), got \(2, 384\)"),
    ]:  # fmt: skip
        with pytest.raises(error, match=f"^{message}$"):
            model.embed(["a", "b"], **options)
    with pytest.raises(InputError, match="^int8 needs ranges= .* to quantise fewer than 2 vectors;"):
        model.embed(["a"], precision="int8")
    ranges = np.stack([-np.ones(384), np.ones(384)])
    assert model.embed(["a"], precision="int8", ranges=ranges).shape == (1, 384)
