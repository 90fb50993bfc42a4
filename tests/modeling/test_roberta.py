"""bertkit/modeling/roberta.py: positions counted from pad_token_id + 1 over real tokens."""

import doctest

import pytest
import torch

from bertkit.checkpoint.names import ROBERTA_WEIGHTS
from bertkit.errors import InputError
from bertkit.modeling import roberta
from bertkit.modeling.config import BertConfig
from bertkit.modeling.roberta import RobertaModel

CONFIG = BertConfig.from_dict(
    {"model_type": "roberta", "vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2,
     "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 12}
)  # fmt: skip


def test_positions_start_after_the_padding_id_and_skip_padding():
    model = RobertaModel(CONFIG)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    assert model.position_ids(mask).tolist() == [[2, 3, 4, 1, 1], [2, 3, 4, 5, 6], [1, 1, 2, 3, 4]]


def test_longer_than_the_positions_is_a_clear_error():
    model = RobertaModel(CONFIG)  # 12 positions: pad (1) + 1 + 10 tokens
    model.position_ids(torch.ones(1, 10))
    with pytest.raises(InputError, match="11 tokens are longer than this RoBERTa model's 10 positions"):
        model.position_ids(torch.ones(1, 11))


def test_padding_does_not_change_real_tokens():
    model = RobertaModel(CONFIG).eval()
    ids = torch.tensor([[0, 7, 8, 9, 2]])
    padded = torch.tensor([[0, 7, 8, 9, 2, 1, 1, 1]])
    with torch.no_grad():
        short = model(ids, torch.ones_like(ids)).sequence
        long = model(padded, (padded != 1).long()).sequence
    torch.testing.assert_close(long[:, :5], short)


def test_config_defaults_are_roberta_base():
    assert (CONFIG.layer_norm_eps, CONFIG.pad_token_id, CONFIG.type_vocab_size) == (1e-5, 1, 1)


def test_weight_names_are_bert_names_under_roberta():
    ours = ROBERTA_WEIGHTS.to_ours("roberta.encoder.layer.3.attention.self.query.weight")
    assert ours == "backbone.transformer.layers.3.attention.query.weight"
    assert ROBERTA_WEIGHTS.to_theirs(ours, bare=True) == "encoder.layer.3.attention.self.query.weight"


def test_docstring_examples():
    assert doctest.testmod(roberta).failed == 0
