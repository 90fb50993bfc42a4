"""Checks of the TensorFlow oracle itself: that it shows what TF Hub's notebook shows, that its
encoder carries MiniLM's real weights, and that its Google checkpoint has the release's layout.
bertkit's comparisons against it live in the other files of this folder."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from bertkit import Encoder
from bertkit.bundled import default_model_dir
from tfhub.inputs import NOTEBOOK

# The notebook's input_word_ids for "This is a spam mail" (reference notebook, cell 8), and the
# masks of both sentences: 8 real tokens each.
SPAM_MAIL_IDS = [101, 2023, 2003, 1037, 12403, 2213, 5653, 102]


def test_notebook_sentences_give_the_notebooks_ids(tf_oracle):
    assert tf_oracle.texts[:2] == NOTEBOOK
    pre = tf_oracle.preprocess
    assert pre["input_word_ids"].shape == (len(tf_oracle.texts), 128)
    ids, mask, types = (pre[k][:2] for k in ("input_word_ids", "input_mask", "input_type_ids"))
    assert ids[0].tolist() == SPAM_MAIL_IDS + [0] * 120
    assert mask.sum(axis=1).tolist() == [8, 8] and (mask[:, :8] == 1).all()
    assert (types == 0).all()
    computers = ids[1, 1]
    assert ids[1, 0] == 101 and ids[1, 7] == 102 and ids[1, 6] == computers  # "Computers ... computers"
    assert tf_oracle.tokens(0) == SPAM_MAIL_IDS[1:-1]  # tokenize: no special tokens


def test_short_pairs_are_truncated_round_robin(tf_oracle):
    pre = tf_oracle.preprocess
    types, mask = pre["pairs24_input_type_ids"], pre["pairs24_input_mask"]
    lengths = np.array(
        [[len(tf_oracle.tokens(tf_oracle.texts.index(t))) for t in pair] for pair in tf_oracle.pairs[:200]]
    )
    kept_b = types[:200].sum(axis=1) - 1  # segment B's tokens less its [SEP]
    kept_a = mask[:200].sum(axis=1) - kept_b - 3
    both_cut = (lengths[:, 0] > kept_a) & (lengths[:, 1] > kept_b)
    assert both_cut.any()
    # Both cut: the budget of 21 is shared, and segment A keeps the odd token.
    assert ((kept_a - kept_b)[both_cut] >= 0).all() and ((kept_a - kept_b)[both_cut] <= 1).all()


def _bertkit_encoder(tmp_path, hidden_act):
    """The bundled MiniLM with `hidden_act` set in a copy of its config.json (weights linked)."""
    source = default_model_dir()
    for f in source.iterdir():
        if f.is_file() and f.name != "config.json":
            os.symlink(f, tmp_path / f.name)
    config = json.loads((source / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, hidden_act=hidden_act)))
    return Encoder.from_pretrained(tmp_path)


@pytest.mark.parametrize("hidden_act, atol", [("gelu_new", 1e-4), ("gelu", 2e-2)])
def test_encoder_savedmodel_carries_minilms_weights(tf_oracle, tmp_path, hidden_act, atol):
    """tf-models reads "gelu" as tanh GELU: bertkit's tanh form matches to rounding, the erf form
    (what transformers computes for MiniLM) differs by ~1e-3."""
    tf_out = tf_oracle.encoder
    n = 4
    batch = {k: torch.from_numpy(tf_out[k][:n]) for k in ("input_word_ids", "input_mask", "input_type_ids")}
    with torch.no_grad():
        ours = _bertkit_encoder(tmp_path, hidden_act)(batch)
    real = tf_out["input_mask"][:n].astype(bool)  # padding positions are unspecified
    diff = np.abs(ours["sequence_output"].numpy()[real] - tf_out["sequence_output"][:n][real])
    assert diff.max() < atol
    if hidden_act == "gelu":
        assert 1e-4 < diff.mean() < 2e-3  # close, not equal: the oracle really uses tanh GELU
    np.testing.assert_allclose(ours["pooled_output"].numpy(), tf_out["pooled_output"][:n], atol=atol)
    assert tf_out["encoder_outputs"].shape[0] == 6
    np.testing.assert_array_equal(tf_out["encoder_outputs"][-1], tf_out["sequence_output"])
    np.testing.assert_array_equal(tf_out["default"], tf_out["pooled_output"])


def test_google_checkpoint_has_the_release_layout(tf_oracle):
    google = tf_oracle.google_dir
    for name in ("bert_model.ckpt.index", "bert_model.ckpt.data-00000-of-00001", "bert_config.json", "vocab.txt"):
        assert (google / name).is_file(), name
    config = json.loads((google / "bert_config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["hidden_act"]) == (384, 6, "gelu")
    variables = json.loads((tf_oracle.path / "oracle.json").read_text())["google_variables"]
    expected = {
        "bert/embeddings/word_embeddings": [30522, 384],
        "bert/embeddings/token_type_embeddings": [2, 384],
        "bert/embeddings/position_embeddings": [512, 384],
        "bert/encoder/layer_5/attention/self/query/kernel": [384, 384],
        "bert/encoder/layer_5/intermediate/dense/kernel": [384, 1536],
        "bert/encoder/layer_5/output/LayerNorm/gamma": [384],
        "bert/pooler/dense/kernel": [384, 384],
        "cls/predictions/output_bias": [30522],
        "cls/seq_relationship/output_weights": [2, 384],
        "global_step": [],
    }
    assert {k: variables.get(k) for k in expected} == expected
    assert len(variables) == 5 + 6 * 16 + 2 + 7 + 1  # embeddings, layers, pooler, cls heads, global_step
    logits = tf_oracle.google
    assert logits["mlm_logits"].shape == (8, 10, 30522) and logits["nsp_logits"].shape == (8, 2)
