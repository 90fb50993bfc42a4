"""`bertkit finetune` and `bertkit predict` end to end on a tiny model, and bad input through
the command line: one clear line on stderr, exit 1, never a traceback."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import tiny_models

from bertkit.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_models.tiny_bert_dir(tmp_path_factory.mktemp("tiny"))


def _finetune(*args, lr="3e-3") -> list[str]:
    return ["finetune", "--no-progress", "--batch-size", "8", "--lr", lr, *map(str, args)]


def test_classifier_learns_reports_plots_and_predicts(base, tmp_path, capsys, caplog):
    rows = tiny_models.toy_spam(96)
    train = tiny_models.write_csv(tmp_path / "train.csv", rows[:72] + [("", "ham"), ("   ", "spam")])
    test = tiny_models.write_csv(tmp_path / "test.csv", rows[72:])
    out = tmp_path / "model"
    args = ("--train", train, "--eval", test, "--output", out, "--model", base, "--epochs", "3")
    assert main(_finetune(*args, lr="1e-2")) == 0
    assert "dropped 2 rows with empty text" in caplog.text  # reported when read, and in the report:
    report = capsys.readouterr().out
    assert "classification: 72 training and 24 evaluation examples, 2 labels" in report
    assert "dropped from train: 2 rows with empty text" in report
    assert "label  precision  recall" in report and "spam" in report
    best = json.loads((out / "training" / "report.json").read_text())["best"]
    assert best["accuracy"] == 1.0 and best["macro_f1"] == 1.0  # disjoint vocabularies: easy
    for name in ("training_curves.png", "confusion_matrix.png", "config.json", "model.safetensors", "vocab.txt"):
        assert (out / name).stat().st_size > 0, name
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "ham", "1": "spam"} and config["architectures"] == [
        "BertForSequenceClassification"
    ]

    assert main(["predict", "--model", str(out), "free prize call now", "see you at lunch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["spam", "ham"]
    assert main(["predict", "--model", str(out), "--input", str(test), "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["label"] for row in table] == [label for _, label in rows[72:]]
    assert set(table[0]) == {"text", "label", "score", "ham", "spam"}
    for precision in ("int8", "bf16"):  # the engine's precisions: same labels on this easy task
        assert (
            main(["predict", "--model", str(out), "--input", str(test), "--format", "csv", "--precision", precision])
            == 0
        )
        assert [row["label"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))] == [
            r["label"] for r in table
        ]


def test_tagger_from_conll_learns_entities(base, tmp_path, capsys):
    sentences = tiny_models.toy_tagged(128)
    train = tiny_models.write_conll(tmp_path / "train.conll", sentences[:96])
    test = tiny_models.write_conll(tmp_path / "test.conll", sentences[96:])
    out = tmp_path / "tagger"
    args = ("--train", train, "--eval", test, "--output", out, "--model", base, "--epochs", "3")
    assert main(_finetune(*args, lr="1e-2")) == 0
    report = capsys.readouterr().out
    assert report.startswith("tagging: 96 training and 32 evaluation examples, 4 labels")
    best = json.loads((out / "training" / "report.json").read_text())["best"]
    assert best["entity_f1"] > 0.8, best  # an all-O majority baseline scores 0
    assert main(["predict", "--model", str(out), "--format", "json", "alice went to paris city"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tags"] == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert result["entities"][1] == {"type": "LOC", "text": "paris city", "start": 3, "end": 5, "span": [14, 24]}


@pytest.mark.parametrize(
    "files, extra, message",
    [
        ({"train.csv": "sentence,category\nhi,a\n"}, [],
         "no column 'text'; the file has columns: sentence, category; choose one with --text-column"),
        ({"train.csv": ""}, [], "train.csv: the file is empty"),
        ({"train.csv": "text,label\na,x\nb,x\nc,x\n"}, [],
         "every row has the label 'x'; a classifier needs at least two classes"),
        ({"train.csv": "text,label\na,x\nb,y\n", "eval.csv": "text,label\na,x\nb,z\nc,z\n"}, ["--eval", "eval.csv"],
         "eval.csv: labels not in the training data: 'z' (2x)"),
        ({"train.csv": b"text,label\na,x\n\xff\xfe,y\n"}, [], "train.csv: line 3 is not valid utf-8"),
        ({"train.csv": "text,label\n,x\n  ,y\n"}, [], "no usable rows (2 rows with empty text)"),
        ({"train.conll": "alice O\nbob O\n"}, [], "every word is tagged 'O'; tagging needs at least two tags"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(base, tmp_path, capsys, files, extra, message):
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    extra = [str(tmp_path / e) if "." in e else e for e in extra]
    train = next(iter(files))
    code = main(_finetune("--train", tmp_path / train, "--output", tmp_path / "out", "--model", base, *extra))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("bertkit finetune: error: ") and message in err[-1], err


def test_predict_on_a_model_that_was_not_fine_tuned(base, capsys):
    assert main(["predict", "--model", str(base), "hello"]) == 1
    assert "not a fine-tuned model" in capsys.readouterr().err
