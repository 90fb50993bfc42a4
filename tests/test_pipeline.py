"""bertkit/pipeline.py: `bertkit.load(...).embed(texts)`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bertkit
from bertkit.errors import InputError, InputTypeError

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
