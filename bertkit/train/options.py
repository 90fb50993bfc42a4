"""The training options: one dataclass that the loop reads and that `FinetuneOptions`,
`DistillOptions` and `PretrainOptions` extend; `bertkit.cli.training` fills it from the same
flags for the three commands. (And how labelled files are read, for the first two.)

    >>> options = TrainingOptions(epochs=2, learning_rate=1e-4)
    >>> options.batch_size, options.precision
    (32, 'auto')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bertkit.errors import InputError

PRECISIONS = ("auto", "bf16", "fp32")


@dataclasses.dataclass(kw_only=True)
class TrainingOptions:
    """How to train. Keyword-only, so the options built on it keep their own required fields first."""

    seq_length: int = 128  # longest example in tokens
    batch_size: int = 32  # examples per optimizer step, all processes together
    epochs: int = 3
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup: float = 0.1  # fraction of the optimizer steps spent warming the learning rate up
    max_grad_norm: float | None = 1.0
    accumulation: int = 1  # micro-batches per optimizer step
    precision: str = "auto"  # "auto" (bf16 where the hardware has it), "bf16" or "fp32"
    seed: int = 42
    patience: int | None = None  # stop after this many epochs without improvement
    save_every: int = 0  # optimizer steps between resumable checkpoints (0: at epoch ends only)
    max_steps: int | None = None  # stop early after this many optimizer steps
    resume: bool = False  # continue from the checkpoint in the output directory
    progress: bool = True
    device: str | None = None  # None: cuda:LOCAL_RANK when there is a GPU, else cpu
    threads: int | None = None  # CPU threads for PyTorch; None: PyTorch's choice (all cores)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; choose auto, bf16 or fp32")
        if self.epochs < 1 or self.accumulation < 1:
            raise InputError("epochs and accumulation must be at least 1")


@dataclasses.dataclass(kw_only=True)
class LabeledDataOptions:
    """How labelled .csv / .tsv / .jsonl files are read (`bertkit.data.labeled`): fine-tuning, task distillation."""

    eval: str | Path | None = None  # None: hold `eval_fraction` of the training data out
    eval_fraction: float = 0.1
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str | None = None
    columns: list[str] | None = None  # column names of a file without a header line
    encoding: str = "utf-8"
