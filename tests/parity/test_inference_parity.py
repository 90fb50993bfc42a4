"""The inference engine on the bundled all-MiniLM-L6-v2 against transformers' BertModel.

The accuracy guards of issue 8, on real text of mixed length (tests/corpora.py's realistic
mix, long texts cut at 128 tokens), every text checked:
- fp32: every real position of sequence_output and the pooled output within 1e-4;
- bf16: cosine >= 0.999 for every mean-pooled vector;
- int8: cosine >= 0.99 for every mean-pooled vector.
"""

import pytest
import torch
import transformers
from corpora import po_strings, realistic_mix

from bertkit import Preprocessor
from bertkit.bundled import default_model_dir
from bertkit.checkpoint import load_backbone
from bertkit.inference import FastEncoder

N_TEXTS = 64


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    batch = Preprocessor.from_pretrained()(realistic_mix(N_TEXTS, seed=8), padding="longest")
    ids, mask = batch["input_word_ids"].long(), batch["input_mask"].long()
    reference = transformers.AutoModel.from_pretrained(default_model_dir(), attn_implementation="sdpa").eval()
    with torch.inference_mode():
        out = reference(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
    weights = mask[..., None].float()
    means = (out.last_hidden_state * weights).sum(1) / weights.sum(1)
    backbone, _, _ = load_backbone(None)
    return backbone, ids, mask, out, means


def test_fp32_matches_transformers_to_1e_4(setup):
    backbone, ids, mask, ref, _ = setup
    assert 10 < mask.sum(1).float().mean() < 100 and mask.sum(1).max() == 128  # a mixed-length batch
    out = FastEncoder(backbone, precision="fp32", device="cpu")(ids, mask, torch.zeros_like(ids))
    real = mask.bool()
    assert (out.sequence[real] - ref.last_hidden_state[real]).abs().max() < 1e-4
    assert (out.pooled - ref.pooler_output).abs().max() < 1e-4


@pytest.mark.parametrize("precision, threshold", [("bf16", 0.999), ("int8", 0.99)])
def test_low_precision_vectors_keep_their_direction(setup, precision, threshold):
    backbone, ids, mask, _, ref_means = setup
    fast = FastEncoder(backbone, precision=precision, device="cpu")
    token_ids = [row[: int(n)].tolist() for row, n in zip(ids, mask.sum(1))]
    vectors = fast.embed_many(token_ids, pooling="mean", batch_size=16)
    cosine = torch.nn.functional.cosine_similarity(vectors, ref_means)
    assert cosine.shape == (N_TEXTS,)
    assert cosine.min() >= threshold, f"{precision}: worst vector cosine {cosine.min():.5f}"


SHORT_TEXTS = 48


@pytest.fixture(scope="module")
def short_texts():
    """Real texts of at most 16 tokens, each with transformers' output for it alone."""
    preprocessor = Preprocessor.from_pretrained()
    token_ids = []
    for text in po_strings():
        batch = preprocessor([text], padding="longest")
        n = int(batch["input_mask"].sum())
        if 3 <= n <= 16:
            token_ids.append(batch["input_word_ids"][0, :n].long().tolist())
        if len(token_ids) == SHORT_TEXTS:
            break
    reference = transformers.AutoModel.from_pretrained(default_model_dir(), attn_implementation="sdpa").eval()
    states = []
    with torch.inference_mode():
        for ids in token_ids:
            ids = torch.tensor([ids])
            states.append(reference(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0])
    return token_ids, states


@pytest.mark.parametrize("precision, threshold", [("fp32", None), ("bf16", 0.999), ("int8", 0.99)])
def test_short_texts_alone_take_the_fused_layer_and_match_transformers(short_texts, precision, threshold):
    """One text per pass, as a service answers a request: the fused C layer on CPUs that
    build it (tests/inference/test_fused_layer.py checks that it is used), the PyTorch path elsewhere."""
    token_ids, states = short_texts
    assert len(token_ids) == SHORT_TEXTS and len({len(ids) for ids in token_ids}) > 5
    backbone, _, _ = load_backbone(None)
    fast = FastEncoder(backbone, precision=precision, device="cpu")
    for ids, state in zip(token_ids, states):
        ids = torch.tensor([ids])
        out = fast(ids, torch.ones_like(ids), torch.zeros_like(ids)).sequence[0]
        if threshold is None:
            assert (out - state).abs().max() < 1e-4
        else:
            cosine = torch.nn.functional.cosine_similarity(out.mean(0), state.mean(0), dim=0)
            assert cosine >= threshold, f"{precision}: cosine {cosine:.5f} for {len(ids[0])} tokens"
