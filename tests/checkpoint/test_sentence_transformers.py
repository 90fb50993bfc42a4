"""bertkit/checkpoint/sentence_transformers.py: a model's declared embedding settings, and
what `Pipeline.embed` and `bertkit embed` make of them (explicit choices, warnings, bad files)."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

import bertkit
from bertkit.bundled import default_model_dir
from bertkit.checkpoint.sentence_transformers import EmbeddingDefaults, embedding_defaults
from bertkit.cli import main
from bertkit.errors import CheckpointError, InputError

TEXTS = ["A man is eating food.", "Someone eats.", "A cat sits on the mat."]


def test_docstring_example():
    d = embedding_defaults(default_model_dir())
    assert (d.pooling, d.normalize, d.max_seq_length) == ("mean", True, 256)
    assert d.describe() == "mean pooling, normalised, max 256 tokens"


def test_no_modules_json_means_no_declaration(tmp_path):
    assert embedding_defaults(tmp_path) is None


@pytest.fixture
def model_dir(tmp_path):
    """The bundled model's small files (weights linked, not copied), to rewrite."""
    directory = tmp_path / "model"
    shutil.copytree(default_model_dir(), directory, ignore=shutil.ignore_patterns("model.safetensors"))
    (directory / "model.safetensors").symlink_to(default_model_dir() / "model.safetensors")
    return directory


def write(path, value) -> None:
    path.write_text(value if isinstance(value, str) else json.dumps(value))


def test_every_field_is_read(model_dir):
    write(model_dir / "1_Pooling" / "config.json", {"pooling_mode": "weightedmean", "include_prompt": False})
    write(model_dir / "sentence_bert_config.json", {"max_seq_length": 200, "do_lower_case": True})
    prompts = {"query": "query: ", "doc": ""}
    write(
        model_dir / "config_sentence_transformers.json",
        {"prompts": prompts, "default_prompt_name": "query", "similarity_fn_name": "dot"},
    )
    modules = json.loads((model_dir / "modules.json").read_text())[:2]  # no Normalize
    write(
        model_dir / "modules.json",
        [*modules, {"idx": 2, "path": "2_Dense", "type": "sentence_transformers.models.Dense"}],
    )
    assert embedding_defaults(model_dir) == EmbeddingDefaults(
        "weightedmean", False, 200, True, False, prompts, "query", "dot", ("Dense",)
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("1_Pooling/config.json", {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True},
         "contradictory pooling: cls and mean"),
        ("1_Pooling/config.json", {"pooling_mode_median_tokens": True}, "unknown pooling mode 'pooling_mode_median_tokens'"),
        ("1_Pooling/config.json", {"pooling_mode": "median"}, "unknown pooling mode 'median'"),
        ("1_Pooling/config.json", "{not json", "not valid JSON (line 1, column 2)"),
        ("modules.json", "[{]", "not valid JSON"),
        ("modules.json", {"0": "Transformer"}, "expected a list of modules"),
        ("sentence_bert_config.json", {"max_seq_length": "long"}, "max_seq_length must be int"),
        ("config_sentence_transformers.json", {"default_prompt_name": "query"}, "not one of its prompts"),
        ("config_sentence_transformers.json", {"similarity_fn_name": "jaccard"}, "unknown similarity_fn_name"),
    ],
)  # fmt: skip
def test_malformed_files_are_one_line_naming_the_file(model_dir, tmp_path, capsys, name, content, message):
    write(model_dir / name, content)
    with pytest.raises(CheckpointError, match="^" + str(model_dir / name)) as caught:
        embedding_defaults(model_dir)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    (tmp_path / "in.txt").write_text("hello\n")
    args = [
        "embed",
        "--input",
        str(tmp_path / "in.txt"),
        "--output",
        str(tmp_path / "o.npy"),
        "--model",
        str(model_dir),
    ]
    assert main([*args, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bertkit embed: error: ") and message in err


def test_a_module_bertkit_cannot_apply_is_an_error_not_ignored(model_dir):
    modules = json.loads((model_dir / "modules.json").read_text())
    write(
        model_dir / "modules.json",
        [*modules, {"idx": 3, "path": "3_Dense", "type": "sentence_transformers.models.Dense"}],
    )
    model = bertkit.load(model_dir)
    with pytest.raises(CheckpointError, match="ends in Dense, which bertkit does not apply"):
        model.embed(TEXTS)
    assert model.embed(TEXTS, pooling="mean", normalize=True).shape == (3, 384)  # the encoder's own, on request


@pytest.fixture(scope="module")
def model():
    return bertkit.load(precision="fp32")


def test_defaults_come_from_the_model_and_explicit_choices_win(model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the declared defaults, asked for or not: no warning
        declared = model.embed(TEXTS)
        np.testing.assert_array_equal(model.embed(TEXTS, pooling="mean", normalize=True), declared)
    np.testing.assert_allclose(np.linalg.norm(declared, axis=1), 1.0, atol=1e-6)
    with pytest.warns(UserWarning) as caught:
        cls = model.embed(TEXTS, pooling="cls")
    assert len(caught) == 1
    assert str(caught[0].message).endswith(
        "declares mean pooling, normalised (its sentence-transformers files); embedding with cls pooling, normalised as asked"
    )
    assert caught[0].filename == __file__  # points at the caller
    assert np.abs(cls - declared).max() > 0.05
    with pytest.warns(UserWarning, match="embedding with mean pooling, not normalised as asked"):
        raw = model.embed(TEXTS, normalize=False)
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), declared, atol=1e-6)


def test_seq_length_none_is_128_for_the_preprocessor_and_declared_for_embed():
    default, explicit = bertkit.load(precision="fp32"), bertkit.load(precision="fp32", seq_length=64)
    assert (default.preprocessor.seq_length, default.embed_length) == (128, 256)
    assert (explicit.preprocessor.seq_length, explicit.embed_length) == (64, 64)
    long = ["word " * 400]
    short = bertkit.load(precision="fp32", seq_length=256).embed(long)
    np.testing.assert_allclose(default.embed(long), short, atol=1e-6)


def test_prompts(model_dir):
    write(model_dir / "config_sentence_transformers.json", {"prompts": {"query": "query: ", "doc": "passage: "}})
    model = bertkit.load(model_dir, precision="fp32")
    np.testing.assert_allclose(
        model.embed(TEXTS, prompt_name="doc"), model.embed(["passage: " + t for t in TEXTS]), atol=1e-6
    )
    np.testing.assert_allclose(model.embed(TEXTS, prompt="query: "), model.embed(TEXTS, prompt_name="query"), atol=1e-6)
    with pytest.raises(InputError, match="unknown prompt_name 'title'; this model's prompts: query, doc"):
        model.embed(TEXTS, prompt_name="title")
    with pytest.raises(InputError, match="not both"):
        model.embed(TEXTS, prompt="a", prompt_name="query")


def test_a_model_without_sentence_transformers_files_keeps_the_old_defaults(model_dir):
    for name in ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        (model_dir / name).unlink()
    model = bertkit.load(model_dir, precision="fp32")
    settings = model.embed_settings()
    assert (settings.pooling, settings.normalize, settings.max_length) == ("cls", False, 128)
    assert (
        settings.describe()
        == "pooling cls, not normalised, max 128 tokens (bertkit's defaults: no sentence-transformers files)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vectors = model.embed(TEXTS, pooling="mean")
    assert np.linalg.norm(vectors, axis=1).min() > 1.5  # not normalised
    with pytest.raises(InputError, match="declares no prompts"):
        model.embed(TEXTS, prompt_name="query")


def test_cli_overrides_and_says_what_it_uses(tmp_path, capsys, model):
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    base = ["embed", "--input", str(tmp_path / "in.txt"), "--no-progress", "--precision", "fp32"]
    assert main([*base, "--output", str(tmp_path / "a.npy"), "--pooling", "cls", "--no-normalize"]) == 0
    err = capsys.readouterr().err
    assert "embedding: pooling cls, not normalised, max 256 tokens (the model's sentence-transformers files)" in err
    assert err.count("embedding with cls pooling, not normalised as asked") == 1
    with pytest.warns(UserWarning):
        expected = model.embed(TEXTS, pooling="cls", normalize=False)
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), expected, atol=1e-5)
