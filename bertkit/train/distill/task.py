"""Task distillation: a classifier made by `bertkit finetune` teaches a smaller classifier on labelled data."""

from __future__ import annotations

import dataclasses

from torch import nn

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint import TaskSpec
from bertkit.errors import CheckpointError, InputError
from bertkit.preprocessing import Preprocessor
from bertkit.train.distill.losses import LossWeights, task_distillation_terms, weighted_sum
from bertkit.train.distill.options import DistillOptions
from bertkit.train.distill.student import student_and_source
from bertkit.train.finetune import ClassificationObjective, FinetuneOptions, read_data, train_and_plot
from bertkit.train.options import LabeledDataOptions


class TaskDistillation(ClassificationObjective):
    """Fine-tuning's classification objective, with the teacher's logits as extra (soft) targets.

    The teacher's logits for every training and evaluation text are computed once, up front,
    with dropout off: the teacher is frozen, so every epoch would compute the same numbers.
    """

    def __init__(self, pre, spec: TaskSpec, train, evaluation, batch_size: int, seed: int, teacher, weights):
        super().__init__(pre, spec, train, evaluation, batch_size, seed)
        self.weights = weights
        teacher.eval()
        self.teacher_logits = self._predict(teacher, self.train)  # (N, C)
        self.teacher_eval_logits = self._predict(teacher, self.eval)

    def loss(self, model: nn.Module, batch: list[int]):
        logits = self._logits(model, batch)
        device = logits.device
        terms = task_distillation_terms(
            self.weights, logits, self.teacher_logits[batch].to(device), self.train_targets[batch].to(device)
        )
        return weighted_sum(terms, self.weights) * len(batch), len(batch)

    def evaluate(self, model: nn.Module) -> dict:
        logits = self._predict(model, self.eval)
        metrics = self.metrics(logits)
        metrics["teacher_agreement"] = float((logits.argmax(-1) == self.teacher_eval_logits.argmax(-1)).float().mean())
        return metrics


def task_distillation(options: DistillOptions, weights: LossWeights) -> dict:
    """Train the student classifier, keep its best epoch in `options.output`, return the report."""
    teacher_dir = resolve_model_dir(options.teacher)
    spec = TaskSpec.from_config(checkpoint.read_config(teacher_dir))
    if spec is None or spec.kind != "classification" or spec.multi_label or spec.regression:
        what = (
            "no classification head" if spec is None or spec.kind != "classification"
            else "a multi-label head" if spec.multi_label
            else "a regression head"
        )  # fmt: skip
        raise CheckpointError(
            f"{teacher_dir}: the teacher has {what}; task distillation needs a single-label classifier "
            "made by `bertkit finetune` (for a plain encoder, distil on raw text with --corpus)"
        )
    teacher, teacher_config, spec, _ = checkpoint.load_task(teacher_dir)
    files = {field.name: getattr(options, field.name) for field in dataclasses.fields(LabeledDataOptions)}
    as_finetuning = FinetuneOptions(
        train=options.train, output=options.output, task="classification", seed=options.seed, **files
    )
    train, evaluation, data_spec = read_data(as_finetuning)
    unknown = sorted(set(data_spec.labels) - set(spec.labels))
    if unknown:
        raise InputError(
            f"{options.train}: labels the teacher does not know: {', '.join(map(repr, unknown[:8]))}; "
            f"the teacher predicts {', '.join(map(repr, spec.labels))}"
        )
    student, source = student_and_source(
        options, teacher, teacher_dir,
        build=lambda config: checkpoint.build_task(config, spec),
        load=lambda directory: checkpoint.load_task(directory, spec)[0],
    )  # fmt: skip
    pre = Preprocessor.from_pretrained(teacher_dir, seq_length=options.seq_length)
    objective = TaskDistillation(pre, spec, train, evaluation, options.batch_size, options.seed, teacher, weights)
    del teacher  # its logits are all the objective needs from now on
    save = lambda model: checkpoint.save_task(model, model.config, spec, options.output, source)
    _, history = train_and_plot(student, objective, options, "accuracy", save)
    teacher_accuracy = objective.metrics(objective.teacher_eval_logits)["accuracy"]
    best = history.best or {}
    return {
        "labels": spec.labels,
        "teacher": str(teacher_dir),
        "teacher_layers": teacher_config.num_hidden_layers,
        "student_layers": student.config.num_hidden_layers,
        "student_type": student.config.model_type,
        "teacher_accuracy": teacher_accuracy,
        "student_accuracy": best.get("accuracy"),
        "accuracy_kept": (best.get("accuracy") or 0.0) / max(1e-12, teacher_accuracy),
        "teacher_agreement": best.get("teacher_agreement"),
        **history.summary(),
        "train_examples": len(train),
        "eval_examples": len(evaluation),
    }
