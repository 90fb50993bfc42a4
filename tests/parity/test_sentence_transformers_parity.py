"""`bertkit.load(model).embed(texts)` with no options against sentence-transformers' `encode`.

The oracle is `SentenceTransformer(str(dir), device="cpu").encode(texts)` on the same
directory: it reads the model's modules.json, Pooling config, Normalize, max_seq_length and
prompts itself, so agreement means bertkit reads and applies them the same way.

- the bundled all-MiniLM-L6-v2 (mean pooling, normalised, 256 tokens) over 300 real texts of
  mixed length, some between 128 and 256 tokens (no longer cut at 128), others past 256;
  on the engine (precision fp32) and on the reference encoder;
- copies of it rewritten for each of sentence-transformers' pooling modes, with and without
  Normalize, and with a default prompt (pooled with and without the prompt's tokens);
- `bertkit embed` with no options writes the library's vectors.
"""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext

import corpora
import numpy as np
import pytest

import bertkit
from bertkit.bundled import default_model_dir
from bertkit.checkpoint.sentence_transformers import POOLING_FLAGS
from bertkit.cli import main

sentence_transformers = pytest.importorskip("sentence_transformers", reason="the oracle: pip install -e .[dev]")

N_TEXTS = 300


@pytest.fixture(scope="module")
def texts() -> list[str]:
    mix = corpora.realistic_mix(N_TEXTS - 60, seed=5)
    return mix + corpora.license_paragraphs()[:60]  # paragraphs: many over 128 tokens, some over 256


def encode(directory, texts, **options) -> np.ndarray:
    model = sentence_transformers.SentenceTransformer(str(directory), device="cpu")
    return model.encode(texts, batch_size=32, **options)


def assert_agree(ours: np.ndarray, theirs: np.ndarray, atol: float = 1e-5) -> None:
    assert ours.shape == theirs.shape
    cosine = np.sum(ours * theirs, axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    worst = int(np.argmax(1 - cosine))
    assert np.max(1 - cosine) < 1e-5, f"text {worst}: cosine {cosine[worst]}"
    scale = max(1.0, float(np.abs(theirs).max()))  # unnormalised poolings (sums over sqrt(n)) are larger
    np.testing.assert_allclose(ours, theirs, atol=atol * scale, rtol=0)


@pytest.fixture(scope="module")
def theirs(texts) -> np.ndarray:
    return encode(default_model_dir(), texts)


@pytest.fixture(scope="module")
def engine():
    return bertkit.load(precision="fp32")


@pytest.fixture(scope="module")
def reference():
    model = bertkit.load(precision="fp32")
    model.engine = None  # embed() then runs the reference encoder
    return model


def test_texts_span_the_old_and_new_limits(texts, engine):
    lengths = np.array([len(ids) + 2 for ids in engine.preprocessor.tokenize(texts)])
    assert ((lengths > 128) & (lengths <= 256)).sum() >= 10 and (lengths > 256).sum() >= 10


@pytest.mark.parametrize("path", ["engine", "reference"])
def test_bundled_model_defaults_equal_sentence_transformers(path, texts, theirs, request):
    model = request.getfixturevalue(path)
    assert model.embed_settings().describe().startswith("pooling mean, normalised, max 256 tokens")
    assert_agree(model.embed(texts), theirs)


def test_texts_between_128_and_256_tokens_are_no_longer_cut_at_128(texts, engine, theirs):
    lengths = np.array([len(ids) + 2 for ids in engine.preprocessor.tokenize(texts)])
    middle = np.flatnonzero((lengths > 160) & (lengths <= 256))[:5]
    at_128 = bertkit.load(precision="fp32", seq_length=128).embed([texts[i] for i in middle])
    assert np.min(np.sum(at_128 * theirs[middle], axis=1)) < 0.999  # what the old cut gave: visibly off
    assert_agree(engine.embed([texts[i] for i in middle]), theirs[middle])


def _variant(tmp_path, name, pooling, normalize=True, prompts=None, include_prompt=True):
    """A copy of the bundled model whose sentence-transformers files say `pooling`, etc."""
    directory = tmp_path / name
    shutil.copytree(default_model_dir(), directory)
    pooling_config = {"word_embedding_dimension": 384, "include_prompt": include_prompt}
    pooling_config.update({flag: mode == pooling for flag, mode in POOLING_FLAGS.items()})
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    modules = json.loads((directory / "modules.json").read_text())
    if not normalize:
        modules = [m for m in modules if not m["type"].endswith("Normalize")]
    (directory / "modules.json").write_text(json.dumps(modules))
    if prompts:
        config = {"prompts": prompts, "default_prompt_name": next(iter(prompts)), "similarity_fn_name": "cosine"}
        (directory / "config_sentence_transformers.json").write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("pooling", list(POOLING_FLAGS.values()))
@pytest.mark.parametrize("normalize", [True, False])
def test_each_pooling_mode_with_and_without_normalize(tmp_path, texts, pooling, normalize):
    directory = _variant(tmp_path, f"{pooling}-{normalize}", pooling, normalize)
    sample = texts[::20]  # 15 texts, short and long
    model = bertkit.load(directory, precision="fp32")
    settings = model.embed_settings()
    assert (settings.pooling, settings.normalize) == (pooling, normalize)
    assert_agree(model.embed(sample), encode(directory, sample))


@pytest.mark.parametrize("pooling", list(POOLING_FLAGS.values()))
def test_reference_path_pools_as_the_engine(texts, engine, reference, pooling):
    sample = texts[::20]
    with pytest.warns(UserWarning, match="declares mean pooling, normalised") if pooling != "mean" else nullcontext():
        ours = reference.embed(sample, pooling=pooling)
    np.testing.assert_allclose(ours, engine.embed(sample, pooling=pooling), atol=1e-5, rtol=0)


@pytest.mark.parametrize("include_prompt", [True, False])
@pytest.mark.parametrize("pooling", ["mean", "cls", "weightedmean"])
def test_default_prompt_is_put_before_each_text(tmp_path, texts, include_prompt, pooling):
    prompts = {"query": "query: ", "passage": "passage: "}
    directory = _variant(tmp_path, "prompted", pooling, prompts=prompts, include_prompt=include_prompt)
    sample = texts[::30]
    model = bertkit.load(directory, precision="fp32")
    assert_agree(model.embed(sample), encode(directory, sample))  # default_prompt_name: "query"
    assert_agree(model.embed(sample, prompt_name="passage"), encode(directory, sample, prompt_name="passage"))
    model.engine = None
    assert_agree(model.embed(sample), encode(directory, sample))


def test_cli_default_is_the_library_default(tmp_path, texts, engine, capsys):
    lines = [" ".join(text.split()) for text in texts[::20]]  # one line each, whatever separators it held
    source, target = tmp_path / "in.txt", tmp_path / "out.npy"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["embed", "--input", str(source), "--output", str(target), "--no-progress", "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "embedding: pooling mean, normalised, max 256 tokens (the model's sentence-transformers files)" in err
    np.testing.assert_allclose(np.load(target), engine.embed(lines), atol=1e-5, rtol=0)
    assert_agree(np.load(target), encode(default_model_dir(), lines))


@pytest.mark.parametrize("function", ["cosine", "dot", "euclidean", "manhattan"])
def test_similarity_uses_the_declared_function_as_sentence_transformers(tmp_path, texts, function):
    """`Pipeline.similarity` computes the model's `similarity_fn_name` as sentence-transformers'
    `model.similarity` does (same embeddings in, same matrix out)."""
    directory = tmp_path / "model"
    shutil.copytree(default_model_dir(), directory)
    config_file = directory / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    config_file.write_text(json.dumps({**config, "similarity_fn_name": function}))
    model = bertkit.load(directory, precision="fp32")
    vectors = model.embed(texts[:20])
    theirs = sentence_transformers.SentenceTransformer(str(directory), device="cpu")
    assert theirs.similarity_fn_name == function
    expected = theirs.similarity(vectors[:5], vectors).numpy()
    np.testing.assert_allclose(model.similarity(vectors[:5], vectors), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.similarity(vectors[0], vectors)[0], expected[0], atol=1e-5, rtol=0)
