"""Task specs in config.json, task models saved and loaded, and what predict() returns."""

from __future__ import annotations

import json

import pytest
import tiny_models
import torch

import bertkit  # noqa: E402
from bertkit import checkpoint  # noqa: E402
from bertkit.checkpoint import TaskSpec  # noqa: E402
from bertkit.errors import CheckpointError, InputError  # noqa: E402


def test_spec_round_trips_through_config_json_keys():
    spec = TaskSpec("classification", ["b", "a", "c"], multi_label=True)
    keys = spec.hf_config()
    assert keys["label2id"] == {"b": 0, "a": 1, "c": 2} and keys["problem_type"] == "multi_label_classification"
    with pytest.raises(InputError, match="unknown task"):
        TaskSpec("regression", ["x"])


def test_a_new_head_goes_on_a_base_model_and_saved_models_load_their_own(tmp_path):
    base = tiny_models.tiny_bert_dir(tmp_path / "base")
    spec = TaskSpec("tagging", ["O", "B-X"])
    model, config, loaded_spec, _ = checkpoint.load_task(base, spec)
    assert loaded_spec == spec and model.num_labels == 2
    assert model.head.output.weight.std().item() == pytest.approx(0.02, rel=0.3)  # BERT's init, not the default
    checkpoint.save_task(model, config, spec, tmp_path / "tagger", source=base)
    assert not list((tmp_path / "tagger").glob(".saving-*"))
    saved = json.loads((tmp_path / "tagger" / "config.json").read_text())
    assert saved["architectures"] == ["BertForTokenClassification"] and "problem_type" not in saved
    again, _, again_spec, _ = checkpoint.load_task(tmp_path / "tagger")
    assert again_spec == spec
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(CheckpointError, match="not a fine-tuned model"):
        checkpoint.load_task(base)


def test_predict_input_checks(tmp_path):
    base = tiny_models.tiny_bert_dir(tmp_path / "base")
    spec = TaskSpec("classification", ["ham", "spam"])
    model, config, _, _ = checkpoint.load_task(base, spec)
    checkpoint.save_task(model, config, spec, tmp_path / "clf", source=base)
    pipeline = bertkit.load(tmp_path / "clf")
    (result,) = pipeline.predict(["hello"])
    assert set(result) == {"label", "score", "scores"} and sum(result["scores"].values()) == pytest.approx(1.0)
    with pytest.raises(InputError, match="not one string"):
        pipeline.predict("hello")
    with pytest.raises(InputError, match="pairs need as many"):
        pipeline.predict(["a", "b"], ["x"])
    assert pipeline.embed(["hello"]).shape == (1, 32)  # the encoder is the task model's own
