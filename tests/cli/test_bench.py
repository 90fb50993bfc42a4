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
