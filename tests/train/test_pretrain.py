"""bertkit/train/pretrain.py from Python: the recipe of each architecture, the report, resuming
on the prepared data. (`bertkit pretrain` end to end: tests/cli/test_pretrain_command.py.)"""

import json
import re

import pytest

from bertkit import checkpoint
from bertkit.errors import InputError
from bertkit.train.pretrain import RECIPES, PretrainOptions, format_report, pretrain

TINY = dict(layers=1, hidden=32, heads=2, vocab_size=300, seq_length=32, batch_size=8, max_steps=2, epochs=1,
            dupe_factor=1, progress=False, precision="fp32")  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    documents = [[f"line {s} of note {d} tells of {'apples' if d % 2 else 'pears'} and rain." for s in range(5)]
                 for d in range(44)]  # fmt: skip
    path.write_text("\n\n".join("\n".join(doc) for doc in documents) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "architecture, model_class", [("bert", "BertForPreTraining"), ("roberta", "RobertaForMaskedLM")]
)
def test_each_recipe_learns_its_vocabulary_and_trains_its_model(corpus, tmp_path, architecture, model_class):
    said = []
    options = PretrainOptions(corpus=[corpus], output=tmp_path / "model", architecture=architecture, **TINY)
    report = pretrain(options, say=said.append)
    recipe = RECIPES[architecture]
    assert re.fullmatch(
        rf"vocabulary: \d+ {recipe.vocabulary} tokens learned from {corpus} -> .*/{recipe.vocab_file}", said[0]
    )
    assert said[1].startswith("corpus: 1 file(s), ") and report["data"]["held_out_documents"] == 2
    assert report["model_class"] == model_class and format_report(report).startswith(
        f"saved {tmp_path / 'model'} ({model_class})"
    )
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["model_type"] == architecture and config["architectures"] == [model_class]
    assert ("nsp_accuracy" in report["best"]) == recipe.next_sentence
    assert checkpoint.has_mlm_head(tmp_path / "model")

    said.clear()
    resumed = pretrain(PretrainOptions(output=tmp_path / "model", architecture=architecture, resume=True,
                                       **{**TINY, "max_steps": 3}), say=said.append)  # fmt: skip
    assert said == [f"data: reusing the instances in {tmp_path / 'model' / 'data'}"] and resumed["data"] is None


def test_options_a_run_cannot_use(tmp_path):
    with pytest.raises(InputError, match="give the text to pretrain on"):
        pretrain(PretrainOptions(output=tmp_path, **TINY))
    with pytest.raises(InputError, match="unknown architecture 'electra'; choose bert or roberta"):
        pretrain(PretrainOptions(corpus=["c.txt"], output=tmp_path, architecture="electra", **TINY))
