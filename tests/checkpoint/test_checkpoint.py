"""bertkit/checkpoint.py: HuggingFace directories in (every layout transformers writes) and out."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file
from torch import nn

from bertkit import checkpoint
from bertkit.checkpoint import load_backbone
from bertkit.checkpoint.names import BERT_WEIGHTS
from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def write_hf(directory, cls=transformers.BertModel, safe=True, **overrides):
    torch.manual_seed(0)
    model = cls(transformers.BertConfig(**{**TINY, **overrides})).eval()
    model.save_pretrained(directory)
    if not safe:  # transformers 5 writes safetensors only; older versions wrote this file
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
        (directory / "model.safetensors").unlink()
    return model


def hf_backbone(model):
    return getattr(model, "bert", model)


def assert_same_outputs(ours, theirs, atol=1e-5):
    ids = torch.tensor([[2, 15, 37, 3, 0, 0], [2, 8, 9, 10, 11, 3]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        out = ours(ids, mask, types)
        ref = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    real = mask.bool()
    for a, b in zip(out.layers, ref.hidden_states[1:], strict=True):
        assert (a - b)[real].abs().max() < atol
    if ref.pooler_output is not None:
        assert (out.pooled - ref.pooler_output).abs().max() < atol


def test_name_table_translates_both_ways():
    for theirs in ["embeddings.LayerNorm.weight", "encoder.layer.11.intermediate.dense.bias", "pooler.dense.weight"]:
        ours = BERT_WEIGHTS.to_ours(theirs)
        assert BERT_WEIGHTS.to_theirs(ours, bare=True) == theirs
        assert BERT_WEIGHTS.to_theirs(ours, bare=False) == "bert." + theirs
        assert BERT_WEIGHTS.to_ours("bert." + theirs) == ours
    assert BERT_WEIGHTS.to_ours("bert.embeddings.LayerNorm.gamma") == "backbone.embeddings.norm.weight"  # TF era
    assert BERT_WEIGHTS.to_ours("bert.encoder.layer.0.crossattention.self.query.weight") is None


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_model.bin"])
def test_reads_a_bare_model_in_both_formats(tmp_path, safe):
    reference = write_hf(tmp_path, safe=safe)
    assert (tmp_path / ("model.safetensors" if safe else "pytorch_model.bin")).is_file()
    backbone, config, directory = load_backbone(tmp_path)
    assert isinstance(backbone, BertModel) and config.hidden_size == 32 and directory == tmp_path
    assert not any(p.is_meta for p in backbone.parameters())
    assert_same_outputs(backbone.eval(), reference)


def test_reads_a_model_with_heads_and_the_bert_prefix(tmp_path, caplog):
    reference = write_hf(tmp_path, cls=transformers.BertForPreTraining)
    with caplog.at_level(logging.WARNING, logger="bertkit"):
        backbone, _, _ = load_backbone(tmp_path)
    assert_same_outputs(backbone.eval(), hf_backbone(reference))
    assert caplog.text == ""  # known heads (cls.predictions, cls.seq_relationship) are expected: no warning
    with caplog.at_level(logging.INFO, logger="bertkit"):
        load_backbone(tmp_path)
    assert "heads (or pooler) this model does not use: " in caplog.text and "cls.seq_relationship.weight" in caplog.text


def test_unknown_weights_are_still_reported(tmp_path, caplog):
    write_hf(tmp_path, cls=transformers.BertForPreTraining)
    weights = load_file(tmp_path / "model.safetensors")
    weights["cls.extra_head.weight"] = torch.zeros(2, 32)
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING, logger="bertkit"):
        load_backbone(tmp_path)
    assert "not used by this model: cls.extra_head.weight" in caplog.text
    assert "cls.predictions" not in caplog.text


def test_missing_pooler_is_initialised_and_reported_by_name(tmp_path, caplog):
    write_hf(tmp_path, cls=transformers.BertForMaskedLM)  # HF's masked LM has no pooler
    with caplog.at_level(logging.WARNING, logger="bertkit"):
        backbone, _, _ = load_backbone(tmp_path)
    assert "initialised randomly, not in the checkpoint: pooler.dense.weight, pooler.dense.bias" in caplog.text
    assert torch.all(backbone.pooler.dense.bias == 0)


class ToyMaskedLM(nn.Module):
    """A task model as heads will build them: `backbone` plus a decoder tied to the word embeddings."""

    def __init__(self, config):
        super().__init__()
        self.backbone = BertModel(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.decoder.weight = self.backbone.embeddings.word.weight


def test_head_rows_and_tied_weights_load_and_save(tmp_path, monkeypatch):
    names = dataclasses.replace(
        BERT_WEIGHTS,
        heads=[("decoder.weight", "cls.predictions.decoder.weight"), ("decoder.bias", "cls.predictions.bias")],
        tied={"decoder.weight": "backbone.embeddings.word.weight"},
    )
    monkeypatch.setitem(
        checkpoint.ARCHITECTURES, "bert", dataclasses.replace(checkpoint.ARCHITECTURES["bert"], weights=names)
    )
    reference = write_hf(tmp_path / "hf", cls=transformers.BertForMaskedLM)
    config = checkpoint.read_config(tmp_path / "hf")
    with checkpoint.empty_weights():
        model = ToyMaskedLM(config)
    checkpoint.load_weights(model, tmp_path / "hf", config)
    assert model.decoder.weight is model.backbone.embeddings.word.weight
    torch.testing.assert_close(model.decoder.bias, reference.cls.predictions.bias, rtol=0, atol=0)

    checkpoint.save(model, config, tmp_path / "ours")
    saved = load_file(tmp_path / "ours" / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in saved  # tied: stored once
    assert "bert.embeddings.word_embeddings.weight" in saved and "cls.predictions.bias" in saved


def test_saved_backbone_loads_in_transformers_with_the_same_outputs(tmp_path):
    write_hf(tmp_path / "hf")
    (tmp_path / "hf" / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    backbone, config, source = load_backbone(tmp_path / "hf")
    checkpoint.save(backbone, config, tmp_path / "ours", source=source)
    assert (tmp_path / "ours" / "vocab.txt").read_text() == "[PAD]\n[UNK]\n"
    assert json.loads((tmp_path / "ours" / "config.json").read_text())["architectures"] == ["BertModel"]
    again = transformers.AutoModel.from_pretrained(tmp_path / "ours").eval()
    assert type(again) is transformers.BertModel
    assert_same_outputs(backbone.eval(), again, atol=1e-6)


def test_save_atomic_replaces_files_whole_or_leaves_them(tmp_path, monkeypatch):
    write_hf(tmp_path / "hf")
    backbone, config, _ = load_backbone(tmp_path / "hf")
    checkpoint.save_atomic(backbone, config, tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert set(before) == {"model.safetensors", "config.json"}

    def fails(module, config, directory, source=None):
        (Path(directory) / "model.safetensors").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.files, "save", fails)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_atomic(backbone, config, tmp_path / "out")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before  # no staging left


def test_missing_directory_and_missing_weights(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model directory not found"):
        load_backbone(tmp_path / "nope")
    transformers.BertConfig(**TINY).save_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no model.safetensors or pytorch_model.bin"):
        load_backbone(tmp_path)


def test_truncated_safetensors_is_a_checkpoint_error(tmp_path):
    write_hf(tmp_path)
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"model.safetensors: corrupt or truncated safetensors file"):
        load_backbone(tmp_path)


def test_corrupt_and_malicious_pytorch_files_are_refused(tmp_path):
    write_hf(tmp_path, safe=False)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="pytorch_model.bin: corrupt or truncated PyTorch file"):
        load_backbone(tmp_path)

    class RunsCode:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"embeddings.word_embeddings.weight": RunsCode()}, path)
    with pytest.raises(CheckpointError, match="pytorch_model.bin: refused, not a plain weights file") as refused:
        load_backbone(tmp_path)
    message = str(refused.value)
    assert "GLOBAL print" in message and "\x1b" not in message and "\n" not in message
    assert "weights_only" not in message  # PyTorch's advice to load it anyway is not passed on

    path.write_bytes(b"garbage" * 10)  # not a pickle at all: corrupt, not "refused"
    with pytest.raises(CheckpointError, match=r"pytorch_model.bin: corrupt, or not a PyTorch weights file \(Unsup"):
        load_backbone(tmp_path)


def test_config_shapes_that_disagree_with_the_weights(tmp_path):
    write_hf(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "intermediate_size": 128}))
    with pytest.raises(
        CheckpointError,
        match=r"weight encoder.layer.0.intermediate.dense.bias has shape \(64,\) but config.json implies \(128,\)",
    ):
        load_backbone(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 4}))
    with pytest.raises(
        CheckpointError, match=r"lacks 32 weights the config needs \(encoder.layer.2.attention.self.query.weight"
    ):
        load_backbone(tmp_path)


def test_unknown_model_type(tmp_path):
    write_hf(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "electra"}))
    with pytest.raises(CheckpointError, match=r"config.json: unknown model_type 'electra'"):
        load_backbone(tmp_path)


def test_half_precision_files_load_as_float32(tmp_path):
    reference = write_hf(tmp_path / "hf")
    reference.half().save_pretrained(tmp_path / "hf")
    backbone, _, _ = load_backbone(tmp_path / "hf")
    assert all(p.dtype == torch.float32 for p in backbone.parameters())


def test_unregistered_family_member_is_a_clear_error():
    config = BertConfig(model_type="roberta")
    if "roberta" not in checkpoint.ARCHITECTURES:
        with pytest.raises(CheckpointError, match="model_type 'roberta' is not implemented yet"):
            checkpoint.architecture(config)


def test_docstring_examples_run():
    import doctest

    import bertkit.checkpoint

    assert doctest.testmod(bertkit.checkpoint).failed == 0


def test_reads_sharded_safetensors(tmp_path):
    torch.manual_seed(0)
    reference = transformers.BertModel(transformers.BertConfig(**TINY)).eval()
    reference.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (tmp_path / "model.safetensors").exists()
    backbone, _, _ = load_backbone(tmp_path)
    assert_same_outputs(backbone.eval(), reference)


@pytest.mark.parametrize(
    "model_type, hf_class", [("bert", "BertModel"), ("roberta", "RobertaModel"), ("distilbert", "DistilBertModel")]
)
def test_a_bare_encoder_is_written_as_huggingfaces_bare_class(model_type, hf_class, tmp_path):
    config = BertConfig.from_dict({"model_type": model_type, "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 1,
                                   "num_attention_heads": 4, "intermediate_size": 64})  # fmt: skip
    checkpoint.save(checkpoint.architecture(config).backbone(config), config, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [hf_class]
