"""The flags the training commands share (not a command): `finetune`, `distill` and `pretrain`.

`add_training_arguments(parser)` declares one flag per field of `TrainingOptions`, with its
defaults; `options_from(args, FinetuneOptions)` fills a command's options from its flags.
This module stays light: `bertkit --help` imports it, so torch is not imported here.
"""

from __future__ import annotations

import argparse
import dataclasses

from bertkit.train.options import PRECISIONS, TrainingOptions


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The "training" group and `--no-progress`, with the defaults of `TrainingOptions` (a command
    with other defaults, as pretraining, sets them after with `parser.set_defaults`)."""
    add = parser.add_argument_group("training").add_argument
    add("--epochs", type=int, help="passes over the training data (%(default)s)")
    add("--batch-size", type=int, help="examples per optimizer step, all processes (%(default)s)")
    add("--accumulation", type=int, help="micro-batches per optimizer step (%(default)s)")
    add("--lr", "--learning-rate", type=float, dest="learning_rate", metavar="LR", help="peak rate (%(default)s)")
    add("--weight-decay", type=float, help="AdamW's, not on biases/LayerNorm (%(default)s)")
    add("--warmup", type=float, help="fraction of steps warming up (%(default)s)")
    add("--max-grad-norm", type=float, help="gradient clipping; 0 = none (%(default)s)")
    add("--seq-length", "--max-seq-length", type=int, dest="seq_length", help="longest example in tokens (%(default)s)")
    add("--precision", choices=PRECISIONS, help="auto (default): bf16 where the hardware has it")
    add("--seed", type=int, help="random seed (%(default)s)")
    add("--patience", type=int, help="stop after this many epochs without improvement")
    add("--save-every", type=int, help="steps between resumable checkpoints; 0 = at epoch ends (%(default)s)")
    add("--max-steps", type=int, help="stop after this many optimizer steps")
    add("--resume", action="store_true", help="continue from the checkpoint in --output")
    add("--device", help="cpu or cuda[:N] (default: cuda if available)")
    add("--threads", type=int, help="CPU threads for PyTorch (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(**dataclasses.asdict(TrainingOptions()))  # `progress` is read from --no-progress


def add_labeled_data_arguments(group) -> None:
    """The flags of `LabeledDataOptions` but --eval: how labelled files are read (finetune, distill)."""
    add = group.add_argument
    add("--eval-fraction", type=float, default=0.1, help="held out when there is no --eval (0.1)")
    add("--text-column", default="text", help="column of the texts (default: text)")
    add("--text-pair-column", metavar="NAME", help="column of the second texts, for sentence pairs")
    add("--label-column", default="label", help="column of the labels (default: label)")
    add("--columns", metavar="A,B", type=_names, help="column names of a file without a header line, e.g. label,text")
    add("--encoding", default="utf-8", help="encoding of the data files (default utf-8)")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


def options_from(args: argparse.Namespace, options_class, **values):
    """`options_class` (a `TrainingOptions`) from the flags named as its fields (--max-grad-norm 0
    is no clipping, --no-progress `progress=False`), and `values` for the flags named otherwise."""
    names = {field.name for field in dataclasses.fields(options_class)}
    flags = {name: value for name, value in vars(args).items() if name in names}
    flags.update(max_grad_norm=args.max_grad_norm or None, progress=not args.no_progress)
    return options_class(**{**flags, **values})


def finish(report: dict, format_report) -> int:
    """The end of a training command: the report printed once (by the main process under
    `torchrun`), then the process group left. Returns the exit status."""
    from bertkit.train.loop import init_distributed, leave_distributed  # here: `bertkit --help` skips torch

    if init_distributed().is_main:
        print(format_report(report))
    leave_distributed()
    return 0
