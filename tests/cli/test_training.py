"""The training flags finetune and distill share (bertkit/cli/training.py)."""

import dataclasses

from bertkit.cli import build_parser
from bertkit.cli.training import training_options
from bertkit.train.distill import DistillOptions
from bertkit.train.finetune import FinetuneOptions
from bertkit.train.loop import TrainingOptions

FLAGS = ["--epochs", "2", "--batch-size", "8", "--lr", "1e-4", "--max-grad-norm", "0", "--seed", "7", "--no-progress"]


def test_both_commands_read_the_training_flags_into_the_same_options():
    parser = build_parser()
    finetune = parser.parse_args(["finetune", "--train", "t.csv", "--output", "o", *FLAGS])
    distill = parser.parse_args(["distill", "--train", "t.csv", "--output", "o", *FLAGS])
    assert training_options(finetune) == training_options(distill)
    options = training_options(finetune)
    assert set(options) == {field.name for field in dataclasses.fields(TrainingOptions)}
    assert (options["epochs"], options["batch_size"], options["learning_rate"], options["seed"]) == (2, 8, 1e-4, 7)
    assert options["max_grad_norm"] is None and options["progress"] is False  # 0 = no clipping


def test_defaults_of_the_flags_are_the_defaults_of_the_options():
    args = build_parser().parse_args(["finetune", "--train", "t.csv", "--output", "o"])
    from_flags = FinetuneOptions(train="t.csv", output="o", **training_options(args))
    assert from_flags == FinetuneOptions(train="t.csv", output="o")
    assert DistillOptions(output="o", **training_options(args)) == DistillOptions(output="o")
    assert DistillOptions(output="o").train_config("accuracy", "o").seed == 42
