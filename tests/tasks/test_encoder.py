"""bertkit/encoder.py: the TF Hub input dict in, the TF Hub output dict out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertkit import Encoder, Preprocessor
from bertkit.errors import InputError
from bertkit.tasks.encoder import resolve_device

SENTENCES = ["This is a spam mail", "Computers are not unique to computers"]


@pytest.fixture(scope="module")
def encoder():
    return Encoder.from_pretrained()


@pytest.fixture(scope="module")
def batch():
    return Preprocessor.from_pretrained(seq_length=16)(SENTENCES)


def test_the_notebook_shapes(encoder):
    # The same call the module docstring shows.
    batch = Preprocessor.from_pretrained(seq_length=128)(SENTENCES)
    assert batch["input_word_ids"].shape == (2, 128) and batch["input_word_ids"].dtype == torch.int32
    with torch.no_grad():
        out = encoder(batch)
    assert list(out) == ["default", "sequence_output", "encoder_outputs", "pooled_output"]
    assert out["sequence_output"].shape == (2, 128, 384) and out["pooled_output"].shape == (2, 384)
    assert len(out["encoder_outputs"]) == 6 and all(t.shape == (2, 128, 384) for t in out["encoder_outputs"])
    assert out["encoder_outputs"][-1] is out["sequence_output"] and out["default"] is out["pooled_output"]


def test_eval_by_default_and_dropout_in_train_mode(batch):
    encoder = Encoder.from_pretrained()
    assert not encoder.training
    with torch.no_grad():
        first, second = encoder(batch)["pooled_output"], encoder(batch)["pooled_output"]
        assert torch.equal(first, second)
        encoder.train()
        assert not torch.equal(encoder(batch)["pooled_output"], first)


def test_numpy_and_int64_inputs_and_default_type_ids(encoder, batch):
    with torch.no_grad():
        expected = encoder(batch)["sequence_output"]
        as_numpy = {k: v.numpy().astype(np.int64) for k, v in batch.items()}
        torch.testing.assert_close(encoder(as_numpy)["sequence_output"], expected)
        no_types = {k: v for k, v in batch.items() if k != "input_type_ids"}
        torch.testing.assert_close(encoder(no_types)["sequence_output"], expected)


def test_gradients_flow_in_train_mode(batch):
    encoder = Encoder.from_pretrained().train()
    encoder(batch)["pooled_output"].sum().backward()
    assert encoder.backbone.embeddings.word.weight.grad is not None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["text"], "takes the preprocessor's dict"),
        ({"input_word_ids": torch.ones(1, 4, dtype=torch.int32)}, "needs input_word_ids and input_mask"),
        ({"input_word_ids": torch.ones(4, dtype=torch.int32), "input_mask": torch.ones(4)}, "must be 2-D"),
        (
            {"input_word_ids": torch.ones(1, 4, dtype=torch.int32), "input_mask": torch.ones(1, 3)},
            "input shapes differ",
        ),
        (
            {"input_word_ids": torch.ones(1, 600, dtype=torch.int32), "input_mask": torch.ones(1, 600)},
            "longer than this model's 512",
        ),
    ],
)
def test_bad_inputs_are_input_errors(encoder, bad, message):
    with pytest.raises(InputError, match=message):
        encoder(bad)


def test_devices():
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(InputError, match="unknown device 'banana'"):
        resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no usable CUDA device"):
            Encoder.from_pretrained(device="cuda")
        return
    # On a machine with a GPU: the same outputs there as on the CPU.
    batch = Preprocessor.from_pretrained(seq_length=32)(SENTENCES)
    with torch.no_grad():
        cpu = Encoder.from_pretrained()(batch)
        gpu = Encoder.from_pretrained(device="cuda")(batch)
    mask = batch["input_mask"].bool()
    assert gpu["sequence_output"].device.type == "cuda"
    assert (gpu["sequence_output"].cpu() - cpu["sequence_output"])[mask].abs().max() < 1e-4
    assert (gpu["pooled_output"].cpu() - cpu["pooled_output"]).abs().max() < 1e-4


def test_docstring_examples_run():
    import doctest

    import bertkit.tasks.encoder

    assert doctest.testmod(bertkit.tasks.encoder).failed == 0
