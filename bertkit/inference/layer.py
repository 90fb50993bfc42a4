"""One post-LN transformer layer on unpadded tokens: its weights packed for each path (the
fused C layer for passes of few tokens, `PackedLinear` products for the others) and the
PyTorch path's forward, with attention as SDPA or, on CUDA in half precision, flash
attention over the packed tokens."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from bertkit.inference import fused_layer
from bertkit.inference.kernels import PackedLinear, compute_dtype
from bertkit.inference.layout import TokenLayout
from bertkit.inference.smoothing import smoothing_factors


@functools.cache
def varlen_kernel():
    """PyTorch >= 2.10's flash attention over texts of different lengths, packed into (T, heads, d),
    or None. Imported on first use on a GPU: the import pulls in torch._dynamo (~2.6 s on 2 cores),
    which a CPU process never needs."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def uses_varlen_attention(device: torch.device, dtype: torch.dtype, head_size: int) -> bool:
    """Whether attention runs on the packed tokens with no padding at all (CUDA, bf16/fp16).

    Elsewhere it runs on (B, heads, S, d) with the padding masked: SDPA (oneDNN's flash
    kernel on CPU, the memory-efficient one for fp32 on CUDA).
    """
    return (
        device.type == "cuda"
        and dtype in (torch.bfloat16, torch.float16)
        and head_size % 8 == 0
        and head_size <= 256
        and varlen_kernel() is not None
    )


class FastLayer:
    """One post-LN transformer layer on unpadded tokens (same maths as `modeling/layer.py`).

    `input_max` (int8 only): the calibrated channel maxima of the inputs of the QKV and the
    feed-forward products, both LayerNorm outputs, for smoothing (`smoothing.py`).
    """

    def __init__(self, layer, heads: int, activation: str, precision: str, device: torch.device, input_max=None):
        attention, feed_forward = layer.attention, layer.feed_forward
        self.heads = heads
        dtype = compute_dtype(precision, device)
        self.varlen = uses_varlen_attention(device, dtype, attention.query.weight.shape[0] // heads)
        qkv_weight = torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
        qkv_bias = torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])
        qkv_smoothing = inner_smoothing = None
        if input_max is not None:
            qkv_smoothing = smoothing_factors(input_max[0], qkv_weight)
            inner_smoothing = smoothing_factors(input_max[1], feed_forward.inner.weight)
        self.smoothing = (qkv_smoothing, inner_smoothing)  # int8: SmoothQuant's factors; else None
        linears = [  # (weight, bias, smoothing) of the four products, for both paths
            (qkv_weight, qkv_bias, qkv_smoothing),
            (attention.output.weight, attention.output.bias, None),
            (feed_forward.inner.weight, feed_forward.inner.bias, inner_smoothing),
            (feed_forward.outer.weight, feed_forward.outer.bias, None),
        ]
        norms = [(norm.weight, norm.bias, norm.eps) for norm in (layer.attention_norm, layer.output_norm)]
        # Passes of few tokens on CPU: the whole layer as one C call, packed now, not at a request.
        self.c_layer = None
        if (
            device.type == "cpu"
            and fused_layer.library() is not None
            and fused_layer.FusedLayer.supports(linears, heads, activation, precision)
        ):
            self.c_layer = fused_layer.FusedLayer(linears, norms, heads, activation, precision)
        # The products for larger passes (QKV: H -> 3H; the activation is the inner product's);
        # their own paths for few rows only where the C layer is not.
        small = self.c_layer is None
        self.qkv, self.attention_output, self.inner, self.outer = (
            PackedLinear(weight, bias, precision, device, activation=act, smoothing=smoothing, small_products=small)
            for (weight, bias, smoothing), act in zip(linears, (None, None, activation, None))
        )
        self.norms = [
            (weight.detach().to(device, dtype), bias.detach().to(device, dtype), eps) for weight, bias, eps in norms
        ]

    def attention(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:  # (T, H) -> (T, H)
        tokens, hidden = x.shape
        head_size = hidden // self.heads
        if self.varlen:  # no scatter to (B, S): each text attends within its own rows
            q, k, v = self.qkv(x).view(tokens, 3, self.heads, head_size).unbind(1)  # each (T, heads, d)
            context = varlen_kernel()(q, k, v, layout.offsets, layout.offsets, layout.longest, layout.longest)
            return context.reshape(tokens, hidden)
        qkv = layout.scatter(self.qkv(x))  # (B, S, 3H)
        qkv = qkv.view(layout.batch, layout.length, 3, self.heads, head_size).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, S, d)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=layout.attend)
        context = context.transpose(1, 2).reshape(layout.batch, layout.length, hidden)  # (B, S, H)
        return layout.gather(context)

    def __call__(self, x: torch.Tensor, layout: TokenLayout) -> torch.Tensor:  # (T, H) -> (T, H)
        (w1, b1, eps1), (w2, b2, eps2) = self.norms
        x = self.attention_output(self.attention(x, layout), residual=x)
        x = F.layer_norm(x, w1.shape, w1, b1, eps1)
        x = self.outer(self.inner(x), residual=x)
        return F.layer_norm(x, w2.shape, w2, b2, eps2)
