"""Fine-tuned task models on disk: which task a checkpoint holds, loading it, saving it.

A fine-tuned directory is a HuggingFace one: `config.json` names the task class
(`BertForSequenceClassification`, `BertForTokenClassification`, ...) in `architectures` and
carries the label names as `id2label` / `label2id` and `problem_type` (single-label,
multi-label, or regression: one output, `id2label` {0: "LABEL_0"}), so
`transformers`' `AutoModelFor*` classes and `AutoTokenizer` load it as they load their own.

    >>> spec = TaskSpec("classification", ["ham", "spam"])
    >>> spec.hf_config()["id2label"]
    {'0': 'ham', '1': 'spam'}
    >>> TaskSpec.regression_spec().hf_config()["problem_type"]
    'regression'
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from torch import nn

from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.files import read_config, save_atomic
from bertkit.checkpoint.names import (
    PROBLEM_TYPE,
    REGRESSION,
    REGRESSION_LABELS,
    TASK_CLASS_SUFFIX,
    architecture,
    task_class,
)
from bertkit.checkpoint.weights import empty_weights, load_weights
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.bert import init_weights
from bertkit.modeling.classification import SequenceClassifier, TokenClassifier
from bertkit.modeling.config import BertConfig

# kind -> the task model's class (backbone + head); a new head joins here and in
# `names.TASK_CLASS_SUFFIX` (its HuggingFace class) and its architectures' weight tables.
TASK_MODELS = {"classification": SequenceClassifier, "tagging": TokenClassifier}


@dataclasses.dataclass
class TaskSpec:
    """What a fine-tuned model predicts: its kind and its label names (index = class id)."""

    kind: str  # "classification" (a label per text or pair) or "tagging" (a label per word)
    labels: list[str]
    multi_label: bool = False  # classification only: any number of labels per text
    regression: bool = False  # classification only: one output, a score (MSE loss)

    def __post_init__(self) -> None:
        if self.kind not in TASK_MODELS:
            raise InputError(f"unknown task {self.kind!r}; choose one of {', '.join(TASK_MODELS)}")
        if len(set(self.labels)) != len(self.labels):
            raise InputError(f"label names repeat: {self.labels}")
        if self.regression and (self.kind != "classification" or self.multi_label or len(self.labels) != 1):
            raise InputError("a regression head is a single-label classifier with one output")

    @classmethod
    def regression_spec(cls) -> TaskSpec:
        """One output, a score: transformers' `problem_type="regression"` with `num_labels=1`."""
        return cls("classification", list(REGRESSION_LABELS), regression=True)

    def hf_config(self) -> dict[str, Any]:
        """The config.json keys HuggingFace reads for this task."""
        keys: dict[str, Any] = {
            "id2label": {str(i): name for i, name in enumerate(self.labels)},
            "label2id": {name: i for i, name in enumerate(self.labels)},
        }
        if self.kind == "classification":
            keys["problem_type"] = REGRESSION if self.regression else PROBLEM_TYPE[self.multi_label]
        return keys

    @classmethod
    def from_config(cls, config: BertConfig) -> TaskSpec | None:
        """The task of a fine-tuned checkpoint's config; None for a bare encoder."""
        architectures = config.extra.get("architectures") or []
        kind = next((k for k, suffix in TASK_CLASS_SUFFIX.items() for a in architectures if a.endswith(suffix)), None)
        if kind is None:
            return None
        id2label = config.extra.get("id2label")
        if id2label is None:  # transformers >= 5 leaves out its default: num_labels (2) named LABEL_i
            count = config.extra.get("num_labels", 2)
            if not isinstance(count, int) or count < 1:
                raise CheckpointError(f"config.json: num_labels must be a positive number, got {count!r}")
            id2label = {str(i): f"LABEL_{i}" for i in range(count)}
        if not isinstance(id2label, dict) or not id2label:
            raise CheckpointError(f"config.json names a {architectures[0]} but has no usable id2label")
        try:
            labels = [id2label[key] for key in sorted(id2label, key=int)]
        except ValueError:
            raise CheckpointError(f"config.json: id2label keys must be class numbers, got {list(id2label)}") from None
        problem = config.extra.get("problem_type")
        regression = kind == "classification" and problem == REGRESSION and len(labels) == 1
        return cls(
            kind, [str(label) for label in labels], multi_label=problem == PROBLEM_TYPE[True], regression=regression
        )


def task_of(model: str | Path | None) -> TaskSpec | None:
    """The task a checkpoint directory was fine-tuned for; None for an encoder."""
    return TaskSpec.from_config(read_config(resolve_model_dir(model)))


def build_task(config: BertConfig, spec: TaskSpec) -> nn.Module:
    """A task model with random weights (BERT initialisation)."""
    backbone = architecture(config).backbone(config)
    return TASK_MODELS[spec.kind](backbone, config, len(spec.labels))


def load_task(model: str | Path | None, spec: TaskSpec | None = None) -> tuple[nn.Module, BertConfig, TaskSpec, Path]:
    """A task model from a checkpoint directory (None = the bundled default).

    With `spec`, a new head for those labels goes on the checkpoint's encoder (the start of
    fine-tuning); without it, the checkpoint must be a fine-tuned one and its head is loaded.
    """
    directory = resolve_model_dir(model)
    config = read_config(directory)
    saved = TaskSpec.from_config(config)
    if spec is None:
        if saved is None:
            raise CheckpointError(
                f"{directory}: not a fine-tuned model (config.json names no classification or tagging "
                "architecture); fine-tune it first with `bertkit finetune`"
            )
        spec = saved
    config = with_task(config, spec)
    reuse_head = saved == spec
    with empty_weights():
        module = build_task(config, spec)
    if not reuse_head:  # a new head: leave it out of the file's reach, initialise it below
        head = module.head
        module.head = nn.Identity()
    load_weights(module, directory, config)
    if not reuse_head:
        module.head = head.to_empty(device="cpu")
        head.apply(lambda m: init_weights(m, config))
    return module, config, spec, directory


def with_task(config: BertConfig, spec: TaskSpec) -> BertConfig:
    """`config` with the task's HuggingFace class and label names."""
    extra = {k: v for k, v in config.extra.items() if k not in ("id2label", "label2id", "problem_type")}
    extra.update(spec.hf_config(), architectures=[task_class(config, spec.kind)])
    return dataclasses.replace(config, extra=extra)


def save_task(
    module: nn.Module, config: BertConfig, spec: TaskSpec, directory: str | Path, source: Path | None
) -> Path:
    """Write a HuggingFace directory for the task model, each file replaced atomically (`save_atomic`)."""
    return save_atomic(module, with_task(config, spec), directory, source=source)
