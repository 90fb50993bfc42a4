"""General distillation, DistilBERT's recipe (Sanh et al. 2019): any encoder teaches a smaller one
on raw text, cut and masked by pretraining's own pipeline (data/shards.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.data.instances import DataSettings
from bertkit.data.masking import IGNORE_INDEX
from bertkit.data.shards import has_prepared_data, open_shards, prepare_data
from bertkit.errors import CheckpointError, InputError
from bertkit.preprocessing import Preprocessor
from bertkit.train.distill.losses import LossWeights, general_distillation_terms, weighted_sum
from bertkit.train.distill.options import DistillOptions
from bertkit.train.distill.student import student_and_source
from bertkit.train.finetune import train_and_plot
from bertkit.train.pretrain import ShardsObjective


class LanguageModel(nn.Module):
    """A backbone, with or without its masked-LM head, as distillation reads it.

    Returns the vocabulary logits at the real tokens (N, V) - None without an MLM head - and
    the last hidden states (B, S, H). Wrapping the student this way keeps its whole forward in
    one `forward`, which DDP needs.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model  # a `PretrainingModel` or a bare backbone

    def forward(self, word_ids, mask, type_ids) -> tuple[torch.Tensor | None, torch.Tensor]:
        backbone = getattr(self.model, "backbone", self.model)
        hidden = backbone(word_ids, mask, type_ids).sequence  # (B, S, H)
        head = getattr(self.model, "mlm", None)
        logits = head(hidden[mask.bool()]) if head is not None else None  # (B, S, H) -> (N, V)
        return logits, hidden


class GeneralDistillation(ShardsObjective):
    """The loop's objective for DistilBERT's recipe on masked text from pretraining shards."""

    def __init__(self, train, evaluation, teacher: LanguageModel, weights: LossWeights, batch_size: int):
        super().__init__(train, evaluation, batch_size)
        self.teacher, self.weights = teacher.eval().requires_grad_(False), weights

    def _terms(
        self, model: nn.Module, batch: dict
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, torch.Tensor]:
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
        sums: dict[str, float] = {}
        examples = correct = predicted = 0
        for batch in self.evaluation_batches():
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


def general_distillation(options: DistillOptions, weights: LossWeights) -> dict:
    """Train the student on raw text, keep its best epoch in `options.output`, return the report."""
    teacher_dir = resolve_model_dir(options.teacher)
    if weights.ce or weights.mlm:  # both read the vocabulary logits of an MLM head
        if not checkpoint.has_mlm_head(teacher_dir):
            raise CheckpointError(
                f"{teacher_dir}: the teacher has no masked-LM head, which --alpha-ce and --alpha-mlm need; "
                "use a teacher saved with its MLM head (e.g. by `bertkit pretrain`), or distil the hidden "
                "states alone with --alpha-ce 0 --alpha-mlm 0"
            )
        build = lambda config: checkpoint.build_pretraining(config, next_sentence=False)
        load = lambda directory: checkpoint.load_pretraining(directory, next_sentence=False)[0]
    else:
        build = lambda config: checkpoint.architecture(config).backbone(config)
        load = lambda directory: checkpoint.load_backbone(directory)[0]
    teacher = load(teacher_dir)
    student, source = student_and_source(options, teacher, teacher_dir, build, load)
    if weights.cos and student.config.hidden_size != teacher.config.hidden_size:
        raise InputError(
            f"the cosine loss compares hidden states, but the student's are {student.config.hidden_size}-wide "
            f"and the teacher's {teacher.config.hidden_size}-wide; use --alpha-cos 0 or a student of the same width"
        )

    pre = Preprocessor.from_pretrained(teacher_dir, seq_length=options.seq_length)
    # DistilBERT's data: full sentences (no next-sentence pairs), masks drawn afresh every epoch.
    settings = DataSettings(options.seq_length, next_sentence=False, dynamic_masking=True, seed=options.seed)
    data_dir, prepared = Path(options.output) / "data", None
    if not (options.resume and has_prepared_data(data_dir)):
        shutil.rmtree(data_dir, ignore_errors=True)  # never mix shards of two corpora
        prepared = prepare_data(options.corpus, pre.tokenizer, pre.layout, settings, data_dir)
    train, evaluation = open_shards(data_dir, pre.tokenizer, pre.layout, settings)
    objective = GeneralDistillation(train, evaluation, LanguageModel(teacher), weights, options.batch_size)

    def save(model: LanguageModel) -> None:
        if hasattr(model.model, "mlm"):
            checkpoint.save_pretraining(model.model, options.output, source=source)
        else:
            checkpoint.save(model.model, model.model.config, options.output, source=source)

    _, history = train_and_plot(LanguageModel(student), objective, options, "loss", save)
    return {
        "teacher": str(teacher_dir),
        "teacher_layers": teacher.config.num_hidden_layers,
        "student_layers": student.config.num_hidden_layers,
        "student_type": student.config.model_type,
        "data": prepared,
        **history.summary(),
    }
