import json
import subprocess
import sys

from bertkit.cli import main

SENTENCES = ["This is a spam mail", "Computers are not unique to computers"]


def test_prints_keys_shapes_and_arrays_like_the_notebook(capsys):
    assert main(["preprocess", *SENTENCES]) == 0
    out = capsys.readouterr().out
    assert "keys: ['input_word_ids', 'input_mask', 'input_type_ids']" in out
    assert out.count("shape=(2, 128), dtype=int32") == 3
    assert "array([[  101,  2023,  2003,  1037, 12403,  2213,  5653,   102,     0," in out
    assert "[  101,  7588,  2024,  2025,  4310,  2000,  7588,   102,     0," in out
    assert "..." not in out  # all 128 columns, no numpy summarising


def test_json_pairs_and_seq_length(capsys):
    assert main(["preprocess", "Is it?", "--pair", "No.", "--seq-length", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "input_word_ids": [[101, 2003, 2009, 1029, 102, 2053, 1012, 102]],
        "input_mask": [[1] * 8],
        "input_type_ids": [[0, 0, 0, 0, 0, 1, 1, 1]],
    }


def test_errors_are_one_line_and_exit_1(capsys, tmp_path):
    for argv in (
        ["preprocess"],
        ["preprocess", "a", "b", "--pair", "c"],
        ["preprocess", "x", "--model", str(tmp_path / "nope")],
        ["preprocess", "x", "--seq-length", "1"],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("bertkit preprocess: error: ") and err.count("\n") == 1


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "bertkit", "preprocess", "hello"], capture_output=True, text=True)
    assert done.returncode == 0 and "[ 101, 7592,  102,    0," in done.stdout
