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

    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, default=3, help="passes over the training data (3)")
    training.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step (32)")
    training.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step (1)")
    training.add_argument("--lr", type=float, default=5e-5, dest="learning_rate", help="peak learning rate (5e-5)")
    training.add_argument("--weight-decay", type=float, default=0.01, help="AdamW decay, not on biases/LayerNorm")
    training.add_argument("--warmup", type=float, default=0.1, help="fraction of steps warming up (0.1)")
    training.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping; 0 = none (1.0)")
    training.add_argument("--seq-length", type=int, default=128, help="longest example in tokens (128)")
    training.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                          help="auto (default): bf16 autocast where the hardware has it")  # fmt: skip
    training.add_argument("--seed", type=int, default=42)
    training.add_argument("--patience", type=int, help="stop after this many epochs without improvement")
    training.add_argument("--save-every", type=int, default=0, help="steps between resumable checkpoints (epoch ends)")
    training.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    training.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    training.add_argument("--device", help="cpu or cuda[:N] (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import logging

    from bertkit import checkpoint
    from bertkit.bundled import resolve_model_dir
    from bertkit.distill.student import parse_layers
    from bertkit.train.distill import DistillOptions, distill, format_report
    from bertkit.train.loop import init_distributed

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
        columns=columns, encoding=args.encoding, eval_fraction=args.eval_fraction,
        seq_length=args.seq_length, batch_size=args.batch_size, epochs=args.epochs,
        learning_rate=args.learning_rate, weight_decay=args.weight_decay, warmup=args.warmup,
        max_grad_norm=args.max_grad_norm or None, accumulation=args.accumulation, precision=args.precision,
        seed=args.seed, patience=args.patience, save_every=args.save_every, max_steps=args.max_steps,
        resume=args.resume, progress=not args.no_progress, device=args.device,
    )  # fmt: skip
    report = distill(options)
    if init_distributed().is_main:
        print(format_report(report))
    return 0
