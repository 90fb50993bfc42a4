"""Pretraining on the shared loop: raw text -> instances on disk -> MLM (+ NSP) training.

    prepare_data       corpus files -> `train/` and `eval/` shards (documents held out whole,
                       so next-sentence accuracy is measured on pairs never trained on)
    PretrainingTask    the loop's task: batches from the shards, the joint MLM + NSP loss,
                       running MLM loss / MLM accuracy / NSP accuracy for the progress bar,
                       and the held-out metrics every epoch

    >>> from bertkit.data.masking import MaskingConfig
    >>> DataSettings(max_seq_length=64, masking=MaskingConfig(whole_word=True)).next_sentence
    True
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from bertkit.data.masking import Masker, MaskingConfig
from bertkit.data.pretraining import (
    CorpusStats,
    InstanceConfig,
    InstanceMaker,
    PretrainingShards,
    Specials,
    read_documents,
    read_shard_meta,
    write_shards,
)
from bertkit.errors import InputError
from bertkit.modeling.pretraining import pretraining_loss

TRAIN_DIR, EVAL_DIR = "train", "eval"


@dataclasses.dataclass
class DataSettings:
    """How a corpus becomes pretraining instances (defaults: BERT's recipe at 128 tokens)."""

    max_seq_length: int = 128
    short_seq_prob: float = 0.1
    next_sentence: bool = True  # False: RoBERTa's full-sentence sequences, MLM only
    masking: MaskingConfig = dataclasses.field(default_factory=MaskingConfig)
    dynamic_masking: bool = False  # True: masks drawn anew each epoch (RoBERTa); False: dupe_factor copies
    dupe_factor: int = 5
    hold_out_every: int = 20  # every n-th document goes to the held-out set ...
    max_held_out_documents: int = 1000  # ... up to this many
    buffer_documents: int = 2_000  # see InstanceConfig
    instances_per_shard: int = 20_000
    seed: int = 12345


def text_specials(tokenizer, layout) -> Specials:
    """The framing tokens of a tokenizer + packing layout, BERT's or RoBERTa's alike."""
    return Specials(cls=layout.start[0], sep=layout.end[0], pad=layout.pad_id, mask=tokenizer.token_id("mask_token"))


def continuation_table(tokenizer) -> list[bool]:
    """Which ids continue the word before them: WordPiece "##x"; byte-level BPE pieces
    without a leading space ("Ġ"). Used by whole-word masking."""
    from bertkit.text.bert_tokenizer import BertTokenizer

    tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    if isinstance(tokenizer, BertTokenizer):
        return [t.startswith("##") for t in tokens]
    return [not t.startswith("Ġ") for t in tokens]


def make_masker(tokenizer, layout, config: MaskingConfig) -> Masker:
    specials = text_specials(tokenizer, layout)
    continuation = continuation_table(tokenizer) if config.whole_word else None
    return Masker(specials.mask, specials.ids, tokenizer.vocab_size, config, continuation)


def prepare_data(
    corpus: Sequence[str | os.PathLike], tokenizer, layout, settings: DataSettings, directory: str | os.PathLike
) -> dict:
    """Write `directory/train` and `directory/eval` shards; returns a summary of what was made.

    The corpus is streamed (one buffer of documents in memory at a time); the held-out
    documents are kept aside in memory, at most `settings.max_held_out_documents` of them.
    """
    directory = Path(directory)
    names = ", ".join(str(p) for p in corpus)
    specials = text_specials(tokenizer, layout)
    masker = make_masker(tokenizer, layout, settings.masking)
    instance_config = InstanceConfig(
        max_seq_length=settings.max_seq_length,
        short_seq_prob=settings.short_seq_prob,
        next_sentence=settings.next_sentence,
        buffer_documents=settings.buffer_documents,
    )
    stats = CorpusStats()
    held_out: list[list[list[int]]] = []

    def training_documents():
        documents = read_documents(corpus, tokenizer.encode, settings.max_seq_length - 3, stats)
        for number, document in enumerate(documents, start=1):
            if number % settings.hold_out_every == 0 and len(held_out) < settings.max_held_out_documents:
                held_out.append(document)
            else:
                yield document

    rng = np.random.default_rng(settings.seed)
    static = not settings.dynamic_masking
    maker = InstanceMaker(specials, instance_config, masker if static else None)
    meta = {"next_sentence": settings.next_sentence, "vocab_size": tokenizer.vocab_size}
    shard_args = dict(
        max_seq_length=settings.max_seq_length,
        max_predictions=settings.masking.max_predictions,
        pad_id=specials.pad,
        instances_per_shard=settings.instances_per_shard,
        extra_meta=meta,
    )
    try:
        dupe = settings.dupe_factor if static else 1
        train = write_shards(
            maker.instances(training_documents(), rng, dupe), directory / TRAIN_DIR, static_masking=static, **shard_args
        )
        # held-out pairs: masked once, the same masks at every evaluation
        evaluation = None
        if len(held_out) >= 2:
            fixed = InstanceMaker(specials, instance_config, masker)
            evaluation = write_shards(
                fixed.instances(iter(held_out), rng), directory / EVAL_DIR, static_masking=True, **shard_args
            )
    except InputError as e:
        if stats.documents == 0:
            raise InputError(f"{names}: the corpus holds no text ({stats.lines} lines, all blank)") from None
        raise InputError(f"{names}: {e}") from None
    return {
        "files": stats.files,
        "lines": stats.lines,
        "documents": stats.documents,
        "tokens": stats.tokens,
        "split_lines": stats.split_lines,
        "held_out_documents": len(held_out) if evaluation else 0,
        "train_instances": train["instances"],
        "eval_instances": evaluation["instances"] if evaluation else 0,
    }


def has_prepared_data(directory: str | os.PathLike) -> bool:
    try:
        read_shard_meta(Path(directory) / TRAIN_DIR)
        return True
    except InputError:
        return False


class _Meter:
    """Exponential moving averages of the training metrics, for the progress bar."""

    def __init__(self, decay: float = 0.95):
        self.decay = decay
        self.values: dict[str, float] = {}

    def update(self, name: str, value: float) -> None:
        old = self.values.get(name)
        self.values[name] = value if old is None else self.decay * old + (1 - self.decay) * value


class PretrainingTask:
    """The loop's task for MLM (+ NSP) pretraining from shards."""

    def __init__(
        self,
        train: PretrainingShards,
        evaluation: PretrainingShards | None,
        batch_size: int,
        max_eval_batches: int = 50,
    ):
        self.train = train
        self.evaluation = evaluation
        self.batch_size = batch_size
        self.max_eval_batches = max_eval_batches
        self.next_sentence = train.next_sentence
        self.meter = _Meter()

    def train_batches(self, epoch: int) -> list[list[int]]:
        return self.train.epoch_batches(epoch, self.batch_size)

    def _run(self, model: nn.Module, batch: dict):
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(batch["input_word_ids"], batch["input_mask"], batch["input_type_ids"], mlm_labels=batch["mlm_labels"])
        nsp = batch["next_sentence_labels"] if self.next_sentence else None
        return pretraining_loss(out, batch["mlm_labels"], nsp)

    def loss(self, model: nn.Module, batch: list[int]) -> tuple[torch.Tensor, int]:
        """The joint loss (mean MLM loss over predicted tokens + mean NSP loss) times the batch
        size: the loop sums over micro-batches and processes and divides by the items."""
        result = self._run(model, self.train.collate(batch))
        self.meter.update("mlm_loss", result.mlm_loss.item())
        self.meter.update("mlm_acc", result.mlm_correct / max(1, result.mlm_count))
        if result.nsp_loss is not None:
            self.meter.update("nsp_acc", result.nsp_correct / max(1, result.nsp_count))
        return result.loss * len(batch), len(batch)

    def progress(self) -> dict[str, float]:
        """Running MLM loss, MLM accuracy and NSP accuracy (shown by the loop's progress bar)."""
        return dict(self.meter.values)

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out MLM loss and accuracy, NSP accuracy (on the held-out documents when there are
        enough of them, else on the first training batches, in order, with their fixed masks)."""
        source = self.evaluation or self.train
        sums = dict(mlm_loss=0.0, nsp_loss=0.0, mlm_correct=0, mlm_count=0, nsp_correct=0, nsp_count=0)
        for n, batch in enumerate(source.batches(self.batch_size)):
            if n == self.max_eval_batches:
                break
            r = self._run(model, batch)
            sums["mlm_loss"] += float(r.mlm_loss) * r.mlm_count
            sums["mlm_correct"] += r.mlm_correct
            sums["mlm_count"] += r.mlm_count
            if r.nsp_loss is not None:
                sums["nsp_loss"] += float(r.nsp_loss) * r.nsp_count
                sums["nsp_correct"] += r.nsp_correct
                sums["nsp_count"] += r.nsp_count
        metrics = {
            "mlm_loss": sums["mlm_loss"] / max(1, sums["mlm_count"]),
            "mlm_accuracy": sums["mlm_correct"] / max(1, sums["mlm_count"]),
        }
        metrics["loss"] = metrics["mlm_loss"]
        if sums["nsp_count"]:
            metrics["nsp_loss"] = sums["nsp_loss"] / sums["nsp_count"]
            metrics["nsp_accuracy"] = sums["nsp_correct"] / sums["nsp_count"]
            metrics["loss"] += metrics["nsp_loss"]
        metrics["held_out"] = float(self.evaluation is not None)
        return metrics
