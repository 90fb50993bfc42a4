"""bertkit/modeling/distilbert.py: no token types, first-token pooled output, sinusoidal positions."""

import doctest
import math

import torch

from bertkit.checkpoint.names import DISTILBERT_WEIGHTS
from bertkit.modeling import distilbert
from bertkit.modeling.config import BertConfig
from bertkit.modeling.distilbert import DistilBertModel, sinusoidal_positions

HF_CONFIG = {"model_type": "distilbert", "vocab_size": 50, "dim": 32, "n_layers": 2, "n_heads": 4,
             "hidden_dim": 64, "max_position_embeddings": 16}  # fmt: skip


def test_pooled_output_is_the_first_tokens_final_state_and_types_are_ignored():
    model = DistilBertModel(BertConfig.from_dict(HF_CONFIG)).eval()
    ids = torch.tensor([[2, 7, 9, 3, 0], [2, 5, 3, 6, 3]])
    mask = (ids != 0).long()
    with torch.no_grad():
        out = model(ids, mask, torch.zeros_like(ids))
        typed = model(ids, mask, torch.tensor([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1]]))
    assert torch.equal(out.pooled, out.sequence[:, 0])
    assert torch.equal(out.sequence, typed.sequence)
    assert not any("token_type" in name or "pooler" in name for name in model.state_dict())


def test_sinusoidal_positions_are_fixed():
    config = BertConfig.from_dict({**HF_CONFIG, "sinusoidal_pos_embds": True})
    model = DistilBertModel(config)
    table = model.embeddings.position.weight
    assert not table.requires_grad
    assert table.shape == (16, 32)
    assert abs(table[3, 0].item() - math.sin(3)) < 1e-7 and abs(table[3, 1].item() - math.cos(3)) < 1e-7
    assert abs(table[5, 2].item() - math.sin(5 / 10000 ** (2 / 32))) < 1e-7
    torch.testing.assert_close(table, sinusoidal_positions(config))


def test_weight_names():
    for theirs, ours in [
        (
            "distilbert.transformer.layer.4.attention.q_lin.weight",
            "backbone.transformer.layers.4.attention.query.weight",
        ),
        ("distilbert.transformer.layer.0.sa_layer_norm.bias", "backbone.transformer.layers.0.attention_norm.bias"),
        ("distilbert.transformer.layer.1.ffn.lin2.weight", "backbone.transformer.layers.1.feed_forward.outer.weight"),
        ("distilbert.transformer.layer.5.output_layer_norm.weight", "backbone.transformer.layers.5.output_norm.weight"),
        ("distilbert.embeddings.position_embeddings.weight", "backbone.embeddings.position.weight"),
    ]:
        assert DISTILBERT_WEIGHTS.to_ours(theirs) == ours
        assert DISTILBERT_WEIGHTS.to_theirs(ours, bare=False) == theirs


def test_docstring_examples():
    assert doctest.testmod(distilbert).failed == 0
