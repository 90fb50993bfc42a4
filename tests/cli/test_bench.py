"""bertkit/cli/bench.py (and the harness it runs, the package bertkit.bench): one small run
writes the table, the JSON and the chart; a missing reference is named with how to install it;
the harness runs from the package alone and imports no reference until it measures one.

Numbers are checked for presence and sense (accuracy against the reference of the run),
never for speed.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import bertkit
from bertkit.bench import measure, systems, texts
from bertkit.cli import main


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
    monkeypatch.setattr(systems.importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else object())
    assert systems.missing_oracles(["bertkit fp32", "transformers", "onnxruntime"]) == {"onnxruntime": ["onnxruntime"]}
    assert systems.INSTALL_HINT == "pip install 'bertkit[bench]'"


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
    (tmp_path / "t.json").write_text(json.dumps(["one", "two\nlines"]))
    assert texts.read_texts(tmp_path / "t.json") == ["one", "two\nlines"]
    (tmp_path / "t.txt").write_text("one\n  \ntwo\n")
    assert texts.read_texts(tmp_path / "t.txt") == ["one", "two"]


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


def test_without_the_real_text_sources_the_error_says_to_give_your_own_texts(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "django", None)  # as if Django were not installed
    for reader in (texts.po_files, texts.po_strings_by_language, texts.po_strings):
        reader.cache_clear()
    assert main(["bench", "--systems", "bertkit fp32", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        "Django's translation catalogs (pip install django), not found here; give your own texts with --texts-file"
        in err
    )


def test_a_worker_that_dies_in_the_rounds_is_reported_and_left_out(capsys):
    answers = "import sys; [print('[0.001, 0.002]', flush=True) for line in sys.stdin]"
    alive = subprocess.Popen([sys.executable, "-c", answers], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    dead.wait()
    try:
        p50 = measure.short_sentence_rounds({"alive": alive, "dead": dead}, rounds=3)
    finally:
        alive.stdin.close()
        alive.wait()
    assert p50 == {"alive": 1.0}  # ms, the p50 of three rounds of [0.001, 0.002] s
    assert "dead: its process ended" in capsys.readouterr().out


def test_a_copy_of_the_package_alone_runs_the_bench(tmp_path):
    """An installed bertkit has no benchmarks/ or tests/ folder beside it: so has this copy."""
    shutil.copytree(Path(bertkit.__file__).parent, tmp_path / "bertkit", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "texts.txt").write_text("A man is eating food.\nSomeone eats.\n")
    code = (
        f"import sys, bertkit; assert bertkit.__file__.startswith({str(tmp_path)!r}), bertkit.__file__; "
        "from bertkit.cli import main; sys.exit(main(['bench', '--sizes', 'minilm', '--systems', 'bertkit fp32', "
        "'--texts-file', 'texts.txt', '--latency-texts', '1', '--short-rounds', '1', '--peak-seconds', '0.02', "
        "'--peak-tokens', '64', '--out', 'out']))"
    )  # its workers start in this folder too, so they import the copy
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| bertkit fp32 |" in (tmp_path / "out" / "inference.md").read_text()


def test_the_harness_imports_no_reference_and_the_command_no_torch():
    code = """
import importlib, pkgutil, sys
import bertkit.cli.bench
assert "torch" not in sys.modules, "bertkit bench's options loaded torch"
import bertkit.bench
for module in pkgutil.iter_modules(bertkit.bench.__path__):
    importlib.import_module(f"bertkit.bench.{module.name}")
optional = {"transformers", "onnxruntime", "onnx", "onnxscript", "ctranslate2", "openvino", "nncf", "django"}
print(sorted(optional & set(sys.modules)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[]"]


def test_without_the_repository_the_references_are_skipped_with_where_they_live(monkeypatch, tmp_path):
    monkeypatch.setattr(systems, "REFERENCES", tmp_path / "benchmarks" / "references.py")
    assert systems.missing_references(["bertkit fp32", "transformers", "onnxruntime"]) == [
        "transformers",
        "onnxruntime",
    ]
    assert "benchmarks/references.py" in systems.REFERENCES_HINT
