"""A student initialised from its teacher: the embeddings and a subset of the layers.

DistilBERT starts its 6-layer student from BERT-base by copying the embeddings and one layer
out of two (Sanh et al. 2019, section 3: "taking one layer out of two"), which gives the
student a good start: the layers it keeps already work together. Here the layers are a
choice (`layers=[0, 2, 4]`, the default being every other one), and so is the student's
architecture:

- the teacher's own (a 3-layer BERT from a 6-layer BERT; what `transformers` calls a
  DistilRoBERTa is a 6-layer RoBERTa of this kind), every weight copied, heads included;
- DistilBERT's, from a BERT teacher: no token types and no pooler. The teacher's token-type
  embedding of segment A is added into the position table, so a student with all the
  teacher's layers computes exactly what the teacher computes on single-segment input.

    >>> from bertkit.modeling.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> teacher = BertModel(BertConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
    ...                                intermediate_size=64))
    >>> student = make_student(teacher, lambda config: BertModel(config))
    >>> student.config.num_hidden_layers, student.config.model_type
    (2, 'bert')
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.errors import InputError
from bertkit.modeling.bert import init_weights
from bertkit.modeling.config import BertConfig
from bertkit.train.distill.options import DistillOptions

log = logging.getLogger("bertkit")

STUDENT_TYPES = {"bert": ("bert", "distilbert"), "distilbert": ("distilbert",), "roberta": ("roberta",)}
_LAYER = re.compile(r"(^|\.)transformer\.layers\.(\d+)\.")
_TOKEN_TYPE, _POSITION = "embeddings.token_type.weight", "embeddings.position.weight"


def parse_layers(text: str) -> list[int]:
    """'0,2,4' -> [0, 2, 4] (`check_layers` holds them against the teacher)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(
            f"--layers takes teacher layer numbers separated by commas (e.g. 0,2,4), got {text!r}"
        ) from None


def check_layers(layers: Sequence[int], num_layers: int) -> None:
    if not layers:
        raise InputError("the student needs at least one layer")
    bad = [i for i in layers if not 0 <= i < num_layers]
    if bad:
        raise InputError(f"teacher layer {bad[0]} does not exist: the teacher has layers 0 to {num_layers - 1}")
    if len(set(layers)) != len(layers):
        raise InputError(f"teacher layers repeat in {list(layers)}")


def student_config(teacher: BertConfig, num_layers: int, model_type: str | None = None) -> BertConfig:
    """The teacher's configuration with fewer layers, in the teacher's or DistilBERT's architecture."""
    model_type = model_type or teacher.model_type
    if model_type not in STUDENT_TYPES[teacher.model_type]:
        raise InputError(
            f"a {teacher.model_type} teacher makes {' or '.join(STUDENT_TYPES[teacher.model_type])} "
            f"students, not {model_type}"
        )
    config = dataclasses.replace(teacher, num_hidden_layers=num_layers, extra=dict(teacher.extra))
    if model_type != teacher.model_type:  # BERT -> DistilBERT: no token types, learned positions
        config = dataclasses.replace(config, model_type=model_type, type_vocab_size=0, sinusoidal_positions=False)
    return config


def make_student(
    teacher: nn.Module,
    build: Callable[[BertConfig], nn.Module],
    layers: Sequence[int] | None = None,
    model_type: str | None = None,
) -> nn.Module:
    """A student built by `build(config)` holding the teacher's embeddings, chosen layers and heads.

    `teacher` is a backbone or a task model with `.backbone` (and `.config`); `build` makes the
    same kind of model for the student's configuration (it is built on the meta device, then
    filled). Weights the teacher has no counterpart for (a DistilBERT classifier's head from a
    BERT teacher) get BERT's initialisation.
    """
    config = teacher.config
    # DistilBERT's default: every other layer, 0, 2, 4, ... (half of them, rounded up)
    layers = list(range(0, config.num_hidden_layers, 2)) if layers is None else list(layers)
    check_layers(layers, config.num_hidden_layers)
    config = student_config(config, len(layers), model_type)
    with torch.device("meta"):  # no memory and no random init for what the teacher fills anyway
        student = build(config)
    student = student.to_empty(device=next(teacher.parameters()).device)
    _initialise(student, copy_weights(teacher, student, layers), config)
    return student


@torch.no_grad()
def copy_weights(teacher: nn.Module, student: nn.Module, layers: Sequence[int]) -> list[str]:
    """Fill `student` from `teacher` (student layer j <- teacher layer layers[j], the rest by name);
    returns the names of the student's weights the teacher has no counterpart for."""
    source, targets = teacher.state_dict(), student.state_dict()
    fresh = []
    for name, target in targets.items():
        teacher_name = _LAYER.sub(lambda m: f"{m.group(1)}transformer.layers.{layers[int(m.group(2))]}.", name)
        value = source.get(teacher_name)
        token_type = name.removesuffix(_POSITION) + _TOKEN_TYPE
        if name.endswith(_POSITION) and token_type in source and token_type not in targets:
            # DistilBERT has no token types: segment A's embedding joins every position's.
            value = value + source[token_type][0]
        if value is None or value.shape != target.shape:
            fresh.append(name)
            continue
        target.copy_(value)
    if fresh:
        log.info("student weights without a teacher counterpart, initialised afresh: %s", ", ".join(fresh))
    return fresh


@torch.no_grad()
def _initialise(student: nn.Module, names: Sequence[str], config: BertConfig) -> None:
    """BERT's initialisation for the weights `names`; a bare parameter (an output bias) starts at 0."""
    for name in names:
        owner, _, leaf = name.rpartition(".")
        module = student.get_submodule(owner)
        if isinstance(module, (nn.Linear, nn.Embedding, nn.LayerNorm)):
            init_weights(module, config)
        else:
            getattr(module, leaf).zero_()


def student_and_source(options: DistillOptions, teacher: nn.Module, teacher_dir: Path, build, load):
    """(student, the directory whose tokenizer files the student's checkpoint gets): made from
    the teacher by `build`, or read from `options.student` by `load`."""
    if options.student is None:
        torch.manual_seed(options.seed)  # weights the teacher has no counterpart for
        return make_student(teacher, build, options.layers, options.student_type), teacher_dir
    if options.layers is not None or options.student_type is not None:
        raise InputError("--layers and --student-type shape a student made from the teacher; drop them with --student")
    student_dir = resolve_model_dir(options.student)
    checkpoint.check_same_vocabulary(teacher_dir, student_dir, teacher.config, checkpoint.read_config(student_dir))
    return load(student_dir), student_dir
