"""Distillation on the shared loop: a student learns from a teacher (`bertkit distill`).

Two modes, both on `Trainer` (train/loop.py), so both resume, show progress and plot curves:

    task distillation      a fine-tuned classifier teaches a smaller one on labelled data: its
                           logits are the soft targets, the gold labels the hard ones  (task.py)
    general distillation   any encoder teaches a smaller one on raw text, DistilBERT's recipe,
                           masks drawn afresh each epoch by pretraining's data      (general.py)

The loss terms are pure functions in losses.py. The student starts from the teacher
(student.py: embeddings and every other layer by default) or from a checkpoint of its own
(`student=DIR`, same vocabulary required), and is written as an ordinary checkpoint that
`bertkit predict` / `encode` / `fill-mask` and `transformers` load. Distilling the classifier
that the example of `bertkit.train.finetune` makes (a minute of CPU;
tests/cli/test_distill_command.py runs the same steps on a tiny teacher):

    >>> report = distill(DistillOptions(teacher=folder / "model", train=folder / "train.csv",
    ...                                 output=folder / "student", epochs=2, batch_size=4,
    ...                                 progress=False))  # doctest: +SKIP
    >>> report["student_layers"], bertkit.load(folder / "student").predict(["free prize, call now"])[0]["label"]  # doctest: +SKIP
    (3, 'spam')
"""

from __future__ import annotations

import dataclasses
import time

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.train.distill.general import general_distillation
from bertkit.train.distill.options import DistillOptions
from bertkit.train.distill.student import check_layers
from bertkit.train.distill.task import task_distillation
from bertkit.train.loop import write_report

__all__ = ["DistillOptions", "distill", "format_report"]


def distill(options: DistillOptions) -> dict:
    """Train the student, keep its best epoch in `options.output`, return the report."""
    started = time.perf_counter()
    if options.layers is not None:  # a layer the teacher lacks is a typo: say so before any data is read
        check_layers(options.layers, checkpoint.read_config(resolve_model_dir(options.teacher)).num_hidden_layers)
    weights = options.weights()
    run = task_distillation if options.mode == "task" else general_distillation
    report = run(options, weights)
    report.update(mode=options.mode, weights=dataclasses.asdict(weights))
    return write_report(options.output, report, started)


def format_report(report: dict) -> str:
    """The final report as a person reads it."""
    best = report.get("best") or {}
    lines = [f"{report['mode']} distillation: {report['teacher_layers']}-layer teacher -> "
             f"{report['student_layers']}-layer {report['student_type']} student, {report['seconds']:.0f} s"]  # fmt: skip
    if report["mode"] == "task":
        lines.append(
            f"accuracy: teacher {report['teacher_accuracy']:.4f}, student {report['student_accuracy']:.4f} "
            f"({report['accuracy_kept']:.1%} kept), agreement with the teacher {report['teacher_agreement']:.4f}"
        )
    else:
        terms = "  ".join(f"{k} {v:.4f}" for k, v in best.items() if k.endswith("_loss") or k == "mlm_accuracy")
        lines.append(f"held-out: {terms}")
    lines.append(f"student saved to {report['output']}")
    return "\n".join(lines)
