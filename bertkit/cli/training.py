"""The training flags `bertkit finetune` and `bertkit distill` share (not a command).

`add_training_arguments(parser)` declares them; `training_options(args)` maps them onto the
fields of `bertkit.train.loop.TrainingOptions`, the base of `FinetuneOptions` and
`DistillOptions`. (`bertkit pretrain` keeps its own: other defaults, `--learning-rate`.)
This module stays light: `bertkit --help` imports it, so torch is not imported here.
"""

from __future__ import annotations

import argparse


def add_training_arguments(
    parser: argparse.ArgumentParser, batch_size_help: str = "examples per optimizer step (32)", metric: bool = False
) -> None:
    """The "training" group and `--no-progress`; `metric=True` adds `--metric` (finetune chooses it)."""
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, default=3, help="passes over the training data (3)")
    training.add_argument("--batch-size", type=int, default=32, help=batch_size_help)
    training.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step (1)")
    training.add_argument("--lr", type=float, default=5e-5, dest="learning_rate", help="peak learning rate (5e-5)")
    training.add_argument("--weight-decay", type=float, default=0.01, help="AdamW decay, not on biases/LayerNorm")
    training.add_argument("--warmup", type=float, default=0.1, help="fraction of steps warming up (0.1)")
    training.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping; 0 = none (1.0)")
    training.add_argument("--seq-length", type=int, default=128, help="longest example in tokens (128)")
    training.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                          help="auto (default): bf16 autocast where the hardware has it")  # fmt: skip
    training.add_argument("--seed", type=int, default=42)
    if metric:
        training.add_argument("--metric", help="select and stop on this metric (macro_f1, accuracy, entity_f1, loss...)")
    training.add_argument("--patience", type=int, help="stop after this many epochs without improvement")
    training.add_argument("--save-every", type=int, default=0, help="steps between resumable checkpoints (epoch ends)")
    training.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    training.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    training.add_argument("--device", help="cpu or cuda[:N] (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def training_options(args: argparse.Namespace) -> dict:
    """The `TrainingOptions` fields from the flags of `add_training_arguments`, as keyword arguments."""
    return dict(
        seq_length=args.seq_length, batch_size=args.batch_size, epochs=args.epochs,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay, warmup=args.warmup,
        max_grad_norm=args.max_grad_norm or None, accumulation=args.accumulation, precision=args.precision,
        seed=args.seed, patience=args.patience, save_every=args.save_every, max_steps=args.max_steps,
        resume=args.resume, progress=not args.no_progress, device=args.device,
    )  # fmt: skip


def finish(report: dict, format_report) -> int:
    """The end of a training command: the report printed once (by the main process under
    `torchrun`), then the process group left. Returns the exit status."""
    from bertkit.train.loop import init_distributed, leave_distributed

    if init_distributed().is_main:
        print(format_report(report))
    leave_distributed()
    return 0
