"""`enc(batch, output_attentions=True)`: attention probabilities equal to transformers'
`output_attentions=True` within 1e-5, on the bundled all-MiniLM-L6-v2 and on RoBERTa and
DistilBERT models transformers initialises and writes here; rows are probability
distributions over the real tokens, exactly 0 on padding keys; the default path stays on the
fused kernel and computes none.
"""

from __future__ import annotations

import corpora
import pytest
import torch
import torch.nn.functional as F
import transformers

from bertkit import Encoder, Preprocessor
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig

ATOL = 1e-5
SEQ_LENGTH = 48


@pytest.fixture(scope="module")
def batch() -> dict:
    """Real sentences of different lengths (so most rows have padding), and a pair."""
    pre = Preprocessor.from_pretrained(seq_length=SEQ_LENGTH)
    texts = ["This is a spam mail", "Computers are not unique to computers"] + corpora.realistic_mix(4, seed=2)
    singles = pre(texts)
    pair = pre(["Is this spam?"], ["No, it is a letter from a friend."])
    return {name: torch.cat([singles[name], pair[name]]) for name in singles}


def check_attentions(ours: Encoder, theirs, batch: dict) -> None:
    inputs = {"input_ids": batch["input_word_ids"].long(), "attention_mask": batch["input_mask"].long()}
    if ours.config.type_vocab_size:  # DistilBERT takes no token types
        inputs["token_type_ids"] = batch["input_type_ids"].long()
    with torch.no_grad():
        out = ours(batch, output_attentions=True)
        ref = theirs(**inputs, output_attentions=True)
    config = ours.config
    real = batch["input_mask"].bool()
    assert len(out["attentions"]) == config.num_hidden_layers == len(ref.attentions)
    for i, (a, b) in enumerate(zip(out["attentions"], ref.attentions, strict=True)):
        assert a.shape == (real.shape[0], config.num_attention_heads, SEQ_LENGTH, SEQ_LENGTH)
        # every query row, real or padding: transformers' padding rows see the same real keys
        assert (a - b).abs().max() < ATOL, f"attentions[{i}]"
        assert (a.sum(-1) - 1).abs().max() < 1e-5, f"attentions[{i}] rows sum to 1"
        padding_keys = ~real[:, None, None, :].expand_as(a)
        assert padding_keys.any() and a[padding_keys].eq(0).all(), f"attentions[{i}] is 0 on padding keys"
    # asking for them changes none of the other outputs
    with torch.no_grad():
        plain = ours(batch)
    assert "attentions" not in plain
    for a, b in zip(out["encoder_outputs"], plain["encoder_outputs"], strict=True):
        assert (a - b)[real].abs().max() < 1e-5


def test_bundled_model_matches_transformers(batch):
    ours = Encoder.from_pretrained()
    theirs = transformers.AutoModel.from_pretrained(str(ours.source), attn_implementation="eager").eval()
    check_attentions(ours, theirs, batch)


def test_roberta_matches_transformers(tmp_path, batch):
    torch.manual_seed(0)
    config = transformers.RobertaConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
        max_position_embeddings=SEQ_LENGTH + 2, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1,
    )  # fmt: skip
    transformers.RobertaModel(config).save_pretrained(tmp_path)
    theirs = transformers.AutoModel.from_pretrained(str(tmp_path), attn_implementation="eager").eval()
    ours = Encoder.from_pretrained(tmp_path)
    assert type(ours.backbone).__name__ == "RobertaModel"
    # WordPiece ids stand in for BPE ones (never 1, RoBERTa's <pad>): transformers counts positions
    # from the ids that are not <pad>, so padding must be written as <pad>.
    ids = batch["input_word_ids"].masked_fill(batch["input_mask"] == 0, config.pad_token_id)
    check_attentions(ours, theirs, {**batch, "input_word_ids": ids, "input_type_ids": torch.zeros_like(ids)})


@pytest.mark.parametrize("sinusoidal", [False, True])
def test_distilbert_matches_transformers(tmp_path, batch, sinusoidal):
    torch.manual_seed(0)
    config = transformers.DistilBertConfig(
        dim=64, n_layers=3, n_heads=4, hidden_dim=128, max_position_embeddings=SEQ_LENGTH,
        sinusoidal_pos_embds=sinusoidal,
    )  # fmt: skip
    transformers.DistilBertModel(config).save_pretrained(tmp_path)
    theirs = transformers.AutoModel.from_pretrained(str(tmp_path), attn_implementation="eager").eval()
    ours = Encoder.from_pretrained(tmp_path)
    assert type(ours.backbone).__name__ == "DistilBertModel"
    check_attentions(ours, theirs, batch)


def test_default_path_uses_the_fused_kernel_and_computes_no_probabilities(monkeypatch):
    model = BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64))
    ids = torch.tensor([[101, 7, 8, 102, 0, 0]])
    calls = []
    fused = F.scaled_dot_product_attention
    monkeypatch.setattr(F, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or fused(*a, **k))
    with torch.no_grad():
        plain = model.eval()(ids, (ids != 0).long())
        assert plain.attentions is None and len(calls) == 2
        explicit = model(ids, (ids != 0).long(), attentions=True)
        assert len(calls) == 2  # the probabilities come from the explicit softmax, not the kernel
    assert (plain.sequence - explicit.sequence)[:, :4].abs().max() < 1e-5
    assert [tuple(p.shape) for p in explicit.attentions] == [(1, 4, 6, 6)] * 2


def test_dropout_applies_to_the_probabilities_used_not_those_returned():
    """In training the context uses dropped-out probabilities (as transformers); the returned
    ones are the softmax itself, still rows summing to 1."""
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                        attention_probs_dropout_prob=0.5)  # fmt: skip
    model = BertModel(config).train()
    ids = torch.tensor([[101, 7, 8, 9, 102]])
    out = model(ids, torch.ones_like(ids), attentions=True)
    assert (out.attentions[0].sum(-1) - 1).abs().max() < 1e-5
