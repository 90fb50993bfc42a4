"""bertkit/train/distill/ (task.py, general.py): task and general distillation on the shared loop, end to end on tiny models.

Teachers are small random models (hidden 32) with the bundled model's vocabulary, written in
tmp dirs; the student checkpoints they produce must load in bertkit and in `transformers`.
"""

from __future__ import annotations

import json

import pytest
import torch
import transformers

from bertkit import checkpoint
from bertkit.bundled import default_model_dir
from bertkit.checkpoint import TaskSpec
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.config import BertConfig
from bertkit.train.distill import DistillOptions, distill, format_report

SMALL = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
SPEC = TaskSpec("classification", ["ham", "spam"])
ROWS = [
    ("free prize, call now to claim", "spam"),
    ("see you at lunch tomorrow", "ham"),
    ("you have won a cash award, text WIN", "spam"),
    ("running late, start without me", "ham"),
] * 6
CORPUS = "/usr/share/common-licenses/Apache-2.0"  # real text: a sentence-ish line each


def small_config(**overrides) -> BertConfig:
    return BertConfig(**{**SMALL, **overrides})


@pytest.fixture(scope="module")
def classifier_teacher(tmp_path_factory):
    directory = tmp_path_factory.mktemp("teacher")
    torch.manual_seed(0)
    config = small_config()
    checkpoint.save_task(checkpoint.build_task(config, SPEC), config, SPEC, directory, source=default_model_dir())
    return directory


@pytest.fixture(scope="module")
def mlm_teacher(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mlm_teacher")
    torch.manual_seed(0)
    checkpoint.save_pretraining(
        checkpoint.build_pretraining(small_config(), next_sentence=False), directory, source=default_model_dir()
    )
    return directory


@pytest.fixture
def labelled(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in ROWS), encoding="utf-8")
    return path


def options(**kwargs) -> DistillOptions:
    defaults = dict(epochs=1, batch_size=8, seq_length=32, progress=False, learning_rate=1e-3)
    return DistillOptions(**{**defaults, **kwargs})


def hf_inputs(directory, texts):
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    return tokenizer(texts, padding=True, return_tensors="pt")


def test_task_distillation_writes_a_smaller_classifier_everything_loads(classifier_teacher, labelled, tmp_path):
    out = tmp_path / "student"
    report = distill(options(teacher=classifier_teacher, train=labelled, output=out, epochs=2))
    assert (report["mode"], report["teacher_layers"], report["student_layers"]) == ("task", 4, 2)
    assert 0.0 <= report["student_accuracy"] <= 1.0 and "teacher_agreement" in report["best"]
    assert (out / "training_curves.png").stat().st_size > 0
    assert json.loads((out / "training" / "report.json").read_text())["weights"]["ce"] == 0.5
    assert "kept" in format_report(report)

    model, config, spec, _ = checkpoint.load_task(out)
    assert config.num_hidden_layers == 2 and spec == SPEC
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    texts = ["free prize, call now", "lunch?"]
    inputs = hf_inputs(out, texts)
    with torch.no_grad():
        ours = model.eval()(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"])
        theirs = reference(**inputs).logits
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_task_distillation_resumes(classifier_teacher, labelled, tmp_path):
    out = tmp_path / "student"
    distill(options(teacher=classifier_teacher, train=labelled, output=out, epochs=1))
    report = distill(options(teacher=classifier_teacher, train=labelled, output=out, epochs=2, resume=True))
    history = json.loads((out / "training" / "history.json").read_text())
    assert report["epochs_run"] == 2 and [e["epoch"] for e in history["epochs"]] == [0, 1]


def test_distilbert_student_from_a_bert_classifier(classifier_teacher, labelled, tmp_path):
    out = tmp_path / "student"
    distill(options(teacher=classifier_teacher, train=labelled, output=out, student_type="distilbert", layers=[1, 3]))
    config = json.loads((out / "config.json").read_text())
    assert (config["model_type"], config["n_layers"], config["architectures"]) == (
        "distilbert",
        2,
        ["DistilBertForSequenceClassification"],
    )
    model = checkpoint.load_task(out)[0].eval()
    reference = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    inputs = hf_inputs(out, ["free prize, call now"])
    with torch.no_grad():
        assert torch.allclose(model(inputs["input_ids"], inputs["attention_mask"]), reference(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits, atol=1e-5)  # fmt: skip


def test_general_distillation_distilbert_recipe(mlm_teacher, tmp_path):
    out = tmp_path / "student"
    report = distill(options(teacher=mlm_teacher, corpus=[CORPUS], output=out, max_steps=3, student_type="distilbert"))
    assert report["mode"] == "general" and report["weights"] == {
        "temperature": 2.0, "ce": 5.0, "mlm": 2.0, "cos": 1.0, "hard": 0.0
    }  # fmt: skip
    best = report["best"]
    assert {"ce_loss", "mlm_loss", "cos_loss", "loss", "mlm_accuracy"} <= set(best)
    assert best["loss"] == pytest.approx(5 * best["ce_loss"] + 2 * best["mlm_loss"] + best["cos_loss"], rel=1e-5)

    # a DistilBERT masked LM with half the layers, that transformers reads with the same logits
    assert checkpoint.has_mlm_head(out)
    model = checkpoint.load_pretraining(out)[0].eval()
    assert (model.config.model_type, model.config.num_hidden_layers) == ("distilbert", 2)
    reference = transformers.AutoModelForMaskedLM.from_pretrained(out).eval()
    assert type(reference).__name__ == "DistilBertForMaskedLM"
    inputs = hf_inputs(out, ["the license is granted [MASK] you"])
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        assert torch.allclose(
            model(ids, mask).mlm_logits, reference(input_ids=ids, attention_mask=mask).logits, atol=1e-4
        )


def test_general_distillation_of_hidden_states_alone(tmp_path):
    teacher = tmp_path / "teacher"
    torch.manual_seed(0)
    config = small_config()
    checkpoint.save(checkpoint.architecture(config).backbone(config), config, teacher, source=default_model_dir())
    out = tmp_path / "student"
    report = distill(options(teacher=teacher, corpus=[CORPUS], output=out, alpha_ce=0.0, alpha_mlm=0.0, max_steps=2))
    assert set(report["weights"]) >= {"cos"} and "cos_loss" in report["best"] and "ce_loss" not in report["best"]
    assert transformers.AutoModel.from_pretrained(out).config.num_hidden_layers == 2


# --- refused, with one clear line ------------------------------------------------------------------


def test_a_teacher_without_a_classifier_cannot_teach_a_task(labelled, tmp_path):
    with pytest.raises(CheckpointError, match="no classification head; task distillation needs"):
        distill(options(teacher=None, train=labelled, output=tmp_path / "s"))  # the bundled sentence encoder


def test_soft_targets_over_the_vocabulary_need_an_mlm_head(tmp_path):
    with pytest.raises(CheckpointError, match="no masked-LM head, which --alpha-ce and --alpha-mlm need"):
        distill(options(teacher=None, corpus=[CORPUS], output=tmp_path / "s"))


def test_a_student_with_another_vocabulary_is_refused(classifier_teacher, labelled, tmp_path):
    other = tmp_path / "other"
    config = small_config(vocab_size=40)
    checkpoint.save_task(checkpoint.build_task(config, SPEC), config, SPEC, other, source=None)
    (other / "vocab.txt").write_text("\n".join(f"w{i}" for i in range(40)) + "\n")
    with pytest.raises(CheckpointError, match="vocabulary .* differs from the teacher's"):
        distill(options(teacher=classifier_teacher, train=labelled, output=tmp_path / "s", student=other))


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(corpus=None, train=None), "give either --corpus"),
        (dict(alpha_hard=1.0), "--alpha-hard does not apply to general distillation"),
        (dict(alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=0.0), "every loss weight is 0"),
        (dict(temperature=0.0), "temperature must be positive"),
    ],
)
def test_bad_options(bad, message, tmp_path):
    with pytest.raises(InputError, match=message):
        distill(options(**{"corpus": [CORPUS], "output": tmp_path / "s", **bad}))


def test_labels_the_teacher_does_not_know(classifier_teacher, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,label\n" + "a,ham\nb,spam\nc,eggs\n" * 4, encoding="utf-8")
    with pytest.raises(InputError, match="labels the teacher does not know: 'eggs'"):
        distill(options(teacher=classifier_teacher, train=path, output=tmp_path / "s"))


def test_docstring_examples_run():
    import doctest

    import bertkit.train.distill

    assert doctest.testmod(bertkit.train.distill).failed == 0  # the training steps are skipped: see the CLI test
