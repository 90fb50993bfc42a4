"""bertkit/cli/embed.py: one vector per input line, input order, clear errors."""

from __future__ import annotations

import numpy as np

import bertkit
from bertkit.cli import main

LINES = ["A man is eating food.", "", "Someone eats.", "Das ist ein Satz über Äpfel.", "这是一个句子", "ok " * 200]


def test_one_vector_per_line_in_input_order(tmp_path, capsys):
    source, target = tmp_path / "in.txt", tmp_path / "out.npy"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    args = [
        "embed",
        "--input",
        str(source),
        "--output",
        str(target),
        "--pooling",
        "mean",
        "--normalize",
        "--batch-size",
        "2",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "embed: 100%" in captured.err and "6/6" in captured.err  # the progress bar
    auto = bertkit.load(precision="auto")  # the command's default: the fastest precision within its guard here
    assert f"wrote {target}: (6, 384) float32" in captured.out and f"precision {auto.precision} (auto)" in captured.out
    vectors = np.load(target)
    expected = auto.embed(
        LINES, pooling="mean", normalize=True, batch_size=2
    )  # int8: passes of few rows take the C layer
    np.testing.assert_allclose(vectors, expected, atol=2e-5, rtol=0)


def test_int8_vectors_stay_close_to_fp32(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    for precision in ("fp32", "int8"):
        args = ["embed", "--input", str(source), "--output", str(tmp_path / f"{precision}.npy"), "--pooling", "mean",
                "--normalize", "--no-progress", "--precision", precision]  # fmt: skip
        assert main(args) == 0
    cosines = (np.load(tmp_path / "fp32.npy") * np.load(tmp_path / "int8.npy")).sum(axis=1)
    assert cosines.min() >= 0.99 and cosines.max() < 1 - 1e-7  # close, and truly quantised


def test_output_name_is_kept(tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    assert (
        main(["embed", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "vectors.bin"), "--no-progress"])
        == 0
    )
    assert np.load(tmp_path / "vectors.bin").shape == (1, 384)


def test_empty_or_missing_input_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    for name, message in [
        ("empty.txt", "the input file is empty, nothing to embed"),
        ("absent.txt", "input file not found"),
    ]:
        assert main(["embed", "--input", str(tmp_path / name), "--output", str(tmp_path / "o.npy")]) == 1
        err = capsys.readouterr().err
        assert err == f"bertkit embed: error: {tmp_path / name}: {message}\n"
    assert not (tmp_path / "o.npy").exists()


def test_binary_input_and_missing_output_directory(tmp_path, capsys):
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage")
    assert main(["embed", "--input", str(tmp_path / "bin.txt"), "--output", str(tmp_path / "o.npy")]) == 1
    assert "not UTF-8 text" in capsys.readouterr().err
    (tmp_path / "in.txt").write_text("hi\n")
    assert main(["embed", "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "no" / "o.npy")]) == 1
    assert "the output's directory does not exist" in capsys.readouterr().err


def test_pooling_choices_are_the_library_s():
    from bertkit.cli.embed import POOLINGS  # written out there so that `bertkit --help` skips torch
    from bertkit.pipeline import POOLINGS as LIBRARY

    assert POOLINGS == LIBRARY


def test_compact_and_long_choices_are_the_library_s():
    from bertkit.cli.embed import LONG_TEXTS, QUANTIZED
    from bertkit.pipeline import LONG_TEXTS as LIBRARY_LONG
    from bertkit.tasks.compact import PRECISIONS

    assert LONG_TEXTS == LIBRARY_LONG and ("float32", *QUANTIZED) == PRECISIONS


def test_long_lines_warn_in_one_line_or_are_refused(tmp_path, capsys):
    source, target = tmp_path / "in.txt", tmp_path / "out.npy"
    source.write_text("short\n" + "a " * 300 + "\nalso short\n" + "b " * 255 + "\n", encoding="utf-8")
    args = ["embed", "--input", str(source), "--output", str(target), "--no-progress", "--precision", "fp32"]
    assert main([*args, "--quantize", "int8", "--dimensions", "100"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[1:] == [
        "warning: 2 of 4 texts are longer than the model's 256 tokens and were truncated; --long error refuses such lines"
    ]
    assert f"wrote {target}: (4, 100) int8" in captured.out and np.load(target).dtype == np.int8
    assert main([*args, "--long", "error"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bertkit embed: error: text 1 is 302 tokens long (special tokens included), more than the model's 256; "
        "shorten it, or let long='truncate' cut it"
    )
    assert main([*args, "--dimensions", "0"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "bertkit embed: error: dimensions must be between 1 and the model's 384, got 0"
    )
