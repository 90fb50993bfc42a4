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
    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=int, default=3, help="passes over the training data (3)")
    training.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step, all processes (32)")
    training.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step (1)")
    training.add_argument("--lr", type=float, default=5e-5, dest="learning_rate", help="peak learning rate (5e-5)")
    training.add_argument("--weight-decay", type=float, default=0.01, help="AdamW decay, not on biases/LayerNorm")
    training.add_argument("--warmup", type=float, default=0.1, help="fraction of steps warming up (0.1)")
    training.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping; 0 = none (1.0)")
    training.add_argument("--seq-length", type=int, default=128, help="longest example in tokens (128)")
    training.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                          help="auto (default): bf16 autocast where the hardware has it")  # fmt: skip
    training.add_argument("--seed", type=int, default=42)
    training.add_argument("--metric", help="select and stop on this metric (macro_f1, accuracy, entity_f1, loss...)")
    training.add_argument("--patience", type=int, help="stop after this many epochs without improvement")
    training.add_argument("--save-every", type=int, default=0, help="steps between resumable checkpoints (epoch ends)")
    training.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    training.add_argument("--resume", action="store_true", help="continue from the checkpoint in --output")
    training.add_argument("--device", help="cpu or cuda[:N] (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import logging

    from bertkit.train.finetune import FinetuneOptions, finetune, format_report
    from bertkit.train.loop import init_distributed

    logging.basicConfig(format="bertkit finetune: %(message)s", level=logging.WARNING)
    columns = [name.strip() for name in args.columns.split(",")] if args.columns else None
    options = FinetuneOptions(
        train=args.train, eval=args.eval, output=args.output, model=args.model, task=args.task,
        text_column=args.text_column, label_column=args.label_column, text_pair_column=args.text_pair_column,
        label_separator=args.label_separator, columns=columns, encoding=args.encoding,
        eval_fraction=args.eval_fraction, seq_length=args.seq_length, batch_size=args.batch_size,
        epochs=args.epochs, learning_rate=args.learning_rate, weight_decay=args.weight_decay,
        warmup=args.warmup, max_grad_norm=args.max_grad_norm or None, accumulation=args.accumulation,
        precision=args.precision, seed=args.seed, metric=args.metric, patience=args.patience,
        save_every=args.save_every, max_steps=args.max_steps, resume=args.resume,
        progress=not args.no_progress, device=args.device,
    )  # fmt: skip
    report = finetune(options)
    if init_distributed().is_main:
        print(format_report(report))
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
    return 0
