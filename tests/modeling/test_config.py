"""bertkit/modeling/config.py: one dataclass for BERT, RoBERTa and DistilBERT, HuggingFace keys in and out."""

from __future__ import annotations

import json

import pytest
import transformers

from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.config import BertConfig


def test_bert_config_json_round_trip_keeps_every_key(tmp_path):
    hf = transformers.BertConfig(
        hidden_size=384, num_hidden_layers=6, intermediate_size=1536, id2label={0: "neg", 1: "pos"}
    )
    hf.save_pretrained(tmp_path)
    config = BertConfig.from_json_file(tmp_path / "config.json")
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (384, 6, 1536)
    assert config.hidden_act == "gelu" and config.pad_token_id == 0 and config.head_size == 32
    assert config.extra["id2label"] == {"0": "neg", "1": "pos"}  # unknown keys are kept

    out = tmp_path / "ours"
    out.mkdir()
    config.to_json_file(out / "config.json")
    again = transformers.AutoConfig.from_pretrained(out)
    assert type(again) is transformers.BertConfig
    assert (again.hidden_size, again.num_hidden_layers, again.id2label) == (384, 6, {0: "neg", 1: "pos"})
    assert BertConfig.from_json_file(out / "config.json").to_dict() == config.to_dict()


def test_distilbert_keys_are_translated_both_ways(tmp_path):
    hf = transformers.DistilBertConfig(
        dim=256, n_layers=3, n_heads=4, hidden_dim=1024, activation="relu", sinusoidal_pos_embds=True, dropout=0.2
    )
    config = BertConfig.from_dict(hf.to_dict())
    assert config.model_type == "distilbert"
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (256, 3, 4)
    assert (config.intermediate_size, config.hidden_act, config.hidden_dropout_prob) == (1024, "relu", 0.2)
    assert config.sinusoidal_positions and config.type_vocab_size == 0 and config.layer_norm_eps == 1e-12

    written = config.to_dict()
    assert written["dim"] == 256 and written["n_layers"] == 3 and "hidden_size" not in written
    assert "type_vocab_size" not in written and "layer_norm_eps" not in written
    (tmp_path / "config.json").write_text(json.dumps(written))
    again = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(again) is transformers.DistilBertConfig
    assert (again.dim, again.n_layers, again.hidden_dim, again.sinusoidal_pos_embds) == (256, 3, 1024, True)


def test_roberta_defaults_and_keys():
    hf = transformers.RobertaConfig(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128
    )
    config = BertConfig.from_dict(hf.to_dict())
    assert config.model_type == "roberta" and config.pad_token_id == 1
    assert (config.bos_token_id, config.eos_token_id) == (0, 2)
    # Keys a RoBERTa config.json leaves out take RoBERTa's defaults, not BERT's.
    sparse = BertConfig.from_dict({"model_type": "roberta", "hidden_size": 64, "num_attention_heads": 4})
    assert (sparse.pad_token_id, sparse.type_vocab_size, sparse.layer_norm_eps) == (1, 1, 1e-5)
    assert "architectures" not in sparse.to_dict()  # HuggingFace's class names are the checkpoint's


@pytest.mark.parametrize(
    ("hf", "message"),
    [
        ({"model_type": "gpt2"}, "unknown model_type 'gpt2'"),
        ({"hidden_size": 100, "num_attention_heads": 12}, "not a multiple"),
        ({"hidden_act": "mish2"}, "unknown activation 'mish2'"),
        ({"position_embedding_type": "relative_key"}, "relative_key"),
    ],
)
def test_unusable_configs_raise_checkpoint_error(hf, message):
    with pytest.raises(CheckpointError, match=message):
        BertConfig.from_dict(hf)


def test_config_file_errors_name_the_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        BertConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config.json: not valid JSON"):
        BertConfig.from_json_file(tmp_path / "config.json")
    (tmp_path / "config.json").write_text('{"model_type": "t5"}')
    with pytest.raises(CheckpointError, match=r"config.json: unknown model_type 't5'"):
        BertConfig.from_json_file(tmp_path / "config.json")


def test_docstring_examples_run():
    import doctest

    import bertkit.modeling.config

    assert doctest.testmod(bertkit.modeling.config).failed == 0
