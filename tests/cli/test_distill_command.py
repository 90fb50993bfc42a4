"""`bertkit distill` end to end on a tiny fine-tuned teacher, and bad input through the command line:
one clear line on stderr, exit 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny_models

from bertkit.cli import main  # noqa: E402

FAST = ["--no-progress", "--batch-size", "8", "--lr", "1e-2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("data")
    rows = tiny_models.toy_spam(96)
    return tiny_models.write_csv(directory / "train.csv", rows[:72]), tiny_models.write_csv(
        directory / "test.csv", rows[72:]
    )


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data) -> Path:
    directory = tmp_path_factory.mktemp("teacher")
    base = tiny_models.tiny_bert_dir(directory / "base")
    train, test = data
    out = directory / "classifier"
    args = ["finetune", *FAST, "--train", train, "--eval", test, "--output", out, "--model", base, "--epochs", "3"]
    assert main([str(a) for a in args]) == 0
    return out


def test_distill_a_classifier_then_predict_with_the_student(teacher, data, tmp_path, capsys):
    train, test = data
    out = tmp_path / "student"
    args = ["distill", *FAST, "--teacher", teacher, "--train", train, "--eval", test, "--output", out, "--epochs", "3"]
    assert main([str(a) for a in args]) == 0
    printed = capsys.readouterr().out
    assert "task distillation: 2-layer teacher -> 1-layer bert student" in printed
    assert "accuracy: teacher 1.0000, student 1.0000 (100.0% kept)" in printed
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 1
    assert (out / "training_curves.png").stat().st_size > 0

    assert main(["predict", "--model", str(out), "free prize call now", "see you at lunch"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["spam", "ham"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "no classification head; task distillation needs a single-label classifier"),  # bundled encoder
        (["--layers", "0,6"], "teacher layer 6 does not exist: the teacher has layers 0 to 5"),
        (["--alpha-mlm", "1"], "--alpha-mlm does not apply to task distillation"),
    ],
)
def test_bad_input_is_one_line(data, tmp_path, capsys, extra, message):
    train, _ = data
    code = main(["distill", "--no-progress", "--train", str(train), "--output", str(tmp_path / "s"), *extra])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("bertkit distill: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
