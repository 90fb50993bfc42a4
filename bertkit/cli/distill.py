"""`bertkit distill --teacher DIR --output DIR`: a smaller student that learns from a teacher.

Task distillation: a classifier made by `bertkit finetune` teaches a student with half its
layers on the same labelled data (soft targets at temperature T plus the gold labels):

    $ bertkit distill --teacher spam-model --train spam_train.csv --eval spam_test.csv --output spam-small
    epoch 1/3: 100%|██████████| 137/137 [00:21<00:00, loss=0.0931, ex_per_s=205.4]
    ...
    task distillation: 6-layer teacher -> 3-layer bert student, 71 s
    accuracy: teacher 0.9918, student 0.9897 (99.8% kept), agreement with the teacher 0.9938
    student saved to spam-small

General distillation (DistilBERT's recipe) on raw text, from a teacher with a masked-LM head
(e.g. one made by `bertkit pretrain`):

    $ bertkit distill --teacher my-bert --corpus notes.txt --output my-distilbert --student-type distilbert

`--layers 0,2,4` chooses the teacher layers the student starts from (default: every other
one); `--student DIR` starts from another checkpoint instead, which must share the teacher's
vocabulary. The student is an ordinary checkpoint: `bertkit predict`, `encode`, `fill-mask`
and `transformers` load it.
"""

from __future__ import annotations

import argparse
import logging

from bertkit.cli.training import add_labeled_data_arguments, add_training_arguments, finish, options_from

HELP = "train a smaller student from a teacher (DistilBERT's recipe, or a fine-tuned classifier's logits)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--teacher", "--model", metavar="DIR", help="the teacher checkpoint (default: the bundled all-MiniLM-L6-v2)")
    add("--output", required=True, metavar="DIR", help="where the student goes")

    data = parser.add_argument_group("data: --corpus for general distillation, --train for task distillation")
    add = data.add_argument
    add("--corpus", nargs="+", metavar="FILE", help="raw UTF-8 text, a sentence per line")
    add("--train", metavar="FILE", help="labelled .csv/.tsv/.jsonl (the teacher is a fine-tuned classifier)")
    add("--eval", metavar="FILE", help="labelled evaluation data; default: hold --eval-fraction out")
    add_labeled_data_arguments(data)

    add = parser.add_argument_group("student").add_argument
    add("--layers", metavar="I,J,...", help="teacher layers the student keeps (default: 0,2,4,...)")
    add(
        "--student-type",
        choices=("bert", "roberta", "distilbert"),
        help="the student's architecture (default: the teacher's)",
    )
    add("--student", metavar="DIR", help="start from this checkpoint instead of the teacher's layers")

    loss = parser.add_argument_group("loss (defaults: general 5/2/1 for ce/mlm/cos, task 0.5/0.5 for ce/hard)")
    add = loss.add_argument
    add("--temperature", type=float, default=2.0, help="softens both distributions (2.0)")
    add("--alpha-ce", type=float, help="soft targets: KL to the teacher's distribution, times T^2")
    add("--alpha-mlm", type=float, help="masked-LM cross-entropy (general)")
    add("--alpha-cos", type=float, help="cosine between last hidden states (general)")
    add("--alpha-hard", type=float, help="cross-entropy of the gold labels (task)")

    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bertkit.train.distill import DistillOptions, distill, format_report  # here: `bertkit --help` skips torch
    from bertkit.train.distill.student import parse_layers

    logging.basicConfig(format="bertkit distill: %(message)s", level=logging.WARNING)
    layers = parse_layers(args.layers) if args.layers is not None else None
    return finish(distill(options_from(args, DistillOptions, layers=layers)), format_report)
