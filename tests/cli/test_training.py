"""The training flags finetune, distill and pretrain share (bertkit/cli/training.py)."""

import dataclasses

from bertkit.cli import build_parser
from bertkit.cli.training import options_from
from bertkit.train.distill import DistillOptions
from bertkit.train.finetune import FinetuneOptions
from bertkit.train.options import TrainingOptions
from bertkit.train.pretrain import PretrainOptions

FLAGS = ["--epochs", "2", "--batch-size", "8", "--lr", "1e-4", "--max-grad-norm", "0", "--seed", "7", "--save-every", "3",
         "--no-progress"]  # fmt: skip


def test_the_commands_read_the_training_flags_into_the_same_options():
    parser = build_parser()
    finetune = parser.parse_args(["finetune", "--train", "t.csv", "--output", "o", *FLAGS])
    distill = parser.parse_args(["distill", "--train", "t.csv", "--output", "o", *FLAGS])
    pretrain = parser.parse_args(["pretrain", "--corpus", "c.txt", "--output", "o", *FLAGS])
    names = [field.name for field in dataclasses.fields(TrainingOptions)]
    read = [options_from(args, TrainingOptions) for args in (finetune, distill, pretrain)]
    assert read[0] == read[1] == read[2]
    options = read[0]
    assert len(names) == 17 and all(hasattr(args, name) for args in (finetune, distill, pretrain) for name in names)
    assert (options.epochs, options.batch_size, options.learning_rate, options.seed) == (2, 8, 1e-4, 7)
    assert options.max_grad_norm is None and options.progress is False  # 0 = no clipping


def test_defaults_of_the_flags_are_the_defaults_of_the_options():
    parser = build_parser()
    args = parser.parse_args(["finetune", "--train", "t.csv", "--output", "o"])
    assert options_from(args, FinetuneOptions) == FinetuneOptions(train="t.csv", output="o")
    args = parser.parse_args(["distill", "--output", "o"])
    assert options_from(args, DistillOptions) == DistillOptions(output="o")
    args = parser.parse_args(["pretrain", "--corpus", "c.txt", "--output", "o"])
    options = options_from(args, PretrainOptions, next_sentence=not args.no_nsp)
    assert options == PretrainOptions(corpus=["c.txt"], output="o")
    assert (options.learning_rate, options.seed, options.save_every) == (1e-4, 0, 500)  # pretraining's own


def test_the_flag_names_of_each_command_stay():
    parser = build_parser()
    finetune = parser.parse_args(["finetune", "--train", "t", "--output", "o", "--seq-length", "64", "--lr", "2e-5",
                                  "--columns", "label, text", "--multi-label", "|", "--metric", "accuracy"])  # fmt: skip
    assert (finetune.seq_length, finetune.learning_rate, finetune.columns) == (64, 2e-5, ["label", "text"])
    pretrain = parser.parse_args(["pretrain", "--output", "o", "--max-seq-length", "64", "--learning-rate", "3e-4",
                                  "--threads", "2", "--resume", "--no-nsp"])  # fmt: skip
    assert (pretrain.seq_length, pretrain.learning_rate, pretrain.threads, pretrain.resume) == (64, 3e-4, 2, True)
