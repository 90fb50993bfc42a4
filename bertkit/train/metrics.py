"""Evaluation metrics: accuracy, macro-F1, per-class precision/recall, entity-level F1 (BIO),
and for scores MSE and the Pearson and Spearman correlations.

Plain Python and numpy, so the numbers can be checked by hand. Entity F1 is the CoNLL-2000
`conlleval` definition: an entity counts as found only when its type and both its ends match.

    >>> m = classification_report(["ham", "spam", "ham", "ham"], ["ham", "spam", "spam", "ham"], ["ham", "spam"])
    >>> round(m["accuracy"], 2), round(m["macro_f1"], 3), m["per_class"]["spam"]["precision"]
    (0.75, 0.733, 0.5)
    >>> entities(["B-PER", "I-PER", "O", "B-LOC"])
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> entity_report([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["entity_f1"]
    0.0
    >>> {k: round(v, 4) for k, v in regression_report([0, 1, 2, 3], [0.1, 0.9, 2.5, 2.4]).items()}
    {'mse': 0.1575, 'pearson': 0.9355, 'spearman': 0.8}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from bertkit.data.labeled import entities


def _scores(true_positive: float, predicted: float, actual: float) -> dict:
    """Precision, recall, F1 and support (the actual count) of one class, or of all together."""
    true_positive, predicted, actual = float(true_positive), float(predicted), float(actual)
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(actual)}


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], num_classes: int) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def classification_report(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, macro-F1 (unweighted mean over `labels`), per-class P/R/F1/support, confusion."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = confusion_matrix([index[g] for g in gold], [index[p] for p in predicted], len(labels))
    per_class = {label: _scores(matrix[i, i], matrix[:, i].sum(), matrix[i].sum()) for i, label in enumerate(labels)}
    return {
        "accuracy": float(np.trace(matrix) / max(1, matrix.sum())),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


def multi_label_report(gold: np.ndarray, predicted: np.ndarray, labels: Sequence[str]) -> dict:
    """Multi-label: 0/1 matrices (N, labels). Exact-match accuracy, macro and micro F1, per label."""
    gold, predicted = np.asarray(gold, bool), np.asarray(predicted, bool)
    per_class = {
        label: _scores((gold[:, i] & predicted[:, i]).sum(), predicted[:, i].sum(), gold[:, i].sum())
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": float((gold == predicted).all(axis=1).mean()),
        "macro_f1": float(np.mean([c["f1"] for c in per_class.values()])),
        "micro_f1": _scores((gold & predicted).sum(), predicted.sum(), gold.sum())["f1"],
        "per_class": per_class,
    }


def entity_report(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
    """Entity-level micro precision/recall/F1 over sentences, per entity type, and tag accuracy."""
    found, actual, correct = Counter(), Counter(), Counter()
    tags_right = tags_total = 0
    for gold_tags, predicted_tags in zip(gold, predicted):
        g = set(entities(gold_tags))
        p = set(entities(predicted_tags))
        actual.update(kind for kind, *_ in g)
        found.update(kind for kind, *_ in p)
        correct.update(kind for kind, *_ in g & p)
        tags_right += sum(a == b for a, b in zip(gold_tags, predicted_tags))
        tags_total += len(gold_tags)
    total = _scores(sum(correct.values()), sum(found.values()), sum(actual.values()))
    return {
        "entity_f1": total["f1"],
        "entity_precision": total["precision"],
        "entity_recall": total["recall"],
        "tag_accuracy": tags_right / max(1, tags_total),
        "per_type": {
            kind: _scores(correct.get(kind, 0), found.get(kind, 0), actual.get(kind, 0))
            for kind in sorted(set(actual) | set(found))
        },
    }


# --- scores (regression) ---------------------------------------------------------------------------


def ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's `rankdata` "average")."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # first index of each run of ties
    ends = np.r_[starts[1:], len(values)]
    result = np.empty(len(values))
    result[order] = np.repeat((starts + ends + 1) / 2, ends - starts)  # mean of ranks start+1 .. end
    return result


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation; 0.0 when either side is constant (undefined there, and a constant
    prediction has learned nothing, so early stopping and best-epoch selection still compare)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # tested on the values: x - x.mean() may not be exactly 0
        return 0.0
    dx, dy = x - x.mean(), y - y.mean()
    return float(np.clip((dx * dy).sum() / np.sqrt((dx * dx).sum() * (dy * dy).sum()), -1.0, 1.0))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's of the ranks (ties averaged), as `scipy.stats.spearmanr`."""
    return pearson(ranks(x), ranks(y))


def regression_report(gold: Sequence[float], predicted: Sequence[float]) -> dict:
    """Mean squared error and the Pearson and Spearman correlations of predicted and true scores."""
    gold, predicted = np.asarray(gold, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    return {
        "mse": float(np.mean((gold - predicted) ** 2)),
        "pearson": pearson(gold, predicted),
        "spearman": spearman(gold, predicted),
    }
