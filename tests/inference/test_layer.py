"""bertkit/inference/layer.py: the packed (varlen) attention path, on the CPU with a stand-in
for the CUDA-only flash kernel (tests/inference/test_cuda.py runs the real one on a GPU)."""

import pytest
import torch
from test_engine import model_and_batch, reference

from bertkit.inference import FastEncoder
from bertkit.inference import layer as layer_module

pytestmark = pytest.mark.emulated  # also run on an emulated AVX2-only CPU (make test-emulated)


def _stand_in_varlen_attn(q, k, v, cu_q, cu_k, max_q, max_k):
    """What flash attention over packed texts computes, text by text (the kernel is CUDA-only)."""
    assert cu_q.dtype == torch.int32 and cu_q.tolist() == cu_k.tolist() and max_q == max_k
    assert max_q == max(b - a for a, b in zip(cu_q.tolist(), cu_q.tolist()[1:]))
    out = torch.empty_like(q)
    for start, end in zip(cu_q.tolist(), cu_q.tolist()[1:]):
        part = [t[start:end].transpose(0, 1) for t in (q, k, v)]  # (heads, n, d)
        out[start:end] = torch.nn.functional.scaled_dot_product_attention(*part).transpose(0, 1)
    return out


@pytest.mark.parametrize("name", ["bert", "distilbert"])
@pytest.mark.parametrize("lengths", [[7, 3, 12, 1], [9, 9, 9]], ids=["padded", "unpadded"])
def test_packed_attention_path_matches_the_backbone(monkeypatch, name, lengths):
    """The GPU's varlen attention path (offsets, packing, head split) with a stand-in kernel."""
    monkeypatch.setattr(layer_module, "varlen_kernel", lambda: _stand_in_varlen_attn)
    model, ids, mask, types = model_and_batch(name, lengths)
    ref = reference(model, ids, mask, types)
    fast = FastEncoder(model, precision="fp32", device="cpu")
    for layer in fast.layers:
        layer.varlen = True
    out = fast(ids, mask, types)
    real = mask.bool()
    torch.testing.assert_close(out.sequence[real], ref.sequence[real], atol=1e-5, rtol=1e-5)
    if ref.pooled is not None:
        torch.testing.assert_close(out.pooled, ref.pooled, atol=1e-5, rtol=1e-5)


def test_packed_attention_is_chosen_for_cuda_half_precision_only(monkeypatch):
    monkeypatch.setattr(layer_module, "varlen_kernel", lambda: _stand_in_varlen_attn)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert layer_module.uses_varlen_attention(cuda, torch.bfloat16, 64)
    assert layer_module.uses_varlen_attention(cuda, torch.float16, 32)
    assert not layer_module.uses_varlen_attention(cuda, torch.float32, 64)  # fp32: SDPA over (B, S)
    assert not layer_module.uses_varlen_attention(cpu, torch.bfloat16, 64)
    assert not layer_module.uses_varlen_attention(cuda, torch.bfloat16, 12)  # flash needs d % 8 == 0
    monkeypatch.setattr(layer_module, "varlen_kernel", lambda: None)  # an older PyTorch
    assert not layer_module.uses_varlen_attention(cuda, torch.bfloat16, 64)
