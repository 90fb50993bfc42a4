"""`bertkit finetune --train F [--eval F] --output DIR`: a classifier or tagger from your data.

    $ bertkit finetune --train spam_train.csv --eval spam_test.csv --output spam-model --epochs 2
    epoch 1/2: 100%|██████████| 137/137 [00:52<00:00, loss=0.0512, ex_per_s=83.1]
    ...
    classification: 4375 training and 487 evaluation examples, 2 labels, 1 process(es), bf16
    accuracy 0.9918  macro-F1 0.9823  loss 0.0305
      label  precision  recall     f1  support
      ham       0.9929  0.9976  0.9953      421
      ...

The task is classification for CSV / TSV / JSONL files and tagging for CoNLL files
(.conll, .iob, .bio, ...) unless `--task` says otherwise: `--task regression` learns a number
per text or pair (similarity scores with `--text-pair-column`), reported as Spearman, Pearson
and MSE, saved as transformers' one-output classifier (`problem_type: "regression"`). Columns default to `text` and
`label`. Under `torchrun --nproc_per_node N -m bertkit finetune ...` the same command trains
with DistributedDataParallel; `--batch-size` is the global batch, split across processes.
"""

from __future__ import annotations

import argparse
import logging

from bertkit.cli import add_model_argument
from bertkit.cli.training import add_labeled_data_arguments, add_training_arguments, finish, options_from

HELP = "fine-tune a classifier or regression (CSV/TSV/JSONL) or tagger (CoNLL) and save it with its labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    add = data.add_argument
    add("--train", required=True, metavar="FILE", help="training data: .csv, .tsv, .jsonl or CoNLL")
    add("--eval", metavar="FILE", help="evaluation data; default: hold --eval-fraction of --train out")
    add("--task", choices=("auto", "classification", "regression", "tagging"), default="auto",
        help="auto (default): tagging for CoNLL files, else classification; regression: the label "
        "column holds numbers (e.g. a pair's similarity 0-5), learned as one score with MSE")  # fmt: skip
    add("--multi-label", metavar="SEP", dest="label_separator",
        help="multi-label classification: labels in a cell separated by SEP (e.g. '|')")  # fmt: skip
    add_labeled_data_arguments(data)

    parser.add_argument("--output", required=True, metavar="DIR", help="where the fine-tuned model goes")
    add_model_argument(parser)
    add_training_arguments(parser)
    parser.add_argument(
        "--metric", help="select and stop on this metric (macro_f1, accuracy, entity_f1, spearman, loss...)"
    )


def run(args: argparse.Namespace) -> int:
    from bertkit.train.finetune import FinetuneOptions, finetune, format_report  # here: `bertkit --help` skips torch

    logging.basicConfig(format="bertkit finetune: %(message)s", level=logging.WARNING)
    return finish(finetune(options_from(args, FinetuneOptions)), format_report)
