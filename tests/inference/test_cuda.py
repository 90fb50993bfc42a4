"""The engine on a GPU: the same outputs as the backbone, and packed (varlen) attention in bf16.

Runs wherever PyTorch sees a CUDA device (the project's GPU check: `benchmarks/gpu_check.sh`);
CI has none and skips this file. The packed attention's bookkeeping is also checked on the CPU,
with a stand-in for the flash kernel: tests/inference/test_layer.py.
"""

import pytest
import torch
from test_engine import MODELS, batch, model_and_batch, reference

from bertkit.inference import FastEncoder
from bertkit.inference import layer as layer_module
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

LENGTHS = [7, 3, 12, 1, 12]


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)


@pytest.mark.parametrize("name", MODELS)
def test_fp32_on_cuda_matches_the_backbone_on_cpu(name):
    model, ids, mask, types = model_and_batch(name, LENGTHS)
    ref = reference(model, ids, mask, types)
    out = FastEncoder(model, precision="fp32", device="cuda")(ids, mask, types, all_layers=True)
    real = mask.bool()
    assert out.sequence.device.type == "cuda"
    torch.testing.assert_close(out.sequence.cpu()[real], ref.sequence[real], atol=1e-4, rtol=1e-4)
    for ours, theirs in zip(out.layers, ref.layers):
        torch.testing.assert_close(ours.cpu()[real], theirs[real], atol=1e-4, rtol=1e-4)
    if ref.pooled is not None:
        torch.testing.assert_close(out.pooled.cpu(), ref.pooled, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_bf16_on_cuda_runs_packed_attention_within_the_guard(name):
    model, ids, mask, types = model_and_batch(name, LENGTHS)
    ref = reference(model, ids, mask, types)
    fast = FastEncoder(model, precision="bf16", device="cuda")
    assert all(layer.varlen for layer in fast.layers) == (layer_module.varlen_kernel() is not None)
    out = fast(ids, mask, types)
    real = mask.bool()
    assert cosines(out.sequence.cpu()[real], ref.sequence[real]).min() >= 0.999
    assert (out.sequence.cpu()[~real] == 0).all()


def test_bf16_packed_attention_equals_padded_attention_on_cuda():
    """varlen flash attention and SDPA over (B, S) with the padding masked: the same layer."""
    if layer_module.varlen_kernel() is None:
        pytest.skip("this PyTorch has no torch.nn.attention.varlen")
    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=2, num_attention_heads=4, intermediate_size=512)
    model = BertModel(config)
    ids, mask, types = batch([40, 3, 128, 17, 1, 99], pad_id=0)
    ids = ids % config.vocab_size
    fast = FastEncoder(model, precision="bf16", device="cuda")
    packed = fast(ids, mask, types).sequence
    for layer in fast.layers:
        layer.varlen = False
    padded = fast(ids, mask, types).sequence
    real = mask.bool().cuda()
    assert cosines(packed[real], padded[real]).min() >= 0.9999


def test_embed_many_on_cuda_keeps_input_order_and_matches_fp32():
    torch.manual_seed(0)
    model = MODELS["bert"]()
    generator = torch.Generator().manual_seed(1)
    texts = [torch.randint(3, 100, (n,), generator=generator).tolist() for n in (5, 30, 2, 17, 9, 30, 1)]
    cpu = FastEncoder(model, precision="fp32", device="cpu").embed_many(texts, batch_size=3)
    gpu32 = FastEncoder(model, precision="fp32", device="cuda").embed_many(texts, batch_size=3)
    gpu16 = FastEncoder(model, precision="bf16", device="cuda").embed_many(texts, batch_size=3)
    torch.testing.assert_close(gpu32, cpu, atol=1e-4, rtol=1e-4)
    assert cosines(gpu16, cpu).min() >= 0.999
