"""bertkit/train/distill/student.py: a student holding its teacher's embeddings, chosen layers and heads."""

from __future__ import annotations

import pytest
import torch

from bertkit import checkpoint
from bertkit.checkpoint import TaskSpec
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.train.distill.student import check_layers, make_student, parse_layers, student_config

TINY = dict(vocab_size=60, hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
IDS = torch.tensor([[2, 15, 37, 3, 0, 0], [2, 8, 9, 10, 11, 3]])
MASK = (IDS != 0).long()


def backbone(config):
    return checkpoint.architecture(config).backbone(config)


def teacher_model(**overrides):
    torch.manual_seed(0)
    return BertModel(BertConfig(**{**TINY, **overrides})).eval()


def test_all_layers_copied_give_the_teachers_outputs():
    teacher = checkpoint.load_backbone(None)[0].eval()  # the bundled all-MiniLM-L6-v2
    student = make_student(teacher, backbone, layers=range(6)).eval()
    types = torch.tensor([[0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        ours, theirs = student(IDS + 1000, MASK, types), teacher(IDS + 1000, MASK, types)
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(ours.pooled, theirs.pooled)


def test_half_the_layers_by_default():
    teacher = teacher_model()
    student = make_student(teacher, backbone)
    assert student.config.num_hidden_layers == 2
    assert dataclass_without_layers(student.config) == dataclass_without_layers(teacher.config)
    for j, i in enumerate([0, 2]):
        for (name, a), (_, b) in zip(
            student.transformer.layers[j].state_dict().items(), teacher.transformer.layers[i].state_dict().items()
        ):
            assert torch.equal(a, b), name
    assert torch.equal(student.embeddings.word.weight, teacher.embeddings.word.weight)
    assert torch.equal(student.pooler.dense.weight, teacher.pooler.dense.weight)


def dataclass_without_layers(config):
    return {k: v for k, v in config.to_dict().items() if k != "num_hidden_layers"}


def test_chosen_layers():
    teacher = teacher_model()
    student = make_student(teacher, backbone, layers=parse_layers("1, 3"))
    assert torch.equal(
        student.transformer.layers[1].feed_forward.inner.weight, teacher.transformer.layers[3].feed_forward.inner.weight
    )


def test_distilbert_student_equals_a_bert_teacher_on_single_segments():
    teacher = teacher_model()
    student = make_student(teacher, backbone, layers=range(4), model_type="distilbert").eval()
    assert isinstance(student, DistilBertModel)
    assert student.config.type_vocab_size == 0 and student.embeddings.token_type is None
    with torch.no_grad():
        ours, theirs = student(IDS, MASK), teacher(IDS, MASK, torch.zeros_like(IDS))
    real = MASK.bool()
    for a, b in zip(ours.layers, theirs.layers, strict=True):
        assert (a - b)[real].abs().max() < 1e-5  # (word + position) + type vs word + (position + type)
    assert student.config.to_dict()["n_layers"] == 4


def test_a_classifier_student_keeps_the_teachers_head():
    spec = TaskSpec("classification", ["neg", "pos"])
    teacher = checkpoint.build_task(teacher_model().config, spec).eval()
    student = make_student(teacher, lambda config: checkpoint.build_task(config, spec), layers=range(4)).eval()
    with torch.no_grad():
        assert torch.equal(student(IDS, MASK), teacher(IDS, MASK))
    half = make_student(teacher, lambda config: checkpoint.build_task(config, spec))
    assert torch.equal(half.head.output.weight, teacher.head.output.weight)


def test_weights_without_a_teacher_counterpart_get_berts_initialisation():
    spec = TaskSpec("classification", ["neg", "pos"])
    teacher = checkpoint.build_task(teacher_model().config, spec)
    student = make_student(teacher, lambda config: checkpoint.build_task(config, spec), model_type="distilbert")
    dense = student.head.dense  # DistilBERT's pre-classifier: BERT's classifier has none
    assert abs(float(dense.weight.detach().std()) - 0.02) < 0.005 and torch.equal(
        dense.bias, torch.zeros_like(dense.bias)
    )
    assert all(torch.isfinite(p).all() for p in student.parameters())


@pytest.mark.parametrize(
    "text, message",
    [("0,4", "layer 4 does not exist"), ("a,b", "separated by commas"), ("1,1", "repeat"), ("", "at least one")],
)
def test_bad_layer_choices(text, message):
    with pytest.raises(InputError, match=message):
        check_layers(parse_layers(text), 4)


def test_architectures_a_teacher_can_make():
    roberta = BertConfig(model_type="roberta", pad_token_id=1, **TINY)
    assert student_config(roberta, 2).model_type == "roberta"
    with pytest.raises(InputError, match="roberta teacher makes roberta students, not distilbert"):
        student_config(roberta, 2, "distilbert")


def test_teacher_and_student_must_share_a_vocabulary(tmp_path):
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    for directory, words in ((teacher_dir, ["[PAD]", "a", "b"]), (student_dir, ["[PAD]", "a", "c"])):
        directory.mkdir()
        (directory / "vocab.txt").write_text("\n".join(words) + "\n")
    config = BertConfig(**{**TINY, "vocab_size": 3})
    with pytest.raises(CheckpointError, match="vocabulary .* differs from the teacher's"):
        checkpoint.check_same_vocabulary(teacher_dir, student_dir, config, config)
    (student_dir / "vocab.txt").write_text("[PAD]\na\nb\n")
    checkpoint.check_same_vocabulary(teacher_dir, student_dir, config, config)
    with pytest.raises(CheckpointError, match=r"\(4 tokens\) differs"):
        checkpoint.check_same_vocabulary(teacher_dir, student_dir, config, BertConfig(**{**TINY, "vocab_size": 4}))


def test_docstring_examples_run():
    import doctest

    import bertkit.train.distill.student

    assert doctest.testmod(bertkit.train.distill.student).failed == 0
