"""Regression (`--task regression`): float labels read and counted, MSE as transformers computes
it, the saved directory loaded by transformers with the same scores, a tiny model that learns a
score, and the correlations against scipy."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import tiny_models
import torch
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit import checkpoint
from bertkit.checkpoint import TaskSpec
from bertkit.cli import main
from bertkit.data import labeled
from bertkit.errors import InputError
from bertkit.preprocessing import Preprocessor
from bertkit.preprocessing.encoding import collate_texts
from bertkit.tasks import prediction
from bertkit.train import metrics as M
from bertkit.train.finetune import FinetuneOptions, RegressionObjective, finetune

WORDS = "the cat sat on a mat and then ran off to see its friend by the old red barn".split()


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_models.tiny_bert_dir(tmp_path_factory.mktemp("tiny"))


def word_count_pairs(n: int, seed: int = 0) -> list[tuple[str, str, float]]:
    """(first, second, score): the score is the number of words in the second text / 10."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        second = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        rows.append((" ".join(rng.choice(WORDS) for _ in range(3)), second, len(second.split()) / 10))
    return rows


# --- data --------------------------------------------------------------------------------------


def test_float_labels_make_scores_and_bad_ones_are_dropped_and_counted(tmp_path):
    rows = [("a b", "c", "4.5"), ("d", "e f", "0"), ("g", "h", "n/a"), ("i", "j", "nan"), ("k", "l", "inf"),
            ("m", "n", ""), ("o", "p", "1e-1")]  # fmt: skip
    csv_path = tiny_models.write_csv(tmp_path / "pairs.csv", rows, header=("s1", "s2", "score"))
    data = labeled.read_table(csv_path, "s1", "score", "s2", regression=True)
    assert data.labels == [4.5, 0.0, 0.1] and data.texts_b == ["c", "e f", "p"]
    assert data.dropped == {"a non-numeric label": 1, "a NaN or infinite label": 2, "no label": 1}

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("\n".join(json.dumps({"s1": a, "s2": b, "score": s}) for a, b, s in [
        ("a", "b", 3.2), ("c", "d", 1), ("e", "f", "2.5"), ("g", "h", ["x"]), ("i", "j", True)
    ]))  # fmt: skip
    data = labeled.read_table(jsonl, "s1", "score", "s2", regression=True)
    assert data.labels == [3.2, 1.0, 2.5, 1.0] and data.dropped == {"a non-numeric label": 1}

    with pytest.raises(InputError, match=r"no usable rows \(2 rows with a non-numeric label\)"):
        labeled.read_table(tiny_models.write_csv(tmp_path / "bad.csv", [("a", "x"), ("b", "y")]), regression=True)


def test_regression_needs_scores_that_differ(base, tmp_path):
    train = tiny_models.write_csv(tmp_path / "same.csv", [("a b", "2.0"), ("c", "2")] * 5)
    with pytest.raises(InputError, match="a regression needs scores that differ"):
        finetune(FinetuneOptions(train=train, output=tmp_path / "m", model=base, task="regression", progress=False))


# --- the loss and the saved model against transformers -----------------------------------------------


def test_loss_is_transformers_mse_on_the_same_weights_and_batch(base, tmp_path):
    rows = word_count_pairs(12)
    data = labeled.LabeledTexts([a for a, _, _ in rows], [s for _, _, s in rows], [b for _, b, _ in rows])
    model, config, spec, source = checkpoint.load_task(base, TaskSpec.regression_spec())
    pre = Preprocessor.from_pretrained(source, seq_length=32)
    objective = RegressionObjective(pre, spec, data, data, batch_size=12, seed=0)
    batch = [0, 3, 4, 7, 11]
    model.eval()
    loss_sum, items = objective.loss(model, batch)

    checkpoint.save_task(model, config, spec, tmp_path / "saved", source)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    inputs = collate_texts(pre, objective.train, batch)
    out = theirs(
        input_ids=inputs["input_word_ids"].long(),
        attention_mask=inputs["input_mask"].long(),
        token_type_ids=inputs["input_type_ids"].long(),
        labels=torch.tensor([rows[i][2] for i in batch]),
    )
    assert items == len(batch)
    assert loss_sum.item() / items == pytest.approx(out.loss.item(), abs=1e-6)


def test_fine_tuned_regression_loads_in_transformers_with_the_same_scores(base, tmp_path):
    rows = word_count_pairs(40)
    train = tiny_models.write_csv(tmp_path / "train.csv", rows, header=("s1", "s2", "score"))
    out = tmp_path / "model"
    report = finetune(FinetuneOptions(
        train=train, output=out, model=base, task="regression", text_column="s1", text_pair_column="s2",
        label_column="score", epochs=1, max_steps=3, batch_size=8, learning_rate=1e-3, progress=False,
    ))  # fmt: skip
    assert report["task"] == "regression" and report["metric"] == "spearman"
    assert set(report["best"]) >= {"loss", "mse", "pearson", "spearman"}
    assert report["best"]["loss"] == pytest.approx(report["best"]["mse"], rel=1e-5)
    assert (out / "scatter.png").stat().st_size > 0 and not (out / "confusion_matrix.png").exists()

    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert theirs.config.problem_type == "regression" and theirs.config.num_labels == 1
    assert theirs.config.id2label == {0: "LABEL_0"}
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    first, second = [a for a, _, _ in rows[:6]], [b for _, b, _ in rows[:6]]
    with torch.no_grad():
        expected = theirs(**tokenizer(first, second, padding=True, return_tensors="pt")).logits[:, 0]

    model, _, spec, source = checkpoint.load_task(out)
    assert spec == TaskSpec.regression_spec()
    pre = Preprocessor.from_pretrained(source, seq_length=128)
    ours = [r["score"] for r in prediction.predict(model, spec, pre, first, second)]
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-4)


# --- learning, through the command line --------------------------------------------------------------


def test_tiny_model_learns_a_score_from_the_command_line(base, tmp_path, capsys):
    rows = word_count_pairs(240)
    train = tiny_models.write_csv(tmp_path / "train.csv", rows[:192] + [("a", "b", "?")], header=("s1", "s2", "y"))
    test = tiny_models.write_csv(tmp_path / "test.csv", rows[192:], header=("s1", "s2", "y"))
    out = tmp_path / "model"
    args = ["finetune", "--no-progress", "--task", "regression", "--train", train, "--eval", test, "--output", out,
            "--model", base, "--text-column", "s1", "--text-pair-column", "s2", "--label-column", "y",
            "--epochs", "4", "--batch-size", "16", "--lr", "3e-3", "--seq-length", "32"]  # fmt: skip
    assert main(list(map(str, args))) == 0
    report = capsys.readouterr().out
    assert report.startswith("regression: 192 training and 48 evaluation examples, 1 output (a score)"), report
    assert "spearman " in report and "pearson " in report and "mse " in report
    assert "dropped from train: 1 row with a non-numeric label" in report
    best = json.loads((out / "training" / "report.json").read_text())["best"]
    assert best["spearman"] > 0.8, best


def test_non_numeric_labels_are_one_clear_line(base, tmp_path, capsys):
    train = tiny_models.write_csv(tmp_path / "train.csv", tiny_models.toy_spam(10))
    code = main(["finetune", "--task", "regression", "--train", str(train), "--output", str(tmp_path / "m"),
                 "--model", str(base)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert err[0] == f"bertkit finetune: error: {train}: no usable rows (10 rows with a non-numeric label)"


# --- the metrics against scipy ---------------------------------------------------------------------


scores = st.lists(st.integers(0, 6).map(lambda i: i / 2) | st.floats(-5, 5, allow_nan=False), min_size=3, max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_pearson_and_spearman_match_scipy(data):
    gold = data.draw(scores)
    predicted = data.draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=len(gold), max_size=len(gold)))
    np.testing.assert_allclose(M.ranks(gold), scipy.stats.rankdata(gold))
    if np.ptp(gold) == 0 or np.ptp(predicted) == 0:  # constant: undefined, scipy says nan, we say 0
        assert M.pearson(gold, predicted) == 0.0 and M.spearman(gold, predicted) == 0.0
        return
    if np.ptp(gold) < 1e-6 or np.ptp(predicted) < 1e-6:  # nearly constant: rounding decides
        return
    assert M.pearson(gold, predicted) == pytest.approx(scipy.stats.pearsonr(gold, predicted)[0], abs=1e-9)
    assert M.spearman(gold, predicted) == pytest.approx(scipy.stats.spearmanr(gold, predicted)[0], abs=1e-9)
    assert M.regression_report(gold, predicted)["mse"] == pytest.approx(np.mean((np.subtract(gold, predicted)) ** 2))


def test_a_constant_prediction_correlates_zero():
    report = M.regression_report([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])
    assert report == {"mse": pytest.approx(8.75 / 3), "pearson": 0.0, "spearman": 0.0}


class _Crash(Exception):
    pass


def test_an_interrupted_regression_resumes_to_the_same_model(base, tmp_path):
    train = tiny_models.write_csv(tmp_path / "train.csv", word_count_pairs(64), header=("s1", "s2", "score"))

    def run(output: Path, resume: bool = False, crash_at: int | None = None) -> dict:
        def on_step(step: int) -> None:
            if step == crash_at:
                raise _Crash

        options = FinetuneOptions(
            train=train, output=output, model=base, task="regression", text_column="s1", text_pair_column="s2",
            label_column="score", epochs=2, batch_size=8, save_every=5, learning_rate=1e-3, seq_length=32,
            progress=False, resume=resume,
        )  # fmt: skip
        return finetune(options, on_step=on_step)

    whole = run(tmp_path / "whole")
    with pytest.raises(_Crash):
        run(tmp_path / "resumed", crash_at=10)  # in the second epoch (58 training rows: 8 steps an epoch)
    resumed = run(tmp_path / "resumed", resume=True)
    assert resumed["best"] == whole["best"]
    ours, theirs = (checkpoint.load_task(tmp_path / name)[0].state_dict() for name in ("whole", "resumed"))
    assert all(torch.equal(ours[key], theirs[key]) for key in ours)
