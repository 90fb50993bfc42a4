"""Predictions of a fine-tuned classifier or tagger: labels and scores, in input order.

Shared by evaluation during training, `bertkit predict` and `Pipeline.predict`; the model is a
task model (`bertkit.modeling.classification`) or the inference engine's `FastTaskModel`, and
what it predicts is its `bertkit.checkpoint.TaskSpec`.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from bertkit.checkpoint import TaskSpec
from bertkit.data.labeled import entities
from bertkit.errors import InputError
from bertkit.text.normalization import CJK_RANGES, char_class

_CJK = char_class(CJK_RANGES)
_WORD = re.compile(f"{_CJK}|[^\\s{_CJK[1:-1]}]+")  # whitespace as str.split() sees it


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The preprocessor's dict -> the task model's (word_ids, mask, type_ids), int64 on `device`."""
    return tuple(batch[name].to(device).long() for name in ("input_word_ids", "input_mask", "input_type_ids"))


@torch.no_grad()
def text_logits(model: nn.Module, pre, encoded, batch_size: int = 32) -> np.ndarray:
    """(N, labels) float32 logits for encoded texts (`Preprocessor.encode`), input order."""
    device = next(model.parameters()).device
    logits = np.zeros((len(encoded.lengths), model.num_labels), dtype=np.float32)
    for batch, inputs in pre.batches(encoded, batch_size):
        logits[batch] = model(*model_inputs(inputs, device)).float().cpu().numpy()
    return logits


@torch.no_grad()
def word_logits(model: nn.Module, pre, encoded, batch_size: int = 32) -> list[np.ndarray]:
    """Per sentence, (words, labels) float32 logits at each word's first piece; a word with no
    piece (cut by seq_length, or no token at all) gets zeros, which the caller reports."""
    device = next(model.parameters()).device
    offset = len(pre.layout.start)
    out = [np.zeros((len(firsts), model.num_labels), dtype=np.float32) for firsts in encoded.first_pieces]
    for batch, inputs in pre.batches(encoded, batch_size):
        logits = model(*model_inputs(inputs, device)).float().cpu().numpy()  # (B, S, labels)
        for row, i in enumerate(batch):
            for w, position in enumerate(encoded.first_pieces[i]):
                if position >= 0:
                    out[i][w] = logits[row, offset + position]
    return out


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """A tagger's words of a raw text and their (start, end) character spans: the runs between
    whitespace, and each CJK ideograph a word of its own, as Chinese NER corpora label them
    (one tag per character) and as BERT's tokenizer spaces them out.

    >>> split_words("北京 is big")
    (['北', '京', 'is', 'big'], [(0, 1), (1, 2), (3, 5), (6, 9)])
    """
    matches = list(_WORD.finditer(text))
    return [m.group() for m in matches], [m.span() for m in matches]


def _joined_spans(words: list[str]) -> list[tuple[int, int]]:
    """Spans of words given as a list, in the text of the words joined by single spaces."""
    spans, position = [], 0
    for word in words:
        spans.append((position, position + len(word)))
        position += len(word) + 1
    return spans


def predict(
    model: nn.Module,
    spec: TaskSpec,
    pre,
    texts,
    texts_b=None,
    batch_size: int = 32,
    sigmoid: bool = False,
    offsets: bool = True,
) -> list[dict]:
    """Labels and scores, one dict per input, in input order.

    classification  {"label", "score", "scores": {label: probability}}
    one output      {"label", "score", "scores"} with the raw score (a cross-encoder's relevance,
                    a regression's value: a softmax over one logit would always be 1), or its
                    sigmoid with `sigmoid=True`
    multi-label     {"labels": [every label with probability > 0.5], "scores": {...}}
    tagging         {"words", "tags", "scores", "entities": [{"type", "text", "start", "end"}]};
                    a text is split into words on whitespace and each CJK ideograph is a word
                    (`split_words`), or given as a list of words; an entity's "start"/"end"
                    are word indices, its "text" the original text from its first word to its last.
                    `offsets` (default) adds "spans": the (start, end) character span of each word in
                    the text (for a list of words: in the words joined by single spaces), and
                    each entity's "span" from its first word's start to its last word's end
    """
    if isinstance(texts, str):
        raise InputError("predict takes a list of texts, not one string; wrap it: predict([text])")
    texts = list(texts)
    if spec.kind == "tagging" and texts_b is not None:
        raise InputError("a tagger tags single texts; pairs (texts_b) are for a classifier or cross-encoder")
    model.eval()
    if spec.kind == "classification":
        if texts_b is not None and len(list(texts_b)) != len(texts):
            raise InputError(
                f"got {len(texts)} texts but {len(list(texts_b))} second texts; pairs need as many of each"
            )
        logits = torch.from_numpy(text_logits(model, pre, pre.encode(texts, texts_b), batch_size))
        if len(spec.labels) == 1 and not spec.multi_label:
            probabilities = torch.sigmoid(logits) if sigmoid else logits
        else:
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

    sentences, word_spans = [], []
    for text in texts:
        words, spans = split_words(text) if isinstance(text, str) else ([str(w) for w in text], None)
        sentences.append(words)
        word_spans.append(_joined_spans(words) if spans is None else spans)
    encoded = pre.encode_words(sentences)
    outside = "O" if "O" in spec.labels else spec.labels[0]
    results = []
    logits_per_text = word_logits(model, pre, encoded, batch_size)
    for text, words, spans, firsts, logits in zip(texts, sentences, word_spans, encoded.first_pieces, logits_per_text):
        probabilities = torch.softmax(torch.from_numpy(logits), dim=-1)
        tags, scores = [], []
        for p, position in zip(probabilities, firsts):
            best = int(p.argmax())
            tags.append(spec.labels[best] if position >= 0 else outside)
            scores.append(float(p[best]) if position >= 0 else 0.0)
        if not isinstance(text, str):
            text = " ".join(words)
        found = []
        for kind, start, end in entities(tags):
            span = (spans[start][0], spans[end - 1][1])
            found.append({"type": kind, "text": text[span[0] : span[1]], "start": start, "end": end})
            if offsets:
                found[-1]["span"] = span
        result = {"words": words, "tags": tags, "scores": scores, "entities": found}
        if offsets:
            result["spans"] = spans
        results.append(result)
    return results
