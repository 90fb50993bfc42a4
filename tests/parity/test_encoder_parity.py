"""Our encoder against transformers' BertModel on the same checkpoints, layer by layer.

- the bundled all-MiniLM-L6-v2 over 300 real texts of mixed length (tests/corpora.py:
  UI strings in ~100 languages, changelog lines, license paragraphs, whole documents
  truncated at 128 tokens): every encoder_outputs[i] against hidden_states[i + 1],
  sequence_output on real tokens, pooled_output, all within 1e-4 max abs;
- a randomly initialised bert-base-shaped model (L12 H768 A12) that transformers wrote;
- the other direction: a directory we save, loaded by transformers.AutoModel;
- `embed(pooling="mean", normalize=True)` against sentence-transformers' recipe (mean of the
  reference's token states over the attention mask, then L2 normalisation, texts cut at the
  model's max_seq_length, 256), within 1e-5 cosine.

The inputs come from transformers' own tokenizer, so these compare the encoders alone.
"""

from __future__ import annotations

import corpora
import numpy as np
import pytest
import torch
import transformers

import bertkit  # noqa: E402
from bertkit import Encoder  # noqa: E402
from bertkit.bundled import default_model_dir  # noqa: E402

ATOL = 1e-4
N_TEXTS = 300
N_EMBED = 120


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpora.realistic_mix(N_TEXTS, seed=3)


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(default_model_dir())


@pytest.fixture(scope="module")
def reference():
    return transformers.BertModel.from_pretrained(default_model_dir()).eval()


def batches(tokenizer, texts, size=32, max_length=128):
    """(indices, HF tokenizer output): batches of similar length, each padded to its longest."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), size):
        indices = order[start : start + size]
        chunk = [texts[i] for i in indices]
        yield indices, tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")


def as_tf_hub(hf_batch) -> dict[str, torch.Tensor]:
    return {
        "input_word_ids": hf_batch["input_ids"].int(),
        "input_mask": hf_batch["attention_mask"].int(),
        "input_type_ids": hf_batch["token_type_ids"].int(),
    }


def compare(ours: Encoder, theirs, hf_batch) -> dict[str, float]:
    """Max abs difference of each output, on real tokens."""
    with torch.no_grad():
        out = ours(as_tf_hub(hf_batch))
        ref = theirs(**hf_batch, output_hidden_states=True)
    real = hf_batch["attention_mask"].bool()
    assert len(out["encoder_outputs"]) == len(ref.hidden_states) - 1  # L, not L + 1
    errors = {
        f"encoder_outputs[{i}]": (a - b)[real].abs().max().item()
        for i, (a, b) in enumerate(zip(out["encoder_outputs"], ref.hidden_states[1:], strict=True))
    }
    errors["sequence_output"] = (out["sequence_output"] - ref.last_hidden_state)[real].abs().max().item()
    errors["pooled_output"] = (out["pooled_output"] - ref.pooler_output).abs().max().item()
    return errors


def assert_within(errors: dict[str, float], atol: float = ATOL) -> None:
    worst = max(errors, key=errors.get)
    assert errors[worst] < atol, f"{worst} differs by {errors[worst]:.2e} (all: {errors})"


def test_bundled_minilm_matches_transformers_on_real_texts(texts, tokenizer, reference):
    ours = Encoder.from_pretrained()
    lengths = []
    for _, hf_batch in batches(tokenizer, texts):
        assert_within(compare(ours, reference, hf_batch))
        lengths += hf_batch["attention_mask"].sum(1).tolist()
    assert len(lengths) == N_TEXTS and min(lengths) <= 4 and max(lengths) == 128  # a real mix


def test_random_bert_base_written_by_transformers(tmp_path, texts, tokenizer):
    torch.manual_seed(0)
    config = transformers.BertConfig(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    )
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    transformers.BertModel(config).save_pretrained(tmp_path)
    reference = transformers.BertModel.from_pretrained(tmp_path).eval()
    ours = Encoder.from_pretrained(tmp_path)
    picked = [texts[i] for i in (0, 7, 50, 123, 200, 299)]  # short to long; small for time
    assert_within(
        compare(ours, reference, tokenizer(picked, padding=True, truncation=True, max_length=64, return_tensors="pt"))
    )


def test_what_we_save_transformers_loads_with_the_same_outputs(tmp_path, texts, tokenizer):
    ours = Encoder.from_pretrained()
    ours.save_pretrained(tmp_path)
    theirs = transformers.AutoModel.from_pretrained(tmp_path).eval()
    assert type(theirs) is transformers.BertModel
    saved_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)  # tokenizer files copied
    for _, hf_batch in list(batches(saved_tokenizer, texts[::5]))[:2]:
        assert_within(compare(ours, theirs, hf_batch))
    assert saved_tokenizer(texts[:20])["input_ids"] == tokenizer(texts[:20])["input_ids"]


def test_mean_pooled_embed_matches_sentence_transformers_recipe(texts, tokenizer, reference):
    texts = texts[:N_EMBED]  # still a mix of short and long texts; the encoder is compared above
    ours = bertkit.load().embed(texts, pooling="mean", normalize=True, batch_size=32)
    expected = np.zeros_like(ours)
    for indices, hf_batch in batches(tokenizer, texts, max_length=256):  # the model's max_seq_length
        with torch.no_grad():
            tokens = reference(**hf_batch).last_hidden_state
        mask = hf_batch["attention_mask"].unsqueeze(-1).float()
        mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        expected[indices] = torch.nn.functional.normalize(mean, dim=1).numpy()
    cosine = np.sum(ours * expected, axis=1)
    assert ours.shape == (N_EMBED, 384)
    assert np.max(1 - cosine) < 1e-5, f"text {int(np.argmax(1 - cosine))}: cosine {cosine.min()}"
