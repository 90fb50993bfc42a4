"""The benchmark's anchors (benchmarks/references.py, built by its `prepare`): each one,
from a tiny random checkpoint that `transformers` wrote, embeds real texts
into mean-pooled vectors that agree with transformers' (cosine > 0.99; int8 > 0.95), on batches
whose texts differ in length, so padding is exercised. A test is skipped only when its anchor's
package is not installed. Then the report's comparisons: cosine for every system, bertkit fp32
against the fastest fp32 anchor, the short sentence against every anchor.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_models
from corpora import realistic_mix

from bertkit.bench import compare, report, run, systems, worker
from bertkit.cli import main

references = systems.load_references()  # the repository's benchmarks/references.py

BATCH = 4  # 12 texts of mixed lengths: three padded batches


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_models.tiny_bert_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def ids(tiny):
    return run.token_ids(tiny, realistic_mix(12))


@pytest.fixture(scope="module")
def expected(tiny, ids):
    pytest.importorskip("transformers")
    return worker.make_runner("transformers", tiny, None, threads=1).embed(ids, BATCH)


def cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return (vectors * reference).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)


@pytest.mark.parametrize("system", systems.ANCHORS)
def test_each_anchor_agrees_with_transformers(system, tiny, ids, expected, tmp_path):
    for module in systems.ORACLE_MODULES[system]:
        pytest.importorskip(module)
    artifacts, seconds = references.prepare([system], tiny, tmp_path, "tiny", ids)
    assert set(artifacts) == {system} and seconds
    runner = worker.make_runner(system, tiny, artifacts[system], threads=1)
    vectors = runner.embed(ids, BATCH)
    assert vectors.shape == expected.shape and vectors.dtype == np.float32
    assert cosines(vectors, expected).min() > (0.95 if system.endswith("int8") else 0.99)
    if not system.endswith("int8"):
        np.testing.assert_allclose(vectors, expected, atol=1e-4)
    one = np.concatenate([runner.embed([text], 1) for text in ids[:3]])  # unpadded, batch 1
    assert cosines(one, vectors[:3]).min() > 0.999


def test_a_failed_build_leaves_its_systems_out_and_the_rest_run(tiny, ids, tmp_path, monkeypatch, capsys):
    def build(name, *args):
        raise ValueError(f"no converter for {name}")

    monkeypatch.setattr(references, "build", build)
    artifacts, seconds = references.prepare(
        ["bertkit fp32", "ctranslate2", "openvino int8"], tiny, tmp_path, "tiny", ids
    )
    assert artifacts == {} and seconds == {}
    out = capsys.readouterr().out
    assert "tiny / ctranslate2: building failed" in out and "no converter for openvino" in out
    assert "openvino int8" not in out  # built from openvino: never tried once that failed


def test_every_anchor_is_a_default_cpu_system_and_one_without_its_package_is_named(monkeypatch):
    assert set(systems.ANCHORS) <= set(systems.DEFAULT_SYSTEMS["cpu"])
    assert not set(systems.ANCHORS) & set(systems.DEFAULT_SYSTEMS["cuda"])
    absent = {"ctranslate2", "nncf"}
    monkeypatch.setattr(systems.importlib.util, "find_spec", lambda name: None if name in absent else object())
    assert systems.missing_oracles(list(systems.ANCHORS)) == {
        "ctranslate2": ["ctranslate2"], "ctranslate2 int8": ["ctranslate2"], "openvino int8": ["nncf"],
    }  # fmt: skip


def test_the_report_compares_every_system_and_answers_the_two_questions():
    results = {
        "bertkit fp32": {"texts_per_s": 300.0, "short_latency_p50_ms": 1.0},
        "bertkit int8": {"texts_per_s": 500.0, "short_latency_p50_ms": 2.5},
        "onnxruntime": {"texts_per_s": 100.0, "short_latency_p50_ms": 3.0},
        "ctranslate2": {"texts_per_s": 200.0, "short_latency_p50_ms": 4.0},
        "ctranslate2 int8": {"texts_per_s": 400.0, "short_latency_p50_ms": 2.0},
    }
    assert compare.best_fp32_anchor(results) == "ctranslate2"  # int8 anchors are not fp32
    results["bertkit fp32"]["x_best_fp32_anchor"] = 1.5
    verdicts = compare.verdicts(results)
    assert verdicts["best_fp32_anchor"] == "ctranslate2" and verdicts["bertkit_fp32_x_best_fp32_anchor"] == 1.5
    assert verdicts["fastest_anchor_short_p50"] == {"system": "ctranslate2 int8", "ms": 2.0}
    assert verdicts["short_p50_beats_every_anchor"] == {"bertkit fp32": True, "bertkit int8": False}
    lines = report.verdict_lines({**verdicts, "results": results, "accuracy_reference": "transformers"})
    assert lines[0].startswith("bertkit fp32 against the fastest fp32 anchor (ctranslate2, 200.0 texts/s): 1.50x")
    assert "bertkit int8 2.50 ms does not beat every anchor (fastest: ctranslate2 int8 2.00 ms)" in lines[2]


def test_a_run_reports_each_anchors_cosine_and_skips_a_missing_one(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("transformers")
    pytest.importorskip("ctranslate2")
    find_spec = systems.importlib.util.find_spec
    monkeypatch.setattr(
        systems.importlib.util, "find_spec", lambda name: None if name == "openvino" else find_spec(name)
    )
    code = main([
        "bench", "--model", str(tiny), "--sizes", "minilm", "--systems", "transformers,ctranslate2,openvino",
        "--texts", "8", "--latency-texts", "2", "--short-rounds", "1", "--peak-seconds", "0.02", "--peak-tokens", "64",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    assert "skipping openvino: openvino not installed; pip install 'bertkit[bench]'" in capsys.readouterr().out
    entry = json.loads((tmp_path / "inference.json").read_text())["sizes"]["minilm"]
    assert set(entry["results"]) == {"transformers", "ctranslate2"}
    assert entry["accuracy_reference"] == "transformers" and entry["build_s"]["ctranslate2"] > 0
    for result in entry["results"].values():
        assert result["min_cosine_vs_reference"] > 0.99 and result["mean_cosine_vs_reference"] > 0.99
    assert entry["results"]["ctranslate2"]["x_best_fp32_anchor"] == 1
    assert entry["fastest_anchor_short_p50"]["system"] in {"transformers", "ctranslate2"}
    table = (tmp_path / "inference.md").read_text()
    assert "| mean cos vs ref |" in table and "| x best fp32 anchor |" in table
    assert "- ctranslate2: CTranslate2 Encoder, float32" in table
