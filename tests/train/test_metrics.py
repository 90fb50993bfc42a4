"""Metrics checked against numbers worked out by hand and against scikit-learn / conlleval rules."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from bertkit.train.metrics import classification_report, entities, entity_report, multi_label_report


def test_classification_report_matches_scikit_learn():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c", "d"]
    gold = rng.choice(labels, 200).tolist()
    predicted = [g if rng.random() < 0.6 else rng.choice(labels) for g in gold]
    ours = classification_report(gold, predicted, labels)
    assert ours["accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    assert ours["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels)
    for i, label in enumerate(labels):
        row = ours["per_class"][label]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert np.sum(ours["confusion"]) == 200


def test_a_class_never_predicted_has_zero_precision_not_an_error():
    report = classification_report(["a", "b"], ["a", "a"], ["a", "b", "c"])
    assert report["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["per_class"]["c"]["support"] == 0


def test_multi_label_report():
    gold = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    predicted = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    report = multi_label_report(gold, predicted, ["x", "y", "z"])
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["micro_f1"] == pytest.approx(f1_score(gold, predicted, average="micro"))
    assert report["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))


@pytest.mark.parametrize(
    "tags, spans",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], [("PER", 0, 2), ("LOC", 3, 4)]),
        (["I-PER", "I-PER", "B-PER"], [("PER", 0, 2), ("PER", 2, 3)]),  # IOB1: I- opens an entity
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),  # a type change opens one too
        (["O", "O"], []),
        (["B-ORG", "B-ORG"], [("ORG", 0, 1), ("ORG", 1, 2)]),
    ],
)
def test_entities_follow_conlleval(tags, spans):
    assert entities(tags) == spans


def test_entity_f1_needs_type_and_both_ends():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]  # PER cut short: a miss and a false hit
    report = entity_report(gold, predicted)
    assert report["entity_precision"] == pytest.approx(2 / 3)
    assert report["entity_recall"] == pytest.approx(2 / 3)
    assert report["entity_f1"] == pytest.approx(2 / 3)
    assert report["per_type"]["PER"]["f1"] == 0.0 and report["per_type"]["LOC"]["f1"] == 1.0
    assert report["tag_accuracy"] == pytest.approx(5 / 6)
    assert entity_report(gold, [["O"] * 4, ["O"] * 2])["entity_f1"] == 0.0  # the all-O baseline
