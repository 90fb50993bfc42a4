"""Fine-tuning: a classifier (texts or pairs, one label or several), a regression (a score per
text or pair) or a tagger, on the one loop.

data file(s) -> labels (`TaskSpec`) -> encoder + new head (`bertkit.checkpoint.load_task`)
             -> `ClassificationObjective` / `RegressionObjective` / `TaggingObjective`
             -> `Trainer` (train/loop.py)
             -> best model as a HuggingFace directory + report, curves, confusion matrix or scatter

>>> import bertkit, pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> rows = ["text,label"] + ["free prize call now,spam", "see you at lunch,ham"] * 8
>>> _ = (folder / "train.csv").write_text("\\n".join(rows) + "\\n")
>>> report = finetune(FinetuneOptions(train=folder / "train.csv", output=folder / "model",
...                                   epochs=2, batch_size=4, progress=False))
>>> report["task"], report["labels"]
('classification', ['ham', 'spam'])
>>> bertkit.load(folder / "model").predict(["free prize, call now"])[0]["label"]
'spam'
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bertkit import checkpoint
from bertkit.checkpoint import TaskSpec
from bertkit.data import labeled
from bertkit.data.batches import batch_plan
from bertkit.errors import InputError
from bertkit.preprocessing import Preprocessor
from bertkit.preprocessing.encoding import IGNORE_INDEX, collate_texts, collate_words, encode_texts, encode_words
from bertkit.tasks import prediction
from bertkit.tasks.prediction import model_inputs
from bertkit.train import metrics as M
from bertkit.train import plots
from bertkit.train.loop import History, Trainer, write_report
from bertkit.train.options import LabeledDataOptions, TrainingOptions

log = logging.getLogger("bertkit")


@dataclasses.dataclass
class FinetuneOptions(TrainingOptions, LabeledDataOptions):
    """What to fine-tune on; how to train and read the files: the fields of the two base classes."""

    train: str | Path
    output: str | Path
    model: str | Path | None = None  # None: the bundled all-MiniLM-L6-v2
    task: str = "auto"  # "classification", "regression", "tagging", or "auto" (CoNLL files are tagging)
    label_separator: str | None = None  # set: multi-label classification, labels split on it
    metric: str | None = None  # None: macro_f1 (classification), spearman (regression), entity_f1 (tagging)


# --- data ----------------------------------------------------------------------------------------


def read_data(options: FinetuneOptions):
    """(train, eval, TaskSpec) from the files; every dropped row is reported with its count."""
    kind = options.task
    if kind == "auto":
        kind = "tagging" if labeled.is_conll(options.train) else "classification"
    if kind not in OBJECTIVES:
        raise InputError(f"unknown task {kind!r}; choose auto, classification, regression or tagging")
    if kind == "regression" and options.label_separator is not None:
        raise InputError("a regression has one score per row; leave out the multi-label separator")

    def read(path):
        if kind == "tagging":
            data = labeled.read_conll(path, options.encoding)
        else:
            data = labeled.read_table(
                path, options.text_column, options.label_column, options.text_pair_column,
                options.label_separator, options.columns, options.encoding, regression=kind == "regression",
            )  # fmt: skip
        if data.dropped:
            log.warning("%s: dropped %s", data.source, labeled.describe_dropped(data.dropped))
        return data

    train = read(options.train)
    _labels(train, kind, options)  # one class only: say so before any split
    if options.eval is not None:
        evaluation = read(options.eval)
    else:
        train, evaluation = labeled.split(train, options.eval_fraction, options.seed)
        log.info("no evaluation file: holding out %d of %d examples", len(evaluation), len(train) + len(evaluation))
    if kind == "regression":
        return train, evaluation, TaskSpec.regression_spec()

    seen = sorted(set(_labels(train, kind, options)))
    eval_labels = _labels(evaluation, kind, options, at_least_two=False)
    unseen = sorted(set(eval_labels) - set(seen))
    if unseen:
        shown = ", ".join(f"{label!r} ({eval_labels.count(label)}x)" for label in unseen[:8])
        raise InputError(
            f"{evaluation.source}: labels not in the training data: {shown}; "
            "the model can never predict them - add them to the training file or remove those rows"
        )
    if kind == "classification" and options.label_separator is None and len(seen) > 10 and _numbers(seen):
        log.warning(
            "%s: the %d labels are all numbers (%s, ...); to learn a score rather than %d classes, "
            "use --task regression", train.source, len(seen), ", ".join(seen[:3]), len(seen),
        )  # fmt: skip
    spec = TaskSpec(kind, seen, multi_label=kind == "classification" and options.label_separator is not None)
    return train, evaluation, spec


def _numbers(labels: list[str]) -> bool:
    try:
        return all(math.isfinite(float(label)) for label in labels)
    except ValueError:
        return False


def _labels(data, kind: str, options: FinetuneOptions, at_least_two: bool = True) -> list[str]:
    """Every label of `data` (tags of every word); an `InputError` if fewer than two differ."""
    if kind == "tagging":
        labels = [tag for tags in data.tags for tag in tags]
    elif options.label_separator is not None:
        labels = [label for row in data.labels for label in row]
    else:
        labels = list(data.labels)
    distinct = set(labels)
    if at_least_two and len(distinct) < 2:
        what = "every word is tagged" if kind == "tagging" else "every row has the label"
        need = {
            "tagging": "tagging needs at least two tags",
            "regression": "a regression needs scores that differ",
        }.get(kind, "a classifier needs at least two classes")
        raise InputError(f"{data.source}: {what} {next(iter(distinct))!r}; {need}")
    return labels


# --- objectives for the loop --------------------------------------------------------------------------


class ClassificationObjective:
    """A label per text or text pair (cross-entropy), or several (binary cross-entropy per label)."""

    def __init__(self, pre, spec: TaskSpec, train, evaluation, batch_size: int, seed: int):
        self.pre, self.spec, self.batch_size, self.seed = pre, spec, batch_size, seed
        self.train = encode_texts(pre, train.texts, train.texts_b)
        self.eval = encode_texts(pre, evaluation.texts, evaluation.texts_b)
        self.train_targets = self._targets(train.labels)
        self.eval_targets = self._targets(evaluation.labels)

    def _targets(self, labels) -> torch.Tensor:
        index = {label: i for i, label in enumerate(self.spec.labels)}
        if not self.spec.multi_label:
            return torch.tensor([index[label] for label in labels], dtype=torch.long)
        hot = torch.zeros(len(labels), len(index))
        for row, names in enumerate(labels):
            hot[row, [index[name] for name in names]] = 1.0
        return hot

    def train_batches(self, epoch: int) -> list[list[int]]:
        return batch_plan(self.train.lengths, self.batch_size, self.seed, epoch)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # summed
        if self.spec.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="sum")
        return F.cross_entropy(logits.float(), targets, reduction="sum")

    def _logits(self, model: nn.Module, batch: list[int]) -> torch.Tensor:  # (B, labels)
        device = next(model.parameters()).device
        return model(*model_inputs(collate_texts(self.pre, self.train, batch), device))

    def _predict(self, model: nn.Module, encoded) -> torch.Tensor:  # (N, labels)
        return torch.from_numpy(prediction.text_logits(model, self.pre, encoded, self.batch_size))

    def loss(self, model: nn.Module, batch: list[int]):
        logits = self._logits(model, batch)
        targets = self.train_targets[batch].to(logits.device)
        return self._loss(logits, targets), targets.numel()

    def evaluate(self, model: nn.Module) -> dict:
        return self.metrics(self._predict(model, self.eval))

    def metrics(self, logits: torch.Tensor) -> dict:
        """The evaluation metrics of the logits (N, labels) of the evaluation texts."""
        loss = float(self._loss(logits, self.eval_targets)) / self.eval_targets.numel()
        labels = self.spec.labels
        if self.spec.multi_label:
            return {"loss": loss, **M.multi_label_report(self.eval_targets.numpy(), (logits > 0).numpy(), labels)}
        gold = [labels[i] for i in self.eval_targets.tolist()]
        predicted = [labels[i] for i in logits.argmax(-1).tolist()]
        return {"loss": loss, **M.classification_report(gold, predicted, labels)}


class RegressionObjective(ClassificationObjective):
    """A score per text or text pair from one output: mean squared error, as transformers'
    `BertForSequenceClassification` with `problem_type="regression"` (`MSELoss` on the squeezed
    logits); evaluated by MSE and the Pearson and Spearman correlations."""

    def _targets(self, labels) -> torch.Tensor:
        return torch.tensor(labels, dtype=torch.float32)

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:  # summed
        return F.mse_loss(logits.float().squeeze(-1), targets, reduction="sum")  # (B, 1) -> (B,)

    def metrics(self, logits: torch.Tensor) -> dict:
        """The evaluation metrics of the outputs (N, 1) of the evaluation texts."""
        predicted = logits.squeeze(-1).numpy()
        return {"loss": float(self._loss(logits, self.eval_targets)) / len(predicted),
                **M.regression_report(self.eval_targets.numpy(), predicted)}  # fmt: skip


class TaggingObjective:
    """A tag per word, learned and predicted at each word's first sub-word."""

    def __init__(self, pre, spec: TaskSpec, train, evaluation, batch_size: int, seed: int):
        self.pre, self.spec, self.batch_size, self.seed = pre, spec, batch_size, seed
        index = {tag: i for i, tag in enumerate(spec.labels)}
        self.train = encode_words(pre, train.words)
        self.train_tags = [[index[t] for t in tags] for tags in train.tags]
        self.eval = encode_words(pre, evaluation.words)
        self.eval_tags = evaluation.tags
        for name, encoded in (("training", self.train), ("evaluation", self.eval)):
            if encoded.words_cut or encoded.words_without_tokens:
                log.warning(
                    "%s data: %d words past seq_length %d (not learned, predicted O) and %d words "
                    "with no token (ignored)", name, encoded.words_cut, pre.seq_length, encoded.words_without_tokens,
                )  # fmt: skip

    def train_batches(self, epoch: int) -> list[list[int]]:
        return batch_plan(self.train.lengths, self.batch_size, self.seed, epoch)

    def loss(self, model: nn.Module, batch: list[int]):
        device = next(model.parameters()).device
        inputs, labels = collate_words(self.pre, self.train, batch, self.train_tags)
        logits = model(*model_inputs(inputs, device))  # (B, S, labels)
        labels = labels.to(device)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        return loss, (labels != IGNORE_INDEX).sum()

    def evaluate(self, model: nn.Module) -> dict:
        per_sentence = prediction.word_logits(model, self.pre, self.eval, self.batch_size)
        index = {tag: i for i, tag in enumerate(self.spec.labels)}
        outside = "O" if "O" in index else self.spec.labels[0]
        predicted, losses = [], []
        for logits, firsts, gold in zip(per_sentence, self.eval.first_pieces, self.eval_tags):
            tags = [self.spec.labels[i] if p >= 0 else outside for i, p in zip(logits.argmax(-1).tolist(), firsts)]
            predicted.append(tags)
            kept = [w for w, p in enumerate(firsts) if p >= 0]
            if kept:
                target = torch.tensor([index[gold[w]] for w in kept])
                losses.append(F.cross_entropy(torch.from_numpy(logits[kept]), target, reduction="sum").item())
        words = sum(sum(p >= 0 for p in firsts) for firsts in self.eval.first_pieces)
        return {"loss": sum(losses) / max(1, words), **M.entity_report(self.eval_tags, predicted)}


OBJECTIVES = {"classification": ClassificationObjective, "regression": RegressionObjective, "tagging": TaggingObjective}
DEFAULT_METRIC = {"classification": "macro_f1", "regression": "spearman", "tagging": "entity_f1"}


# --- the whole run -------------------------------------------------------------------------------


def finetune(options: FinetuneOptions, on_step=None) -> dict:
    """Fine-tune, keep the best epoch's model in `options.output`, return the report (`on_step`: see `Trainer`)."""
    started = time.perf_counter()
    output = Path(options.output)
    train, evaluation, spec = read_data(options)
    torch.manual_seed(options.seed)  # the new head's initialisation
    model, config, spec, source = checkpoint.load_task(options.model, spec)
    pre = Preprocessor.from_pretrained(source, seq_length=options.seq_length)
    if options.seq_length > config.max_position_embeddings:
        raise InputError(
            f"--seq-length {options.seq_length} exceeds the model's {config.max_position_embeddings} positions"
        )
    task = "regression" if spec.regression else spec.kind
    objective = OBJECTIVES[task](pre, spec, train, evaluation, options.batch_size, options.seed)
    metric = options.metric or DEFAULT_METRIC[task]

    save = lambda best: checkpoint.save_task(best, config, spec, output, source)
    trainer, history = train_and_plot(model, objective, options, metric, save, on_step)
    report = {
        "task": task,
        "multi_label": spec.multi_label,
        "labels": spec.labels,
        "metric": metric,
        **history.summary(),
        "stopped_early": history.stopped_early,
        "train_examples": len(train),
        "eval_examples": len(evaluation),
        "dropped_rows": {"train": train.dropped, "eval": evaluation.dropped},
        "precision": "bf16" if trainer.bf16 else "fp32",
        "processes": trainer.dist.world_size,
    }
    write_report(output, report, started)
    if trainer.dist.is_main and history.best and "confusion" in history.best:
        plots.confusion_matrix(history.best["confusion"], spec.labels, output / "confusion_matrix.png")
    if trainer.dist.is_main and history.best and spec.regression:  # the saved (best) model's scores
        best_model = checkpoint.load_task(output)[0].to(next(model.parameters()).device)
        predicted = objective._predict(best_model, objective.eval).squeeze(-1).numpy()
        plots.scatter(objective.eval_targets.numpy(), predicted, report["best"], output / "scatter.png")
    return report


def train_and_plot(model: nn.Module, objective, options, metric: str, save, on_step=None) -> tuple[Trainer, History]:
    """Train, `save(model)` at each new best `metric`, plot the curves (fine-tuning, distillation)."""
    trainer = Trainer(model, objective, options, metric, options.output, on_improvement=save, on_step=on_step)
    history = trainer.fit()
    if trainer.dist.is_main:
        plots.training_curves(dataclasses.asdict(history), metric, Path(options.output) / "training_curves.png")
    return trainer, history


def format_report(report: dict) -> str:
    """The final report as a person reads it."""
    best = report["best"] or {}
    outputs = "1 output (a score)" if report["task"] == "regression" else f"{len(report['labels'])} labels"
    lines = [
        f"{report['task']}: {report['train_examples']} training and {report['eval_examples']} evaluation examples, "
        f"{outputs}, {report['processes']} process(es), {report['precision']}",
        f"best epoch {best.get('epoch', -1) + 1} of {report['epochs_run']}"
        + (" (stopped early)" if report["stopped_early"] else "")
        + f", {report['examples_per_second']:.1f} training examples/s, {report['seconds']:.0f} s",
    ]
    if report["task"] == "regression":
        lines.append(f"spearman {best['spearman']:.4f}  pearson {best['pearson']:.4f}  mse {best['mse']:.4f}")
        rows, key = {}, None
    elif report["task"] == "tagging":
        lines.append(
            f"entity F1 {best['entity_f1']:.4f}  precision {best['entity_precision']:.4f}  "
            f"recall {best['entity_recall']:.4f}  tag accuracy {best['tag_accuracy']:.4f}"
        )
        rows, key = best.get("per_type", {}), "type"
    else:
        extra = f"  micro-F1 {best['micro_f1']:.4f}" if "micro_f1" in best else ""
        lines.append(
            f"accuracy {best['accuracy']:.4f}  macro-F1 {best['macro_f1']:.4f}{extra}  loss {best['loss']:.4f}"
        )
        rows, key = best.get("per_class", {}), "label"
    width = max([len(key or ""), *map(len, rows)])
    if key:
        lines.append(f"  {key:<{width}}  precision  recall     f1  support")
    for name, row in rows.items():
        lines.append(
            f"  {name:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  {row['support']:7d}"
        )
    for split, dropped in report["dropped_rows"].items():
        if dropped:
            lines.append(f"dropped from {split}: {labeled.describe_dropped(dropped)}")
    lines.append(f"model saved to {report['output']}")
    return "\n".join(lines)
