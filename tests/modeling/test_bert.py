"""bertkit/modeling/: the backbone's shapes, its padding mask, and dropout only in train mode."""

from __future__ import annotations

import math

import pytest
import torch

from bertkit.modeling.activations import ACTIVATIONS
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)


def tiny_model(**overrides) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(**{**TINY, **overrides})).eval()


def test_outputs_have_the_documented_shapes():
    model = tiny_model()
    ids = torch.randint(1, 99, (2, 7))
    out = model(ids, torch.ones_like(ids), torch.zeros_like(ids))
    assert out.sequence.shape == (2, 7, 32) and out.pooled.shape == (2, 32)
    assert len(out.layers) == 3 and out.layers[-1] is out.sequence
    # The pooler is tanh(dense(first token)).
    torch.testing.assert_close(out.pooled, torch.tanh(model.pooler.dense(out.sequence[:, 0])))


def test_padding_does_not_change_real_positions():
    model = tiny_model()
    ids = torch.tensor([[5, 6, 7, 8]])
    short = model(ids, torch.ones_like(ids))
    padded_ids = torch.tensor([[5, 6, 7, 8, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    padded = model(padded_ids, mask)
    for a, b in zip(short.layers, padded.layers):
        torch.testing.assert_close(a, b[:, :4], atol=1e-5, rtol=0)
    torch.testing.assert_close(short.pooled, padded.pooled, atol=1e-5, rtol=0)


def test_token_types_change_the_output_and_default_to_zero():
    model = tiny_model()
    ids = torch.randint(1, 99, (1, 5))
    zeros = model(ids, torch.ones_like(ids), torch.zeros_like(ids)).sequence
    assert torch.equal(model(ids, torch.ones_like(ids)).sequence, zeros)
    assert not torch.allclose(model(ids, torch.ones_like(ids), torch.ones_like(ids)).sequence, zeros)


def test_dropout_only_in_train_mode():
    model = tiny_model(hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5)
    ids = torch.randint(1, 99, (2, 6))
    mask = torch.ones_like(ids)
    assert torch.equal(model(ids, mask).sequence, model(ids, mask).sequence)
    model.train()
    assert not torch.equal(model(ids, mask).sequence, model(ids, mask).sequence)


def test_initialisation_follows_bert():
    model = tiny_model(initializer_range=0.05)
    word = model.embeddings.word.weight
    assert abs(word[1:].std().item() - 0.05) < 0.005 and torch.all(word[0] == 0)  # [PAD] row zero
    assert torch.all(model.embeddings.norm.weight == 1) and torch.all(model.pooler.dense.bias == 0)


def test_gelu_is_the_erf_form_and_gelu_new_the_tanh_one():
    x = torch.linspace(-4, 4, 101)
    erf = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    tanh = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(ACTIVATIONS["gelu"].function(x), erf)
    torch.testing.assert_close(ACTIVATIONS["gelu_new"].function(x), tanh)
    torch.testing.assert_close(ACTIVATIONS["gelu_fast"].function(x), tanh)
    assert not torch.allclose(erf, tanh, atol=1e-4, rtol=0)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_builds_a_model(activation):
    ids = torch.randint(1, 99, (1, 4))
    assert tiny_model(hidden_act=activation)(ids, torch.ones_like(ids)).sequence.isfinite().all()


def test_docstring_examples_run():
    import doctest

    import bertkit.modeling.bert

    assert doctest.testmod(bertkit.modeling.bert).failed == 0
