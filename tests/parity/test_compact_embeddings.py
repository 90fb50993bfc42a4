"""`embed(dimensions=, precision=, ranges=)` against sentence-transformers' `truncate_dim` and
`quantize_embeddings`, on the bundled all-MiniLM-L6-v2 and 120 real texts (some past 256 tokens;
the checks that run both models once per setting take every second one: 60, long ones included).

What sentence-transformers does, as these tests pin it: `encode(truncate_dim=k)` cuts the
vectors *after* the model's Normalize module and does not re-normalise (norms < 1);
`normalize_embeddings=True` normalises after the cut. bertkit's `dimensions=k` re-normalises
whenever the vectors are normalised, so it equals the latter; the former is `embed()[:, :k]`.
`quantize_embeddings` is compared exactly on the same float input, and end to end within one
bucket (int8 / uint8) or bit-for-bit (binary / ubinary).
"""

from __future__ import annotations

import json
import shutil
import warnings

import corpora
import numpy as np
import pytest

import bertkit
from bertkit.bundled import default_model_dir
from bertkit.cli import main
from bertkit.errors import TruncationWarning
from bertkit.tasks.compact import calibration_ranges

sentence_transformers = pytest.importorskip("sentence_transformers", reason="the oracle: pip install -e .[dev]")
from sentence_transformers.util.quantization import quantize_embeddings  # noqa: E402

DIMENSIONS = (32, 128, 256)
QUANTIZED = ("int8", "uint8", "binary", "ubinary")


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpora.realistic_mix(70, seed=7) + corpora.license_paragraphs()[60:110]


@pytest.fixture(scope="module")
def too_long(ours, texts) -> int:
    """How many of `texts` are past the model's 256 tokens, special tokens included."""
    return sum(len(ids) + 2 > 256 for ids in ours.preprocessor.tokenize(texts))


@pytest.fixture(scope="module")
def ours():
    return bertkit.load(precision="fp32")


@pytest.fixture(scope="module")
def theirs():
    return sentence_transformers.SentenceTransformer(str(default_model_dir()), device="cpu")


def embed(model, texts, **options) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the long texts' truncation warning
        return model.embed(texts, **options)


@pytest.fixture(scope="module")
def floats(ours, texts) -> np.ndarray:
    return embed(ours, texts)


@pytest.fixture(scope="module")
def their_floats(theirs, texts) -> np.ndarray:
    return theirs.encode(texts)


@pytest.fixture(scope="module")
def half(texts) -> list[str]:
    """Every second text (60, some past 256 tokens): for the checks that run both models per setting."""
    return texts[::2]


def test_the_truncation_warning_counts_the_texts_past_the_models_length(ours, texts, too_long):
    assert 5 <= too_long <= 20  # whole documents and long license paragraphs
    with pytest.warns(TruncationWarning, match=f"^{too_long} of 120 texts are longer than the model's 256 tokens"):
        ours.embed(texts)


@pytest.mark.parametrize("k", DIMENSIONS)
def test_dimensions_equal_truncate_dim_then_normalised(ours, theirs, half, k):
    mine = embed(ours, half, dimensions=k)
    assert mine.shape == (len(half), k) and mine.dtype == np.float32
    np.testing.assert_allclose(mine, theirs.encode(half, truncate_dim=k, normalize_embeddings=True), atol=1e-5, rtol=0)
    np.testing.assert_allclose(np.linalg.norm(mine, axis=1), 1, atol=1e-6)


def test_their_truncate_dim_cuts_the_normalised_vectors_without_normalising_again(theirs, texts, floats):
    cut = theirs.encode(texts, truncate_dim=128)  # their default; bertkit's is embed()[:, :k]
    np.testing.assert_allclose(floats[:, :128], cut, atol=1e-5, rtol=0)
    assert np.linalg.norm(cut, axis=1).max() < 1 - 1e-3


def test_dimensions_of_unnormalised_vectors_are_only_cut(tmp_path, half):
    directory = tmp_path / "no-normalize"
    shutil.copytree(default_model_dir(), directory)
    modules = json.loads((directory / "modules.json").read_text())
    (directory / "modules.json").write_text(json.dumps([m for m in modules if not m["type"].endswith("Normalize")]))
    model = bertkit.load(directory, precision="fp32")
    oracle = sentence_transformers.SentenceTransformer(str(directory), device="cpu")
    scale = float(np.abs(embed(model, half)).max())
    for k in DIMENSIONS:
        np.testing.assert_allclose(
            embed(model, half, dimensions=k), oracle.encode(half, truncate_dim=k), atol=1e-5 * scale, rtol=0
        )


@pytest.fixture(scope="module")
def floats_128(ours, texts) -> np.ndarray:
    return embed(ours, texts, dimensions=128)


@pytest.mark.parametrize("precision", ("float32", *QUANTIZED))
def test_quantize_equals_theirs_on_the_same_floats(floats, floats_128, precision):
    from bertkit.tasks.compact import quantize

    for vectors in (floats, floats_128):
        expected = quantize_embeddings(vectors, precision=precision)
        got = quantize(vectors, precision)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    if precision in ("int8", "uint8"):  # ranges from another sample, values outside them clipped
        ranges = calibration_ranges(floats[::3])
        expected = quantize_embeddings(floats, precision=precision, ranges=ranges)
        np.testing.assert_array_equal(quantize(floats, precision, ranges), expected)
        calibrated = quantize_embeddings(floats, precision=precision, calibration_embeddings=floats[::3])
        np.testing.assert_array_equal(quantize(floats, precision, ranges), calibrated)


@pytest.mark.parametrize("precision", QUANTIZED)
def test_embed_precision_end_to_end(ours, theirs, half, precision):
    mine = embed(ours, half, precision=precision)
    expected = theirs.encode(half, precision=precision)
    assert mine.dtype == expected.dtype and mine.shape == expected.shape
    width = 384 if precision.endswith("int8") else 48
    assert mine.shape == (len(half), width)
    if precision.endswith("binary"):
        np.testing.assert_array_equal(mine, expected)
    else:  # floats that differ by ~1e-7 may fall on either side of a bucket's edge
        assert np.abs(mine.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("precision", ("int8", "uint8"))
def test_embed_with_ranges_given(ours, their_floats, texts, floats, precision):
    ranges = calibration_ranges(floats[:40])
    mine = embed(ours, texts, precision=precision, ranges=ranges, dimensions=None)
    expected = quantize_embeddings(their_floats, precision=precision, ranges=ranges)
    assert np.abs(mine.astype(int) - expected.astype(int)).max() <= 1
    truncated = embed(ours, texts, precision=precision, dimensions=64, ranges=ranges[:, :64])
    assert truncated.shape == (len(texts), 64)


def test_cli_writes_the_librarys_compact_vectors(tmp_path, ours, texts, capsys):
    source = tmp_path / "in.txt"
    lines = [" ".join(text.split()) for text in texts]  # one line each, whatever line breaks they hold
    too_long = sum(len(ids) + 2 > 256 for ids in ours.preprocessor.tokenize(lines))
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.npy"
    args = ["embed", "--input", str(source), "--output", str(target), "--no-progress", "--precision", "fp32",
            "--dimensions", "128", "--quantize", "ubinary"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.count("warning:") == 1
    assert f"warning: {too_long} of 120 texts are longer than the model's 256 tokens and were truncated" in captured.err
    assert f"wrote {target}: (120, 16) uint8" in captured.out
    np.testing.assert_array_equal(np.load(target), embed(ours, lines, dimensions=128, precision="ubinary"))
