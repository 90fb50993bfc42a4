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

HELP = "train a smaller student from a teacher (DistilBERT's recipe, or a fine-tuned classifier's logits)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bertkit.cli.training import add_training_arguments

    parser.add_argument("--teacher", "--model", dest="teacher", metavar="DIR", default=None,
                        help="the teacher checkpoint (default: the bundled all-MiniLM-L6-v2)")  # fmt: skip
    parser.add_argument("--output", required=True, metavar="DIR", help="where the student goes")

    data = parser.add_argument_group("data: --corpus for general distillation, --train for task distillation")
    data.add_argument("--corpus", nargs="+", metavar="FILE", help="raw UTF-8 text, a sentence per line")
    data.add_argument("--train", metavar="FILE", help="labelled .csv/.tsv/.jsonl (the teacher is a fine-tuned classifier)")
    data.add_argument("--eval", metavar="FILE", help="labelled evaluation data; default: hold --eval-fraction out")
    data.add_argument("--eval-fraction", type=float, default=0.1, help="held out when there is no --eval (0.1)")
    data.add_argument("--text-column", default="text", help="column of the texts (default: text)")
    data.add_argument("--text-pair-column", metavar="NAME", help="column of the second texts, for sentence pairs")
    data.add_argument("--label-column", default="label", help="column of the labels (default: label)")
    data.add_argument("--columns", metavar="A,B", help="column names of a file without a header line")
    data.add_argument("--encoding", default="utf-8", help="encoding of the data files (default utf-8)")

    student = parser.add_argument_group("student")
    student.add_argument("--layers", metavar="I,J,...", help="teacher layers the student keeps (default: 0,2,4,...)")
    student.add_argument("--student-type", choices=("bert", "roberta", "distilbert"),
                         help="architecture of the student (default: the teacher's)")  # fmt: skip
    student.add_argument("--student", metavar="DIR", help="start from this checkpoint instead of the teacher's layers")

    loss = parser.add_argument_group("loss (defaults: general 5/2/1 for ce/mlm/cos, task 0.5/0.5 for ce/hard)")
    loss.add_argument("--temperature", type=float, default=2.0, help="softens both distributions (2.0)")
    loss.add_argument("--alpha-ce", type=float, help="soft targets: KL to the teacher's distribution, times T^2")
    loss.add_argument("--alpha-mlm", type=float, help="masked-LM cross-entropy (general)")
    loss.add_argument("--alpha-cos", type=float, help="cosine between last hidden states (general)")
    loss.add_argument("--alpha-hard", type=float, help="cross-entropy of the gold labels (task)")

    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    import logging

    from bertkit import checkpoint
    from bertkit.bundled import resolve_model_dir
    from bertkit.cli.training import finish, training_options
    from bertkit.distill.student import parse_layers
    from bertkit.train.distill import DistillOptions, distill, format_report

    logging.basicConfig(format="bertkit distill: %(message)s", level=logging.WARNING)
    layers = None
    if args.layers is not None:
        teacher_layers = checkpoint.read_config(resolve_model_dir(args.teacher)).num_hidden_layers
        layers = parse_layers(args.layers, teacher_layers)
    columns = [name.strip() for name in args.columns.split(",")] if args.columns else None
    options = DistillOptions(
        output=args.output, teacher=args.teacher, corpus=args.corpus, train=args.train, eval=args.eval,
        student=args.student, layers=layers, student_type=args.student_type,
        temperature=args.temperature, alpha_ce=args.alpha_ce, alpha_mlm=args.alpha_mlm,
        alpha_cos=args.alpha_cos, alpha_hard=args.alpha_hard,
        text_column=args.text_column, label_column=args.label_column, text_pair_column=args.text_pair_column,
        columns=columns, encoding=args.encoding, eval_fraction=args.eval_fraction, **training_options(args),
    )  # fmt: skip
    return finish(distill(options), format_report)
