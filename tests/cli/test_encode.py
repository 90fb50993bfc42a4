"""bertkit/cli/encode.py, and every bad model directory ending in one line on stderr."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
import transformers

from bertkit.bundled import default_model_dir
from bertkit.cli import main

SENTENCES = ["This is a spam mail", "Computers are not unique to computers"]


def test_prints_the_notebook_outputs(capsys):
    assert main(["encode", *SENTENCES]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dict_keys(['default', 'sequence_output', 'encoder_outputs', 'pooled_output'])\n")
    assert "sequence_output\n<tensor: shape=(2, 128, 384), dtype=float32, numpy=\narray([[[" in out
    assert "pooled_output\n<tensor: shape=(2, 384), dtype=float32, numpy=" in out
    assert "encoder_outputs: list of 6 tensors, one per layer" in out


def test_json_has_every_value(capsys):
    assert main(["encode", "--json", "--seq-length", "16", "hello world"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sequence_output"]["shape"] == [1, 16, 384]
    assert len(out["encoder_outputs"]) == 6 and out["encoder_outputs"][-1] == out["sequence_output"]
    assert out["default"] == out["pooled_output"] and len(out["pooled_output"]["values"][0]) == 384


def tiny_model_dir(directory, **config):
    """A small BERT written by transformers, with the bundled model's vocabulary."""
    torch.manual_seed(0)
    hf = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    transformers.BertModel(hf).save_pretrained(directory)
    for name in ("vocab.txt", "tokenizer_config.json"):
        shutil.copyfile(default_model_dir() / name, directory / name)
    (directory / "config.json").write_text(json.dumps({**hf.to_dict(), **config}))
    return directory


def truncate(path):
    path.write_bytes(path.read_bytes()[:4000])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: shutil.rmtree(d), r"model directory not found: .*/model$"),
        (lambda d: truncate(d / "model.safetensors"), r"model.safetensors: corrupt or truncated safetensors file \("),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage" * 10), r"model.safetensors: corrupt or truncated"),
        (
            lambda d: tiny_model_dir(d, hidden_size=64, num_attention_heads=4),
            r"model.safetensors: weight embeddings\.\S+ has shape \(.*32,?\) but config.json implies \(.*64,?\); the config and the weights disagree",
        ),
        (lambda d: tiny_model_dir(d, model_type="xlnet"), r"config.json: unknown model_type 'xlnet'"),
        (lambda d: (d / "config.json").unlink(), r"config.json: no config.json in the model directory"),
    ],
    ids=["missing-dir", "truncated", "corrupt", "shape-mismatch", "unknown-model-type", "no-config"],
)
def test_bad_model_directories_end_in_one_line(tmp_path, capsys, damage, message):
    directory = tiny_model_dir(tmp_path / "model")
    damage(directory)
    capsys.readouterr()  # transformers' own output while writing the model
    assert main(["encode", "--model", str(directory), "hello"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertkit encode: error: "), captured.err
    assert "Traceback" not in captured.err
    assert re.search(message, lines[0]), lines[0]


def test_tiny_model_encodes(tmp_path, capsys):
    directory = tiny_model_dir(tmp_path / "m")
    assert main(["encode", "--model", str(directory), "--seq-length", "8", "hi"]) == 0
    assert "shape=(1, 8, 32)" in capsys.readouterr().out


def test_bad_device_and_seq_length(capsys):
    assert main(["encode", "--device", "cuda:7", "hi"]) == 1
    assert "cuda:7" in capsys.readouterr().err
    assert main(["encode", "--seq-length", "1", "hi"]) == 1
    assert "--seq-length must be at least 2" in capsys.readouterr().err
