"""RoBERTa and DistilBERT: ours against transformers on checkpoints transformers wrote, and back.

- a randomly initialised roberta-base-shaped model (L12 H768 A12, 514 positions, LayerNorm
  epsilon 1e-5, one token type, pooler) with a byte-level BPE vocabulary trained here;
- a randomly initialised distilbert-base-shaped model (L6 H768 A12, no token types, no
  pooler) with the bundled uncased vocab.txt, and a small one with sinusoidal positions.

For each: our Preprocessor's ids equal transformers' tokenizer's (singles and pairs), every
encoder_outputs[i] matches hidden_states[i + 1] on real tokens within 1e-4, pooled_output
matches the pooler (RoBERTa) or the first token's final state (DistilBERT), and a directory
we save loads in transformers.AutoModel / AutoTokenizer with the same results.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import corpora
import pytest
import torch
import transformers
from tokenizers import ByteLevelBPETokenizer
from transformers import AddedToken

from bertkit import Encoder, Preprocessor  # noqa: E402
from bertkit.bundled import default_model_dir  # noqa: E402
from bertkit.modeling.config import BertConfig  # noqa: E402
from bertkit.modeling.distilbert import DistilBertModel  # noqa: E402

ATOL = 1e-4
SEQ_LENGTH = 64


@pytest.fixture(scope="module")
def texts() -> list[str]:
    mix = corpora.realistic_mix(12, seed=4)  # UI strings, sentences, paragraphs, documents
    return mix + ["The capital of France is <mask>.", "  leading spaces\nand a newline 😀"]


def pairs(texts: list[str]) -> tuple[list[str], list[str]]:
    short = sorted(texts, key=len)[:8]  # pairs that fit: no truncation rule is compared here
    return short[:4], short[4:]


def train_bpe_vocab(directory: Path) -> None:
    """vocab.json + merges.txt trained on real text, and the tokenizer files transformers
    writes for them with roberta-base's `<mask>` (which takes the space before it)."""
    trainer = ByteLevelBPETokenizer()
    trainer.train_from_iterator(
        corpora.po_strings()[::5] + corpora.license_paragraphs(),
        vocab_size=5000,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    trainer.save_model(str(directory))
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)
    transformers.RobertaTokenizer.from_pretrained(str(directory), mask_token=mask).save_pretrained(str(directory))


def check_preprocessor(directory: Path, texts: list[str], reference_dir: Path | None = None) -> dict:
    """Our batch for `texts` and for pairs, each equal to transformers' tokenizer's ids."""
    ours = Preprocessor.from_pretrained(directory, seq_length=SEQ_LENGTH)
    ref = transformers.AutoTokenizer.from_pretrained(str(reference_dir or directory))
    for segments in ([texts], pairs(texts)):
        batch = ours(*segments)
        expected = ref(*segments, padding="max_length", truncation=True, max_length=SEQ_LENGTH)
        assert batch["input_word_ids"].tolist() == expected["input_ids"]
        assert batch["input_mask"].tolist() == expected["attention_mask"]
    return ours(texts)


def check_encoder(ours: Encoder, theirs, batch: dict, pooler: bool) -> None:
    """Every output within ATOL of the reference, on real tokens."""
    with torch.no_grad():
        out = ours(batch)
        ref = theirs(
            input_ids=batch["input_word_ids"].long(),
            attention_mask=batch["input_mask"].long(),
            output_hidden_states=True,
        )
    real = batch["input_mask"].bool()
    assert len(out["encoder_outputs"]) == len(ref.hidden_states) - 1
    for i, (a, b) in enumerate(zip(out["encoder_outputs"], ref.hidden_states[1:], strict=True)):
        assert (a - b)[real].abs().max() < ATOL, f"encoder_outputs[{i}]"
    assert (out["sequence_output"] - ref.last_hidden_state)[real].abs().max() < ATOL
    expected_pooled = ref.pooler_output if pooler else ref.last_hidden_state[:, 0]
    assert (out["pooled_output"] - expected_pooled).abs().max() < ATOL
    assert out["default"] is out["pooled_output"]


def round_trip(encoder: Encoder, texts: list[str], directory: Path, pooler: bool, reference_dir: Path) -> None:
    """What we save, transformers loads and computes the same with; ours reads it back too."""
    encoder.save_pretrained(directory)
    batch = check_preprocessor(directory, texts, reference_dir)
    theirs = transformers.AutoModel.from_pretrained(str(directory)).eval()
    check_encoder(encoder, theirs, batch, pooler)
    check_encoder(Encoder.from_pretrained(directory), theirs, batch, pooler)


def test_roberta_base_shape(tmp_path, texts):
    written = tmp_path / "written_by_transformers"
    written.mkdir()
    train_bpe_vocab(written)
    vocab_size = len(transformers.RobertaTokenizer.from_pretrained(str(written)))
    torch.manual_seed(0)
    config = transformers.RobertaConfig(
        vocab_size=vocab_size, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    theirs = transformers.RobertaModel(config).eval()
    theirs.save_pretrained(written)

    batch = check_preprocessor(written, texts)
    assert batch["input_type_ids"].eq(0).all()
    ours = Encoder.from_pretrained(written)
    assert type(ours.backbone).__name__ == "RobertaModel"
    check_encoder(ours, theirs, batch, pooler=True)
    round_trip(ours, texts, tmp_path / "written_by_us", pooler=True, reference_dir=written)


def distilbert_dir(directory: Path, **config) -> transformers.DistilBertModel:
    for name in ("vocab.txt", "tokenizer_config.json"):
        if (default_model_dir() / name).is_file():
            shutil.copyfile(default_model_dir() / name, directory / name)
    torch.manual_seed(0)
    model = transformers.DistilBertModel(transformers.DistilBertConfig(vocab_size=30522, **config)).eval()
    model.save_pretrained(directory)
    return model


def test_distilbert_base_shape(tmp_path, texts):
    written = tmp_path / "written_by_transformers"
    written.mkdir()
    theirs = distilbert_dir(written)  # distilbert-base: 6 layers, dim 768, 12 heads, learned positions
    batch = check_preprocessor(written, texts)
    ours = Encoder.from_pretrained(written)
    assert type(ours.backbone).__name__ == "DistilBertModel"
    check_encoder(ours, theirs, batch, pooler=False)
    # token types are accepted and ignored
    typed = dict(batch, input_type_ids=torch.ones_like(batch["input_type_ids"]))
    check_encoder(ours, theirs, typed, pooler=False)
    round_trip(ours, texts, tmp_path / "written_by_us", pooler=False, reference_dir=written)


def test_distilbert_sinusoidal_positions(tmp_path, texts):
    written = tmp_path / "written_by_transformers"
    written.mkdir()
    small = dict(dim=64, n_layers=2, n_heads=4, hidden_dim=128, sinusoidal_pos_embds=True)
    theirs = distilbert_dir(written, **small)
    fresh = DistilBertModel(BertConfig.from_json_file(written / "config.json"))  # not from the file
    torch.testing.assert_close(fresh.embeddings.position.weight, theirs.embeddings.position_embeddings.weight)
    batch = check_preprocessor(written, texts)
    ours = Encoder.from_pretrained(written)
    check_encoder(ours, theirs, batch, pooler=False)
    round_trip(ours, texts, tmp_path / "written_by_us", pooler=False, reference_dir=written)
