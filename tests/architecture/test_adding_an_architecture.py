"""docs/architecture.md's "add a new architecture", followed step by step for a toy family.

The toy: BERT's layers under names of its own (`toy.` prefix, `tok`/`pos` embeddings) and
positions that start at 1 (position 0 reserved), which is the kind of difference real families
have (RoBERTa's positions, DistilBERT's names). The steps, as the page lists them:

1. modeling/<family>.py      the backbone: BERT's, with what differs overridden
2. modeling/config.py        its model_type and default config values (MODEL_TYPES)
3. checkpoint/names.py       its HuggingFace weight names and class (ARCHITECTURES)

after which every load / save path, the Encoder, `bertkit.load` and the inference engine take it.
"""

from __future__ import annotations

import pytest
import torch

import bertkit
from bertkit import checkpoint
from bertkit.bundled import default_model_dir
from bertkit.checkpoint import names
from bertkit.modeling import config as config_module
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig
from bertkit.tasks.encoder import Encoder


class ToyModel(BertModel):  # step 1
    """BERT with positions counted from 1 over real tokens; padding sits at position 0."""

    def position_ids(self, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.long()
        return torch.cumsum(mask, dim=1) * mask


TOY_WEIGHTS = names.WeightNames(  # step 3: its names, BERT's rows with its own spelling
    prefix="toy.",
    backbone=[(ours, theirs.replace("word_embeddings", "tok").replace("position_embeddings", "pos"))
              for ours, theirs in names.BERT_WEIGHTS.backbone],
)  # fmt: skip


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(config_module.MODEL_TYPES, "toy", {"max_position_embeddings": 64})  # step 2
    monkeypatch.setitem(names.ARCHITECTURES, "toy", names.Architecture(ToyModel, TOY_WEIGHTS, "ToyModel"))


def toy_checkpoint(directory) -> ToyModel:
    config = BertConfig.from_dict({"model_type": "toy", "hidden_size": 32, "num_hidden_layers": 2,
                                   "num_attention_heads": 4, "intermediate_size": 64})  # fmt: skip
    torch.manual_seed(0)
    model = ToyModel(config).eval()
    checkpoint.save(model, config, directory, source=default_model_dir())  # the bundled vocabulary
    return model


def test_a_new_family_saves_under_its_own_names_and_loads_back_exactly(toy_family, tmp_path):
    model = toy_checkpoint(tmp_path)
    stored = set(checkpoint.read_weights(tmp_path / "model.safetensors"))
    assert "embeddings.tok.weight" in stored and "embeddings.pos.weight" in stored
    assert not any("word_embeddings" in name for name in stored)
    assert checkpoint.read_config(tmp_path).model_type == "toy"

    encoder = Encoder.from_pretrained(tmp_path)
    assert isinstance(encoder.backbone, ToyModel)
    ids = torch.tensor([[101, 2023, 2003, 102, 0, 0]])
    batch = {"input_word_ids": ids, "input_mask": (ids != 0).long(), "input_type_ids": torch.zeros_like(ids)}
    expected = model(ids, (ids != 0).long()).sequence
    torch.testing.assert_close(encoder(batch)["sequence_output"][:, :4], expected[:, :4], atol=1e-6, rtol=0)


def test_the_fast_engine_and_load_take_the_new_family_with_its_positions(toy_family, tmp_path):
    toy_checkpoint(tmp_path)
    texts = ["a toy family", "positions start at one here, and the engine must know it"]
    fast = bertkit.load(tmp_path, precision="fp32")
    assert fast.engine is not None
    plain = bertkit.load(tmp_path, precision="fp32")
    plain.engine = None  # embed() then runs the plain PyTorch modules
    expected = plain.embed(texts, pooling="mean")
    assert abs(fast.embed(texts, pooling="mean") - expected).max() < 1e-5
    # The positions matter: numbered as BERT numbers them (from 0), the vectors differ.
    plain.encoder.backbone.__class__ = BertModel
    assert abs(plain.embed(texts, pooling="mean") - expected).max() > 1e-3


def test_an_unknown_family_is_one_clear_error(tmp_path):
    unregistered = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
    unregistered.model_type = "toy"
    with pytest.raises(bertkit.BertkitError, match="model_type 'toy'"):
        unregistered.validate()
