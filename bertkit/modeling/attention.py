"""Multi-head self-attention with a padding mask ("Attention Is All You Need", 3.2.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.modeling.config import BertConfig


class SelfAttention(nn.Module):
    """Every position attends to every real (unmasked) position of the same sequence.

    Returns the attention output *before* the residual connection and LayerNorm, which belong
    to the layer (`modeling/layer.py`).
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = config.attention_probs_dropout_prob  # on the attention probabilities

    def forward(
        self,
        x: torch.Tensor,  # (B, S, H)
        attend: torch.Tensor,  # (B, 1, 1, S) bool, True where the key is a real token
    ) -> torch.Tensor:  # (B, S, H)
        batch, length, hidden = x.shape

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, heads, S, d)
            return t.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        # softmax(q k^T / sqrt(d) + mask) v, in one fused kernel where the backend has one.
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attend, dropout_p=self.dropout if self.training else 0.0
        )  # (B, heads, S, d)
        context = context.transpose(1, 2).reshape(batch, length, hidden)  # -> (B, S, H)
        return self.output(context)
