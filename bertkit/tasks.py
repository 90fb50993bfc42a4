"""Fine-tuned task models on disk: which task a checkpoint holds, loading it, saving it.

A fine-tuned directory is a HuggingFace one: `config.json` names the task class
(`BertForSequenceClassification`, `BertForTokenClassification`, ...) in `architectures` and
carries the label names as `id2label` / `label2id` (and `problem_type` for multi-label), so
`transformers`' `AutoModelFor*` classes and `AutoTokenizer` load it as they load their own.

    >>> spec = TaskSpec("classification", ["ham", "spam"])
    >>> spec.hf_config()["id2label"]
    {'0': 'ham', '1': 'spam'}
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, InputError
from bertkit.inference.batching import length_batches
from bertkit.modeling.bert import init_weights
from bertkit.modeling.classification import SequenceClassifier, TokenClassifier

KINDS = ("classification", "tagging")
_MODEL_CLASS = {"classification": SequenceClassifier, "tagging": TokenClassifier}
_HF_SUFFIX = {"classification": "ForSequenceClassification", "tagging": "ForTokenClassification"}
_PROBLEM_TYPE = {False: "single_label_classification", True: "multi_label_classification"}


@dataclasses.dataclass
class TaskSpec:
    """What a fine-tuned model predicts: its kind and its label names (index = class id)."""

    kind: str  # "classification" (a label per text or pair) or "tagging" (a label per word)
    labels: list[str]
    multi_label: bool = False  # classification only: any number of labels per text

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"unknown task {self.kind!r}; choose one of {', '.join(KINDS)}")
        if len(set(self.labels)) != len(self.labels):
            raise InputError(f"label names repeat: {self.labels}")

    def hf_config(self) -> dict[str, Any]:
        """The config.json keys HuggingFace reads for this task."""
        keys: dict[str, Any] = {
            "id2label": {str(i): name for i, name in enumerate(self.labels)},
            "label2id": {name: i for i, name in enumerate(self.labels)},
        }
        if self.kind == "classification":
            keys["problem_type"] = _PROBLEM_TYPE[self.multi_label]
        return keys

    @classmethod
    def from_config(cls, config: BertConfig) -> TaskSpec | None:
        """The task of a fine-tuned checkpoint's config; None for a bare encoder."""
        architectures = config.extra.get("architectures") or []
        kind = next((k for k, suffix in _HF_SUFFIX.items() for a in architectures if a.endswith(suffix)), None)
        if kind is None:
            return None
        id2label = config.extra.get("id2label")
        if not isinstance(id2label, dict) or not id2label:
            raise CheckpointError(f"config.json names a {architectures[0]} but has no id2label")
        try:
            labels = [id2label[key] for key in sorted(id2label, key=int)]
        except ValueError:
            raise CheckpointError(f"config.json: id2label keys must be class numbers, got {list(id2label)}") from None
        multi = config.extra.get("problem_type") == _PROBLEM_TYPE[True]
        return cls(kind, [str(label) for label in labels], multi_label=multi)


def build(config: BertConfig, spec: TaskSpec) -> nn.Module:
    """A task model with random weights (BERT initialisation)."""
    backbone = checkpoint.architecture(config).backbone(config)
    return _MODEL_CLASS[spec.kind](backbone, config, len(spec.labels))


def load(model: str | Path | None, spec: TaskSpec | None = None) -> tuple[nn.Module, BertConfig, TaskSpec, Path]:
    """A task model from a checkpoint directory (None = the bundled default).

    With `spec`, a new head for those labels goes on the checkpoint's encoder (the start of
    fine-tuning); without it, the checkpoint must be a fine-tuned one and its head is loaded.
    """
    directory = resolve_model_dir(model)
    config = checkpoint.read_config(directory)
    saved = TaskSpec.from_config(config)
    if spec is None:
        if saved is None:
            raise CheckpointError(
                f"{directory}: not a fine-tuned model (config.json names no classification or tagging "
                "architecture); fine-tune it first with `bertkit finetune`"
            )
        spec = saved
    config = with_task(config, spec)
    reuse_head = saved == spec
    with torch.device("meta"):  # no memory and no random init for what the file fills anyway
        module = build(config, spec)
    if not reuse_head:  # a new head: leave it out of the file's reach, initialise it below
        head = module.head
        module.head = nn.Identity()
    checkpoint.load_weights(module, directory, config)
    if not reuse_head:
        module.head = head.to_empty(device="cpu")
        head.apply(lambda m: init_weights(m, config))
    return module, config, spec, directory


def with_task(config: BertConfig, spec: TaskSpec) -> BertConfig:
    """`config` with the task's HuggingFace class and label names."""
    extra = {k: v for k, v in config.extra.items() if k not in ("id2label", "label2id", "problem_type")}
    hf_class = checkpoint.architecture(config).hf_class.removesuffix("Model") + _HF_SUFFIX[spec.kind]
    extra.update(spec.hf_config(), architectures=[hf_class])
    return dataclasses.replace(config, extra=extra)


def save(module: nn.Module, config: BertConfig, spec: TaskSpec, directory: str | Path, source: Path | None) -> Path:
    """Write a HuggingFace directory for the task model, each file replaced atomically
    (`checkpoint.save_atomic`)."""
    return checkpoint.save_atomic(module, with_task(config, spec), directory, source=source)


# --- prediction (shared by evaluation during training, `bertkit predict` and `Pipeline.predict`)


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The preprocessor's dict -> the task model's (word_ids, mask, type_ids), int64 on `device`."""
    return tuple(batch[name].to(device).long() for name in ("input_word_ids", "input_mask", "input_type_ids"))


@torch.no_grad()
def text_logits(model: nn.Module, pre, encoded, batch_size: int = 32) -> np.ndarray:
    """(N, labels) float32 logits for encoded texts (`data.encoding.encode_texts`), input order."""
    from bertkit.data.encoding import collate_texts

    device = next(model.parameters()).device
    logits = np.zeros((len(encoded.lengths), model.num_labels), dtype=np.float32)
    for batch in length_batches(encoded.lengths, max_tokens=batch_size * pre.seq_length, max_texts=batch_size):
        logits[batch] = model(*model_inputs(collate_texts(pre, encoded, batch), device)).float().cpu().numpy()
    return logits


@torch.no_grad()
def word_logits(model: nn.Module, pre, encoded, batch_size: int = 32) -> list[np.ndarray]:
    """Per sentence, (words, labels) float32 logits at each word's first piece; a word with no
    piece (cut by seq_length, or no token at all) gets zeros, which the caller reports."""
    from bertkit.data.encoding import collate_words

    device = next(model.parameters()).device
    offset = len(pre.layout.start)
    out = [np.zeros((len(firsts), model.num_labels), dtype=np.float32) for firsts in encoded.first_pieces]
    for batch in length_batches(encoded.lengths, max_tokens=batch_size * pre.seq_length, max_texts=batch_size):
        inputs, _ = collate_words(pre, encoded, batch)
        logits = model(*model_inputs(inputs, device)).float().cpu().numpy()  # (B, S, labels)
        for row, i in enumerate(batch):
            for w, position in enumerate(encoded.first_pieces[i]):
                if position >= 0:
                    out[i][w] = logits[row, offset + position]
    return out


def predict(model: nn.Module, spec: TaskSpec, pre, texts, texts_b=None, batch_size: int = 32) -> list[dict]:
    """Labels and scores, one dict per input, in input order.

    classification  {"label", "score", "scores": {label: probability}}
    multi-label     {"labels": [every label with probability > 0.5], "scores": {...}}
    tagging         {"words", "tags", "scores", "entities": [{"type", "text", "start", "end"}]};
                    a text is split into words on whitespace, or given as a list of words
    """
    from bertkit.data.encoding import encode_texts, encode_words
    from bertkit.train.metrics import entities

    if isinstance(texts, str):
        raise InputError("predict takes a list of texts, not one string; wrap it: predict([text])")
    texts = list(texts)
    model.eval()
    if spec.kind == "classification":
        if texts_b is not None and len(list(texts_b)) != len(texts):
            raise InputError(f"got {len(texts)} texts but {len(list(texts_b))} second texts; pairs need as many of each")
        logits = torch.from_numpy(text_logits(model, pre, encode_texts(pre, texts, texts_b), batch_size))
        probabilities = torch.sigmoid(logits) if spec.multi_label else torch.softmax(logits, dim=-1)
        results = []
        for row in probabilities.tolist():
            scores = dict(zip(spec.labels, row))
            if spec.multi_label:
                results.append({"labels": [label for label, p in scores.items() if p > 0.5], "scores": scores})
            else:
                best = int(np.argmax(row))
                results.append({"label": spec.labels[best], "score": row[best], "scores": scores})
        return results

    sentences = [text.split() if isinstance(text, str) else [str(w) for w in text] for text in texts]
    encoded = encode_words(pre, sentences)
    outside = "O" if "O" in spec.labels else spec.labels[0]
    results = []
    for words, firsts, logits in zip(sentences, encoded.first_pieces, word_logits(model, pre, encoded, batch_size)):
        probabilities = torch.softmax(torch.from_numpy(logits), dim=-1)
        tags, scores = [], []
        for p, position in zip(probabilities, firsts):
            best = int(p.argmax())
            tags.append(spec.labels[best] if position >= 0 else outside)
            scores.append(float(p[best]) if position >= 0 else 0.0)
        found = [
            {"type": kind, "text": " ".join(words[start:end]), "start": start, "end": end}
            for kind, start, end in entities(tags)
        ]
        results.append({"words": words, "tags": tags, "scores": scores, "entities": found})
    return results
