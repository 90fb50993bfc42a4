"""Distillation on the shared loop: a student learns from a teacher (`bertkit distill`).

Two tasks, both of `Trainer` (train/loop.py), so both resume, show progress and plot curves:

    task distillation      a fine-tuned classifier teaches a smaller classifier on labelled data:
                           the teacher's logits (computed once, with dropout off) are the soft
                           targets, the gold labels the hard ones      (`TaskDistillation`)
    general distillation   any encoder teaches a smaller one on raw text, DistilBERT's recipe:
                           soft targets over the vocabulary at every real token, masked-LM loss
                           on the masked ones, cosine between last hidden states
                           (`GeneralDistillation`; the text is cut and masked by pretraining's
                           own data pipeline, masks drawn afresh each epoch as in DistilBERT)

The student starts from the teacher (`bertkit.distill.student`: embeddings and every other
layer by default) or from a checkpoint of its own (`student=DIR`, same vocabulary required),
and is written as an ordinary checkpoint that `bertkit predict` / `encode` / `fill-mask` and
`transformers` load. (The example below fine-tunes and distils the bundled model, a minute
of CPU; tests/cli/test_distill_command.py runs the same steps on a tiny teacher.)

    >>> import bertkit, pathlib, tempfile
    >>> from bertkit.train.finetune import FinetuneOptions, finetune
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rows = ["text,label"] + ["free prize call now,spam", "see you at lunch,ham"] * 8
    >>> _ = (folder / "train.csv").write_text("\\n".join(rows) + "\\n")
    >>> _ = finetune(FinetuneOptions(train=folder / "train.csv", output=folder / "teacher",
    ...                              epochs=2, batch_size=4, progress=False))  # doctest: +SKIP
    >>> report = distill(DistillOptions(teacher=folder / "teacher", output=folder / "student",
    ...                                 train=folder / "train.csv", epochs=2, batch_size=4,
    ...                                 progress=False))  # doctest: +SKIP
    >>> report["student_layers"], bertkit.load(folder / "student").predict(["free prize, call now"])[0]["label"]  # doctest: +SKIP
    (3, 'spam')
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path

import torch
from torch import nn

from bertkit import checkpoint, tasks
from bertkit.bundled import resolve_model_dir
from bertkit.data.encoding import IGNORE_INDEX, collate_texts
from bertkit.distill.losses import LossWeights, general_distillation_terms, task_distillation_terms, weighted_sum
from bertkit.distill.student import check_same_vocabulary, make_student
from bertkit.errors import CheckpointError, InputError
from bertkit.tasks import TaskSpec, model_inputs
from bertkit.train.finetune import ClassificationTask, FinetuneOptions, read_data
from bertkit.train.loop import Trainer, TrainingOptions, init_distributed

log = logging.getLogger("bertkit")


@dataclasses.dataclass
class DistillOptions(TrainingOptions):
    """What to distil; how to train comes from the fields of `TrainingOptions`, as in fine-tuning."""

    output: str | Path
    teacher: str | Path | None = None  # None: the bundled all-MiniLM-L6-v2
    # the data: raw text (general distillation) or labelled files (task distillation)
    corpus: list[str | Path] | None = None
    train: str | Path | None = None
    eval: str | Path | None = None  # None: hold `eval_fraction` of the training data out
    # the student
    student: str | Path | None = None  # start from this checkpoint instead of the teacher's layers
    layers: list[int] | None = None  # teacher layers the student keeps; None: every other one
    student_type: str | None = None  # "distilbert" for DistilBERT's architecture; None: the teacher's
    # the loss (None: the recipe's default for the mode, see `LossWeights`)
    temperature: float = 2.0
    alpha_ce: float | None = None
    alpha_mlm: float | None = None
    alpha_cos: float | None = None
    alpha_hard: float | None = None
    # labelled files, as `bertkit finetune` reads them
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: str | None = None
    columns: list[str] | None = None
    encoding: str = "utf-8"
    eval_fraction: float = 0.1

    @property
    def mode(self) -> str:
        if (self.corpus is None) == (self.train is None):
            raise InputError("give either --corpus (general distillation) or --train (task distillation)")
        return "general" if self.corpus is not None else "task"

    def weights(self) -> LossWeights:
        given = {"ce": self.alpha_ce, "mlm": self.alpha_mlm, "cos": self.alpha_cos, "hard": self.alpha_hard}
        given = {name: value for name, value in given.items() if value is not None}
        applies = {"general": ("ce", "mlm", "cos"), "task": ("ce", "hard")}[self.mode]
        for name, value in given.items():
            if name not in applies and value:
                raise InputError(
                    f"--alpha-{name} does not apply to {self.mode} distillation, which weighs "
                    + ", ".join(f"--alpha-{n}" for n in applies)
                )
        recipe = LossWeights.general if self.mode == "general" else LossWeights.task
        return recipe(temperature=self.temperature, **{n: v for n, v in given.items() if n in applies})


def distill(options: DistillOptions) -> dict:
    """Train the student, keep its best epoch in `options.output`, return the report."""
    started = time.perf_counter()
    weights = options.weights()
    run = _task_distillation if options.mode == "task" else _general_distillation
    report = run(options, weights)
    report.update(
        mode=options.mode,
        weights=dataclasses.asdict(weights),
        seconds=time.perf_counter() - started,
        output=str(options.output),
    )
    if init_distributed().is_main:
        training = Path(options.output) / "training"
        training.mkdir(parents=True, exist_ok=True)
        (training / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def _student_and_source(options: DistillOptions, teacher: nn.Module, teacher_dir: Path, build, load):
    """(student, the directory whose tokenizer files the student's checkpoint gets)."""
    if options.student is None:
        torch.manual_seed(options.seed)  # weights the teacher has no counterpart for
        return make_student(teacher, build, options.layers, options.student_type), teacher_dir
    if options.layers is not None or options.student_type is not None:
        raise InputError("--layers and --student-type shape a student made from the teacher; drop them with --student")
    student_dir = resolve_model_dir(options.student)
    config = checkpoint.read_config(student_dir)
    check_same_vocabulary(teacher_dir, student_dir, teacher.config, config)
    return load(student_dir), student_dir


def _fit(options: DistillOptions, student: nn.Module, task, metric: str, save) -> tuple[Trainer, dict]:
    train_config = options.train_config(metric, options.output)
    trainer = Trainer(student, task, train_config, on_improvement=lambda model, entry: save(model))
    history = trainer.fit(resume=options.resume)
    history = dataclasses.asdict(history)
    if trainer.dist.is_main:
        from bertkit.train import plots

        plots.training_curves(history, metric, Path(options.output) / "training_curves.png")
    return trainer, history


# --- task distillation ---------------------------------------------------------------------------


class TaskDistillation(ClassificationTask):
    """Fine-tuning's classification task, with the teacher's logits as extra (soft) targets.

    The teacher's logits for every training and evaluation text are computed once, up front,
    with dropout off: the teacher is frozen, so every epoch would compute the same numbers.
    """

    def __init__(self, pre, spec: TaskSpec, train, evaluation, batch_size: int, seed: int, teacher, weights):
        super().__init__(pre, spec, train, evaluation, batch_size, seed)
        self.weights = weights
        teacher.eval()
        self.teacher_logits = torch.from_numpy(tasks.text_logits(teacher, pre, self.train, batch_size))  # (N, C)
        self.teacher_eval_logits = torch.from_numpy(tasks.text_logits(teacher, pre, self.eval, batch_size))

    def loss(self, model: nn.Module, batch: list[int]):
        device = next(model.parameters()).device
        logits = model(*model_inputs(collate_texts(self.pre, self.train, batch), device))  # (B, labels)
        terms = task_distillation_terms(
            self.weights, logits, self.teacher_logits[batch].to(device), self.train_targets[batch].to(device)
        )
        return weighted_sum(terms, self.weights) * len(batch), len(batch)

    def evaluate(self, model: nn.Module) -> dict:
        logits = torch.from_numpy(tasks.text_logits(model, self.pre, self.eval, self.batch_size))
        metrics = self.metrics(logits)
        metrics["teacher_agreement"] = float((logits.argmax(-1) == self.teacher_eval_logits.argmax(-1)).float().mean())
        return metrics

    def teacher_metrics(self) -> dict:
        """The teacher's own accuracy and macro-F1 on the evaluation data (fine-tuning's metrics of its logits)."""
        report = self.metrics(self.teacher_eval_logits)
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def _classifier_teacher(teacher_dir: Path) -> TaskSpec:
    spec = TaskSpec.from_config(checkpoint.read_config(teacher_dir))
    if spec is None or spec.kind != "classification" or spec.multi_label:
        what = "no classification head" if spec is None or spec.kind != "classification" else "a multi-label head"
        raise CheckpointError(
            f"{teacher_dir}: the teacher has {what}; task distillation needs a single-label classifier "
            "made by `bertkit finetune` (for a plain encoder, distil on raw text with --corpus)"
        )
    return spec


def _task_distillation(options: DistillOptions, weights: LossWeights) -> dict:
    from bertkit.preprocess import Preprocessor

    teacher_dir = resolve_model_dir(options.teacher)
    spec = _classifier_teacher(teacher_dir)
    teacher, teacher_config, spec, _ = tasks.load(teacher_dir)
    train, evaluation, data_spec = read_data(
        FinetuneOptions(
            train=options.train, eval=options.eval, output=options.output, task="classification",
            text_column=options.text_column, label_column=options.label_column,
            text_pair_column=options.text_pair_column, columns=options.columns, encoding=options.encoding,
            eval_fraction=options.eval_fraction, seed=options.seed,
        )  # fmt: skip
    )
    unknown = sorted(set(data_spec.labels) - set(spec.labels))
    if unknown:
        raise InputError(
            f"{options.train}: labels the teacher does not know: {', '.join(map(repr, unknown[:8]))}; "
            f"the teacher predicts {', '.join(map(repr, spec.labels))}"
        )
    student, source = _student_and_source(
        options, teacher, teacher_dir,
        build=lambda config: tasks.build(config, spec),
        load=lambda directory: tasks.load(directory, spec)[0],
    )  # fmt: skip
    pre = Preprocessor.from_pretrained(teacher_dir, seq_length=options.seq_length)
    task = TaskDistillation(pre, spec, train, evaluation, options.batch_size, options.seed, teacher, weights)
    del teacher  # its logits are all the task needs from now on

    def save(model: nn.Module) -> None:
        tasks.save(model, model.config, spec, options.output, source)

    trainer, history = _fit(options, student, task, "accuracy", save)
    teacher_metrics = task.teacher_metrics()
    best = history["best"] or {}
    return {
        "labels": spec.labels,
        "teacher": str(teacher_dir),
        "teacher_layers": teacher_config.num_hidden_layers,
        "student_layers": student.config.num_hidden_layers,
        "student_type": student.config.model_type,
        "teacher_accuracy": teacher_metrics["accuracy"],
        "student_accuracy": best.get("accuracy"),
        "accuracy_kept": (best.get("accuracy") or 0.0) / max(1e-12, teacher_metrics["accuracy"]),
        "teacher_agreement": best.get("teacher_agreement"),
        "best": best,
        "epochs_run": len(history["epochs"]),
        "train_examples": len(train),
        "eval_examples": len(evaluation),
        "examples_per_second": history["examples_per_second"],
    }


# --- general distillation ------------------------------------------------------------------------


class LanguageModel(nn.Module):
    """A backbone, with or without its masked-LM head, as distillation reads it.

    Returns the vocabulary logits at the real tokens (N, V) - None without an MLM head - and
    the last hidden states (B, S, H). Wrapping the student this way keeps its whole forward in
    one `forward`, which DDP needs.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model  # a `PretrainingModel` or a bare backbone

    @property
    def backbone(self) -> nn.Module:
        return getattr(self.model, "backbone", self.model)

    @property
    def config(self):
        return self.model.config

    def forward(self, word_ids, mask, type_ids) -> tuple[torch.Tensor | None, torch.Tensor]:
        hidden = self.backbone(word_ids, mask, type_ids).sequence  # (B, S, H)
        head = getattr(self.model, "mlm", None)
        logits = head(hidden[mask.bool()]) if head is not None else None  # (B, S, H) -> (N, V)
        return logits, hidden


class GeneralDistillation:
    """The loop's task for DistilBERT's recipe on masked text from pretraining shards."""

    def __init__(self, train, evaluation, teacher: LanguageModel, weights: LossWeights, batch_size: int,
                 max_eval_batches: int = 50):  # fmt: skip
        self.train, self.evaluation = train, evaluation
        self.teacher = teacher.eval().requires_grad_(False)
        self.weights = weights
        self.batch_size = batch_size
        self.max_eval_batches = max_eval_batches

    def train_batches(self, epoch: int) -> list[list[int]]:
        return self.train.epoch_batches(epoch, self.batch_size)

    def _terms(self, model: nn.Module, batch: dict) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor]:
        device = next(model.parameters()).device
        ids, mask, types, labels = (
            batch[k].to(device) for k in ("input_word_ids", "input_mask", "input_type_ids", "mlm_labels")
        )
        with torch.no_grad():
            teacher_logits, teacher_hidden = self.teacher.to(device)(ids, mask, types)
        student_logits, student_hidden = model(ids, mask, types)
        labels = labels[mask.bool()]  # (B, S) -> (N,), as the logits
        terms = general_distillation_terms(
            self.weights, mask, student_logits, teacher_logits, labels, student_hidden, teacher_hidden
        )
        return terms, student_logits, labels

    def loss(self, model: nn.Module, batch: list[int]):
        terms, _, _ = self._terms(model, self.train.collate(batch))
        return weighted_sum(terms, self.weights) * len(batch), len(batch)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Each term and their weighted sum ("loss") on held-out text, and the MLM accuracy."""
        source = self.evaluation or self.train
        sums: dict[str, float] = {}
        examples = correct = predicted = 0
        for n, batch in enumerate(source.batches(self.batch_size)):
            if n == self.max_eval_batches:
                break
            terms, logits, labels = self._terms(model, batch)
            size = len(batch["input_mask"])
            examples += size
            for name, value in {**terms, "loss": weighted_sum(terms, self.weights)}.items():
                key = name if name == "loss" else f"{name}_loss"
                sums[key] = sums.get(key, 0.0) + float(value) * size
            if logits is not None:
                chosen = labels != IGNORE_INDEX
                correct += int((logits[chosen].argmax(-1) == labels[chosen]).sum())
                predicted += int(chosen.sum())
        metrics = {name: total / max(1, examples) for name, total in sums.items()}
        if predicted:
            metrics["mlm_accuracy"] = correct / predicted
        metrics["held_out"] = float(self.evaluation is not None)
        return metrics


def _general_distillation(options: DistillOptions, weights: LossWeights) -> dict:
    from bertkit import pretraining
    from bertkit.data.pretraining import PretrainingShards
    from bertkit.preprocess import Preprocessor
    from bertkit.train.pretrain import EVAL_DIR, TRAIN_DIR, DataSettings, has_prepared_data, make_masker, prepare_data

    teacher_dir = resolve_model_dir(options.teacher)
    if weights.ce or weights.mlm:  # both read the vocabulary logits of an MLM head
        if not pretraining.has_mlm_head(teacher_dir):
            raise CheckpointError(
                f"{teacher_dir}: the teacher has no masked-LM head, which --alpha-ce and --alpha-mlm need; "
                "use a teacher saved with its MLM head (e.g. by `bertkit pretrain`), or distil the hidden "
                "states alone with --alpha-ce 0 --alpha-mlm 0"
            )
        teacher = pretraining.load(teacher_dir, next_sentence=False)[0]
        build = lambda config: pretraining.build(config, next_sentence=False)  # noqa: E731
        load = lambda directory: pretraining.load(directory, next_sentence=False)[0]  # noqa: E731
    else:
        teacher = checkpoint.load_backbone(teacher_dir)[0]
        build = lambda config: checkpoint.architecture(config).backbone(config)  # noqa: E731
        load = lambda directory: checkpoint.load_backbone(directory)[0]  # noqa: E731
    student, source = _student_and_source(options, teacher, teacher_dir, build, load)
    if weights.cos and student.config.hidden_size != teacher.config.hidden_size:
        raise InputError(
            f"the cosine loss compares hidden states, but the student's are {student.config.hidden_size}-wide "
            f"and the teacher's {teacher.config.hidden_size}-wide; use --alpha-cos 0 or a student of the same width"
        )

    pre = Preprocessor.from_pretrained(teacher_dir, seq_length=options.seq_length)
    # DistilBERT's data: full sentences (no next-sentence pairs), masks drawn afresh every epoch.
    settings = DataSettings(max_seq_length=options.seq_length, next_sentence=False, dynamic_masking=True, seed=options.seed)
    data_dir = Path(options.output) / "data"
    prepared = None
    if not (options.resume and has_prepared_data(data_dir)):
        shutil.rmtree(data_dir, ignore_errors=True)  # never mix shards of two corpora
        prepared = prepare_data(options.corpus, pre.tokenizer, pre.layout, settings, data_dir)
    masker = make_masker(pre.tokenizer, pre.layout, settings.masking)
    train = PretrainingShards(data_dir / TRAIN_DIR, masker, options.seed)
    evaluation = PretrainingShards(data_dir / EVAL_DIR, masker, options.seed) if (data_dir / EVAL_DIR).is_dir() else None
    task = GeneralDistillation(train, evaluation, LanguageModel(teacher), weights, options.batch_size)

    def save(model: LanguageModel) -> None:
        if hasattr(model.model, "mlm"):
            pretraining.save(model.model, options.output, source=source)
        else:
            checkpoint.save(model.model, model.config, options.output, source=source)

    _, history = _fit(options, LanguageModel(student), task, "loss", save)
    return {
        "teacher": str(teacher_dir),
        "teacher_layers": teacher.config.num_hidden_layers,
        "student_layers": student.config.num_hidden_layers,
        "student_type": student.config.model_type,
        "data": prepared,
        "best": history["best"],
        "epochs_run": len(history["epochs"]),
        "examples_per_second": history["examples_per_second"],
    }


def format_report(report: dict) -> str:
    """The final report as a person reads it."""
    best = report.get("best") or {}
    lines = [f"{report['mode']} distillation: {report['teacher_layers']}-layer teacher -> "
             f"{report['student_layers']}-layer {report['student_type']} student, {report['seconds']:.0f} s"]  # fmt: skip
    if report["mode"] == "task":
        lines.append(
            f"accuracy: teacher {report['teacher_accuracy']:.4f}, student {report['student_accuracy']:.4f} "
            f"({report['accuracy_kept']:.1%} kept), agreement with the teacher {report['teacher_agreement']:.4f}"
        )
    else:
        terms = "  ".join(f"{k} {v:.4f}" for k, v in best.items() if k.endswith("_loss") or k == "mlm_accuracy")
        lines.append(f"held-out: {terms}")
    lines.append(f"student saved to {report['output']}")
    return "\n".join(lines)
