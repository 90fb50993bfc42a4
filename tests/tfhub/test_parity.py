"""bertkit against TensorFlow itself, on the models TF Hub's own exporter wrote (tests/tfhub/README.md).

- Preprocessing: `Preprocessor.from_pretrained(<TF Hub preprocessing SavedModel>)` takes the
  `tfhub` flavour from the model's origin and gives TF Hub's three arrays id for id on ~21k
  real and hostile texts, and on 2,000 pairs at seq 128 and at 24 (round-robin truncation).
- Encoder: `Encoder.from_pretrained(<TF Hub encoder SavedModel>)` gives the notebook's four
  outputs within 1e-4 (tanh GELU, as tf-models reads `gelu`).
- Google's checkpoint: MLM and NSP logits within 1e-4 of the TensorFlow graph's; fill-mask runs
  on it; `bertkit convert` writes a directory `transformers` loads with the same outputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertkit import Encoder, Preprocessor
from bertkit.checkpoint import load_pretraining
from bertkit.checkpoint.convert import convert
from bertkit.cli import main as bertkit_main

ARRAYS = ("input_word_ids", "input_mask", "input_type_ids")


def _mismatches(ours: dict, theirs: dict, prefix: str, texts) -> list:
    bad = [i for i in range(len(texts)) if any((ours[k][i] != theirs[prefix + k][i]).any() for k in ARRAYS)]
    return [(i, texts[i]) for i in bad[:5]] + ([f"... {len(bad)} in all"] if len(bad) > 5 else [])


def test_the_preprocessing_savedmodel_gives_tf_hubs_arrays_id_for_id(tf_oracle):
    pre = Preprocessor.from_pretrained(tf_oracle.preprocess_dir)
    assert pre.tokenizer.flavor == "tfhub" and pre.seq_length == 128
    ours = {k: v.numpy() for k, v in pre(tf_oracle.texts).items()}
    assert len(tf_oracle.texts) > 20_000
    assert _mismatches(ours, tf_oracle.preprocess, "", tf_oracle.texts) == []
    # whole texts too, not only their first 126 tokens
    tokens = pre.tokenize(tf_oracle.texts)
    wrong = [i for i, ids in enumerate(tokens) if ids != tf_oracle.tokens(i)]
    assert [(i, tf_oracle.texts[i]) for i in wrong[:5]] == []


@pytest.mark.parametrize("seq_length", [128, 24])
def test_pairs_are_packed_as_tf_hubs_bert_pack_inputs(tf_oracle, seq_length):
    pre = Preprocessor.from_pretrained(tf_oracle.preprocess_dir, seq_length=seq_length)
    first, second = zip(*tf_oracle.pairs)
    ours = {k: v.numpy() for k, v in pre(list(first), list(second)).items()}
    assert _mismatches(ours, tf_oracle.preprocess, f"pairs{seq_length}_", tf_oracle.pairs) == []


def test_the_huggingface_flavour_can_be_asked_for(tf_oracle):
    """Asked for explicitly on a TF Hub model, the other flavour tokenizes as bertkit does for
    HuggingFace directories (tests/parity: transformers' ids), which differs from TF Hub's on the
    texts the issue names (full-width punctuation, ß, ...)."""
    texts = tf_oracle.texts[:3000]
    huggingface = Preprocessor.from_pretrained(tf_oracle.preprocess_dir, flavor="huggingface")
    assert huggingface.tokenizer.flavor == "huggingface"
    same_vocab = Preprocessor.from_pretrained()  # the bundled MiniLM: the same vocab.txt, uncased
    assert huggingface.tokenize(texts) == same_vocab.tokenize(texts)
    tfhub = Preprocessor.from_pretrained(tf_oracle.preprocess_dir).tokenize(texts)
    assert sum(a != b for a, b in zip(tfhub, same_vocab.tokenize(texts))) > 10  # the flavours really differ


def test_the_encoder_savedmodel_gives_the_notebooks_outputs(tf_oracle):
    theirs = tf_oracle.encoder
    encoder = Encoder.from_pretrained(tf_oracle.encoder_dir)
    assert encoder.config.hidden_act == "gelu_new"  # tf-models' reading of "gelu"
    # The encoder's own vocabulary and casing give the preprocessing model's ids.
    pre = Preprocessor.from_pretrained(tf_oracle.encoder_dir)
    batch = pre(tf_oracle.encoder_texts)
    for k in ARRAYS:
        np.testing.assert_array_equal(batch[k].numpy(), theirs[k])
    with torch.no_grad():
        ours = encoder(batch)
    real = theirs["input_mask"].astype(bool)  # what padding positions hold is unspecified
    np.testing.assert_allclose(ours["sequence_output"].numpy()[real], theirs["sequence_output"][real], atol=1e-4)
    for k in ("default", "pooled_output"):
        np.testing.assert_allclose(ours[k].numpy(), theirs[k], atol=1e-4)
    assert len(ours["encoder_outputs"]) == len(theirs["encoder_outputs"]) == 6
    for layer, expected in zip(ours["encoder_outputs"], theirs["encoder_outputs"]):
        np.testing.assert_allclose(layer.numpy()[real], expected[real], atol=1e-4)


def test_the_encoder_savedmodels_mlm_subobject_gives_tensorflows_logits(tf_oracle):
    """TF Hub's BERT encoders carry a masked-LM head in their `.mlm` subobject: it loads with the
    encoder (fill-mask works on it), with TensorFlow's logits."""
    theirs = tf_oracle.encoder
    model, _, _ = load_pretraining(tf_oracle.encoder_dir)
    assert model.nsp is None  # TF Hub exports no NSP head
    ids, mask, types = (torch.from_numpy(theirs[k]).long() for k in ARRAYS)
    with torch.no_grad():
        logits = model.eval()(ids, mask, types).mlm_logits
    positions = torch.from_numpy(theirs["masked_lm_positions"]).long()
    ours = torch.gather(logits, 1, positions[..., None].expand(-1, -1, logits.shape[-1]))
    np.testing.assert_allclose(ours.numpy(), theirs["mlm_logits"], atol=1e-4)


def _google_logits(model, google: dict) -> tuple[np.ndarray, np.ndarray]:
    ids, mask, types = (torch.from_numpy(google[k]).long() for k in ARRAYS)
    with torch.no_grad():
        out = model(ids, mask, types)
    positions = torch.from_numpy(google["masked_lm_positions"]).long()
    mlm = torch.gather(out.mlm_logits, 1, positions[..., None].expand(-1, -1, out.mlm_logits.shape[-1]))
    return mlm.numpy(), out.nsp_logits.numpy()


def test_a_google_checkpoint_gives_tensorflows_mlm_and_nsp_logits(tf_oracle):
    model, config, _ = load_pretraining(tf_oracle.google_dir)
    assert config.hidden_act == "gelu_new" and model.nsp is not None
    mlm, nsp = _google_logits(model.eval(), tf_oracle.google)
    np.testing.assert_allclose(mlm, tf_oracle.google["mlm_logits"], atol=1e-4)
    np.testing.assert_allclose(nsp, tf_oracle.google["nsp_logits"], atol=1e-4)
    assert Preprocessor.from_pretrained(tf_oracle.google_dir).tokenizer.flavor == "tfhub"


def test_fill_mask_runs_on_a_google_checkpoint(tf_oracle, capsys):
    """The tfhub flavour reads a typed [MASK] as text, as TF Hub does; fill-mask places the mask
    token itself where the text says [MASK]."""
    assert (
        bertkit_main(["fill-mask", "--model", str(tf_oracle.google_dir), "--json", "paris is the [MASK] of france."])
        == 0
    )
    masks = json.loads(capsys.readouterr().out)["masks"]
    assert len(masks) == 1 and len(masks[0]) == 5


@pytest.fixture(scope="module")
def converted(tf_oracle, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted")
    lines = []
    google = convert(tf_oracle.google_dir, out / "google", say=lines.append)
    encoder = convert(tf_oracle.encoder_dir, out / "encoder", say=lines.append)
    return google, encoder, lines


def test_convert_writes_what_transformers_loads_with_the_same_outputs(tf_oracle, converted):
    transformers = pytest.importorskip("transformers")
    google_dir, encoder_dir, lines = converted
    assert "heads: masked LM + next sentence" in lines[0] and "heads: masked LM" in lines[2]
    settings = json.loads((google_dir / "tokenizer_config.json").read_text())
    assert settings["bertkit_flavor"] == "tfhub" and settings["do_lower_case"] is True
    assert json.loads((google_dir / "config.json").read_text())["hidden_act"] == "gelu_new"

    theirs = transformers.BertForPreTraining.from_pretrained(google_dir).eval()
    google = tf_oracle.google
    ids, mask, types = (torch.from_numpy(google[k]).long() for k in ARRAYS)
    with torch.no_grad():
        out = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types)
    positions = torch.from_numpy(google["masked_lm_positions"]).long()
    mlm = torch.gather(out.prediction_logits, 1, positions[..., None].expand(-1, -1, out.prediction_logits.shape[-1]))
    np.testing.assert_allclose(mlm.numpy(), google["mlm_logits"], atol=1e-4)
    np.testing.assert_allclose(out.seq_relationship_logits.numpy(), google["nsp_logits"], atol=1e-4)
    # and bertkit reads its own output back, flavour included
    mlm_ours, nsp_ours = _google_logits(load_pretraining(google_dir)[0].eval(), google)
    np.testing.assert_allclose(mlm_ours, google["mlm_logits"], atol=1e-4)
    assert Preprocessor.from_pretrained(google_dir).tokenizer.flavor == "tfhub"

    assert json.loads((encoder_dir / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    encoder = transformers.BertModel.from_pretrained(encoder_dir).eval()
    e = tf_oracle.encoder
    with torch.no_grad():
        hf = encoder(
            **{
                n: torch.from_numpy(e[k]).long()
                for n, k in zip(("input_ids", "attention_mask", "token_type_ids"), ARRAYS)
            }
        )
    real = e["input_mask"].astype(bool)
    np.testing.assert_allclose(hf.last_hidden_state.numpy()[real], e["sequence_output"][real], atol=1e-4)
    np.testing.assert_allclose(hf.pooler_output.numpy(), e["pooled_output"], atol=1e-4)


def test_the_commands_say_the_flavour_and_take_the_other_one(tf_oracle, capsys):
    text = "Ｆｕｌｌ－ｗｉｄｔｈ，Straße"  # TF Hub folds both; transformers' tokenizer keeps them
    runs = {}
    for flavor in (None, "huggingface"):
        extra = [] if flavor is None else ["--flavor", flavor]
        assert bertkit_main(["preprocess", "--model", str(tf_oracle.preprocess_dir), "--json", text, *extra]) == 0
        out, err = capsys.readouterr()
        runs[flavor] = json.loads(out)["input_word_ids"][0], err
    (tfhub_ids, tfhub_err), (hf_ids, hf_err) = runs[None], runs["huggingface"]
    assert tfhub_err == "tokenizer: WordPiece, tfhub flavour (as TF Hub's preprocessing model)\n" and hf_err == ""
    expected = Preprocessor.from_pretrained(tf_oracle.preprocess_dir)([text])["input_word_ids"][0].tolist()
    assert tfhub_ids == expected and hf_ids != expected
    assert bertkit_main(["encode", "--model", str(tf_oracle.encoder_dir), "--json", text]) == 0
    assert "tfhub flavour" in capsys.readouterr().err
