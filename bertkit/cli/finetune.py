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
(.conll, .iob, .bio, ...) unless `--task` says otherwise. Columns default to `text` and
`label`. Under `torchrun --nproc_per_node N -m bertkit finetune ...` the same command trains
with DistributedDataParallel; `--batch-size` is the global batch, split across processes.
"""

from __future__ import annotations

import argparse

HELP = "fine-tune a classifier (CSV/TSV/JSONL) or tagger (CoNLL) and save it with its labels"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bertkit.cli import add_model_argument
    from bertkit.cli.training import add_training_arguments

    data = parser.add_argument_group("data")
    data.add_argument("--train", required=True, metavar="FILE", help="training data: .csv, .tsv, .jsonl or CoNLL")
    data.add_argument("--eval", metavar="FILE", help="evaluation data; default: hold --eval-fraction of --train out")
    data.add_argument("--eval-fraction", type=float, default=0.1, help="held out when there is no --eval (0.1)")
    data.add_argument("--task", choices=("auto", "classification", "tagging"), default="auto",
                      help="auto (default): tagging for CoNLL files, else classification")  # fmt: skip
    data.add_argument("--text-column", default="text", help="column of the texts (default: text)")
    data.add_argument("--text-pair-column", metavar="NAME", help="column of the second texts, for sentence pairs")
    data.add_argument("--label-column", default="label", help="column of the labels (default: label)")
    data.add_argument("--multi-label", metavar="SEP", dest="label_separator",
                      help="multi-label classification: labels in a cell separated by SEP (e.g. '|')")  # fmt: skip
    data.add_argument("--columns", metavar="A,B", help="column names of a file without a header line, e.g. label,text")
    data.add_argument("--encoding", default="utf-8", help="encoding of the data files (default utf-8)")

    parser.add_argument("--output", required=True, metavar="DIR", help="where the fine-tuned model goes")
    add_model_argument(parser)
    add_training_arguments(parser, "examples per optimizer step, all processes (32)", metric=True)


def run(args: argparse.Namespace) -> int:
    import logging

    from bertkit.cli.training import finish, training_options
    from bertkit.train.finetune import FinetuneOptions, finetune, format_report

    logging.basicConfig(format="bertkit finetune: %(message)s", level=logging.WARNING)
    columns = [name.strip() for name in args.columns.split(",")] if args.columns else None
    options = FinetuneOptions(
        train=args.train, eval=args.eval, output=args.output, model=args.model, task=args.task,
        text_column=args.text_column, label_column=args.label_column, text_pair_column=args.text_pair_column,
        label_separator=args.label_separator, columns=columns, encoding=args.encoding,
        eval_fraction=args.eval_fraction, metric=args.metric, **training_options(args),
    )  # fmt: skip
    return finish(finetune(options), format_report)
