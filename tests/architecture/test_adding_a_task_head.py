"""docs/architecture.md's "add a new task head", followed step by step for a toy head.

The toy: a scorer, one number per text from the first token's final state through its own
dense layer (the shape of a reranker's head). The steps, as the page lists them:

1. modeling/classification.py  the head (`uses_pooler`, forward on the backbone's output) and
                               the task model (`TaskModel`: backbone + head)
2. checkpoint/task.py          its kind in TASK_MODELS
3. checkpoint/names.py         its HuggingFace class suffix (TASK_CLASS_SUFFIX) and its weights'
                               names in each architecture's table (`heads` rows)

after which build / save / load, `bertkit.load().predict`'s batching path
(`tasks.prediction.text_logits`) and `transformers`-style config.json files take it.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import bertkit
from bertkit import checkpoint
from bertkit.checkpoint import names, task
from bertkit.modeling.classification import TaskModel
from bertkit.modeling.config import BertConfig
from bertkit.tasks import prediction


class ScorerHead(nn.Module):  # step 1
    uses_pooler = False

    def __init__(self, config: BertConfig, num_labels: int):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.score = nn.Linear(config.hidden_size, num_labels)

    def forward(self, out) -> torch.Tensor:  # -> (B, 1)
        return self.score(torch.tanh(self.dense(out.sequence[:, 0])))


class Scorer(TaskModel):
    def __init__(self, backbone: nn.Module, config: BertConfig, num_labels: int):
        super().__init__(backbone, ScorerHead(config, num_labels), config, num_labels)


@pytest.fixture
def scorer_kind(monkeypatch):
    monkeypatch.setitem(task.TASK_MODELS, "scoring", Scorer)  # step 2
    monkeypatch.setitem(names.TASK_CLASS_SUFFIX, "scoring", "ForToyScoring")  # step 3
    rows = [("head.dense", "scorer.dense"), ("head.score", "scorer.out")]
    monkeypatch.setattr(names.BERT_WEIGHTS, "heads", rows + names.BERT_WEIGHTS.heads)


SPEC_KWARGS = {"kind": "scoring", "labels": ["score"]}


def test_a_new_head_builds_saves_and_loads_under_its_own_names(scorer_kind, tmp_path):
    spec = checkpoint.TaskSpec(**SPEC_KWARGS)
    model, config, spec, source = checkpoint.load_task(None, spec)  # the bundled encoder + a new head
    assert isinstance(model, Scorer) and model.backbone.pooler is None
    checkpoint.save_task(model, config, spec, tmp_path, source)

    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["architectures"] == ["BertForToyScoring"] and saved["id2label"] == {"0": "score"}
    stored = set(checkpoint.read_weights(tmp_path / "model.safetensors"))
    assert {"scorer.dense.weight", "scorer.out.bias"} <= stored and "bert.embeddings.word_embeddings.weight" in stored

    again, _, again_spec, _ = checkpoint.load_task(tmp_path)  # the head is found from config.json
    assert again_spec == spec and isinstance(again, Scorer)
    for ours, theirs in zip(model.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(ours, theirs, atol=0, rtol=0)


def test_a_new_head_runs_on_the_shared_batching_path_in_input_order(scorer_kind, tmp_path):
    model, config, spec, source = checkpoint.load_task(None, checkpoint.TaskSpec(**SPEC_KWARGS))
    model.eval()
    pre = bertkit.Preprocessor.from_pretrained()
    texts = ["a short one", "a rather longer text, so that it lands in another batch " * 3, "mid length text here"]
    scores = prediction.text_logits(model, pre, pre.encode(texts), batch_size=1)
    assert scores.shape == (3, 1)
    for text, score in zip(texts, scores):
        one = pre([text], padding="longest")
        expected = model(*prediction.model_inputs(one, torch.device("cpu"))).detach()
        assert abs(float(expected) - float(score[0])) < 1e-5


def test_an_unregistered_kind_is_one_clear_error():
    with pytest.raises(bertkit.BertkitError, match="unknown task 'scoring'; choose one of classification, tagging"):
        checkpoint.TaskSpec(**SPEC_KWARGS)
