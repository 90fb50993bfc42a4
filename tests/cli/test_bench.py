"""bertkit/cli/bench.py (and the harness it runs, benchmarks/inference.py): one small run writes
the table, the JSON and the chart; a missing reference is named with how to install it.

Numbers are checked for presence and sense (accuracy against the reference of the run),
never for speed.
"""

import json

from bertkit.cli import main
from bertkit.cli.bench import _harness


def test_a_small_run_writes_markdown_json_and_chart(tmp_path, capsys):
    code = main([
        "bench", "--sizes", "minilm", "--systems", "bertkit fp32,bertkit int8", "--texts", "12",
        "--latency-texts", "2", "--peak-seconds", "0.02", "--peak-tokens", "64", "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    report = json.loads((tmp_path / "inference.json").read_text())
    results = report["sizes"]["minilm"]["results"]
    assert set(results) == {"bertkit fp32", "bertkit int8"}
    fp32 = results["bertkit fp32"]
    for key in ("texts_per_s", "tokens_per_s", "latency_p50_ms", "latency_p99_ms", "peak_mb", "load_s",
                "fraction_of_fp32_peak", "dense_kernel_fraction_of_fp32_peak"):  # fmt: skip
        assert fp32[key] > 0, key
    assert fp32["max_abs_diff_vs_reference"] == 0  # bertkit fp32 is the reference without transformers
    assert results["bertkit int8"]["min_cosine_vs_reference"] > 0.99
    table = (tmp_path / "inference.md").read_text()
    assert "| bertkit int8 |" in table and report["command"].startswith("bertkit bench")
    assert (tmp_path / "inference.png").read_bytes()[:4] == b"\x89PNG"
    assert "| bertkit fp32 |" in capsys.readouterr().out


def test_missing_references_are_named_with_the_install_hint(monkeypatch):
    harness = _harness()
    monkeypatch.setattr(harness.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else object())
    assert harness.missing_oracles(["bertkit fp32", "transformers", "onnxruntime"]) == {"onnxruntime": ["onnxruntime"]}
    assert harness.INSTALL_HINT == "pip install 'bertkit[bench]'"


def test_a_run_on_your_own_texts_times_the_short_sentence_in_interleaved_rounds(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("A man is eating food.\n\nSomeone eats.\nThe weather is cold today, bring a coat.\n")
    code = main([
        "bench", "--sizes", "minilm", "--systems", "bertkit fp32,bertkit bf16", "--texts-file", str(texts),
        "--latency-texts", "1", "--short-rounds", "2", "--peak-seconds", "0.02", "--peak-tokens", "64",
        "--out", str(tmp_path / "out"),
    ])  # fmt: skip
    assert code == 0
    entry = json.loads((tmp_path / "out" / "inference.json").read_text())["sizes"]["minilm"]
    assert entry["texts"] == 3  # the blank line is skipped
    for result in entry["results"].values():
        assert result["short_latency_p50_ms"] > 0
    assert "dense_kernel_fraction_of_fp32_peak" not in entry["results"]["bertkit bf16"]  # fp32 only
    assert entry["results"]["bertkit bf16"]["dense_kernel_gflops"] > 0


def test_texts_files_are_lines_or_a_json_list(tmp_path):
    harness = _harness()
    (tmp_path / "t.json").write_text(json.dumps(["one", "two\nlines"]))
    assert harness.read_texts(tmp_path / "t.json") == ["one", "two\nlines"]
    (tmp_path / "t.txt").write_text("one\n  \ntwo\n")
    assert harness.read_texts(tmp_path / "t.txt") == ["one", "two"]


def test_bad_choices_end_with_one_line(tmp_path, monkeypatch, capsys):
    import torch

    assert main(["bench", "--systems", "bertkit fp64", "--out", str(tmp_path)]) == 1
    assert "unknown system(s) 'bertkit fp64'" in capsys.readouterr().err
    (tmp_path / "empty.txt").write_text("\n  \n")
    assert main(["bench", "--texts-file", str(tmp_path / "empty.txt"), "--out", str(tmp_path)]) == 1
    assert "empty.txt: no texts" in capsys.readouterr().err
    assert main(["bench", "--texts-file", str(tmp_path / "absent.txt"), "--out", str(tmp_path)]) == 1
    assert "absent.txt: cannot read texts" in capsys.readouterr().err
    (tmp_path / "dict.json").write_text('{"text": "one"}')
    assert main(["bench", "--texts-file", str(tmp_path / "dict.json"), "--out", str(tmp_path)]) == 1
    assert "holds one list of strings" in capsys.readouterr().err
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "--device", "cuda", "--out", str(tmp_path)]) == 1
    assert "--device cuda: PyTorch sees no CUDA device" in capsys.readouterr().err


def test_a_worker_that_dies_in_the_rounds_is_reported_and_left_out(capsys):
    import subprocess
    import sys

    harness = _harness()
    answers = "import sys; [print('[0.001, 0.002]', flush=True) for line in sys.stdin]"
    alive = subprocess.Popen([sys.executable, "-c", answers], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    dead.wait()
    try:
        p50 = harness.short_sentence_rounds({"alive": alive, "dead": dead}, rounds=3)
    finally:
        alive.stdin.close()
        alive.wait()
    assert p50 == {"alive": 1.0}  # ms, the p50 of three rounds of [0.001, 0.002] s
    assert "dead: its process ended" in capsys.readouterr().out
