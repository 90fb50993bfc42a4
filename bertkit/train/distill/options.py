"""What to distil: the teacher, the data, the student and the loss, on top of `TrainingOptions`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bertkit.errors import InputError
from bertkit.train.distill.losses import LossWeights
from bertkit.train.options import LabeledDataOptions, TrainingOptions


@dataclasses.dataclass
class DistillOptions(TrainingOptions, LabeledDataOptions):
    """What to distil; how to train and read labelled files: the fields of the two base classes."""

    output: str | Path
    teacher: str | Path | None = None  # None: the bundled all-MiniLM-L6-v2
    # the data: raw text (general distillation) or labelled files (task distillation)
    corpus: list[str | Path] | None = None
    train: str | Path | None = None
    # the student
    student: str | Path | None = None  # start from this checkpoint instead of the teacher's layers
    layers: list[int] | None = None  # teacher layers the student keeps; None: every other one
    student_type: str | None = None  # "distilbert" for DistilBERT's architecture; None: the teacher's
    # the loss (None: the recipe's default for the mode, see `LossWeights`)
    temperature: float = 2.0
    alpha_ce: float | None = None
    alpha_mlm: float | None = None
    alpha_cos: float | None = None
    alpha_hard: float | None = None

    @property
    def mode(self) -> str:
        if (self.corpus is None) == (self.train is None):
            raise InputError("give either --corpus (general distillation) or --train (task distillation)")
        return "general" if self.corpus is not None else "task"

    def weights(self) -> LossWeights:
        given = {"ce": self.alpha_ce, "mlm": self.alpha_mlm, "cos": self.alpha_cos, "hard": self.alpha_hard}
        given = {name: value for name, value in given.items() if value is not None}
        applies = {"general": ("ce", "mlm", "cos"), "task": ("ce", "hard")}[self.mode]
        for name, value in given.items():
            if name not in applies and value:
                raise InputError(
                    f"--alpha-{name} does not apply to {self.mode} distillation, which weighs "
                    + ", ".join(f"--alpha-{n}" for n in applies)
                )
        recipe = LossWeights.general if self.mode == "general" else LossWeights.task
        return recipe(temperature=self.temperature, **{n: v for n, v in given.items() if n in applies})
