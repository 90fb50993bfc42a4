"""Multi-head self-attention with a padding mask ("Attention Is All You Need", 3.2.2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.modeling.config import BertConfig


class SelfAttention(nn.Module):
    """Every position attends to every real (unmasked) position of the same sequence.

    Returns the attention output *before* the residual connection and LayerNorm, which belong
    to the layer (`modeling/layer.py`), and the attention probabilities when asked for them.
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
        probabilities: bool = False,  # also return softmax(q k^T / sqrt(d)), (B, heads, S, S)
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # (B, S, H), and the probabilities or None
        batch, length, hidden = x.shape

        def split_heads(t: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, heads, S, d)
            return t.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        q, k, v = split_heads(self.query(x)), split_heads(self.key(x)), split_heads(self.value(x))
        dropout = self.dropout if self.training else 0.0
        if probabilities:
            # The fused kernel never materialises the probabilities, so spell it out: the same
            # softmax(q k^T / sqrt(d) + mask) v, with exact zeros on padding keys.
            scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // self.heads)  # (B, heads, S, S)
            probs = scores.masked_fill(~attend, float("-inf")).softmax(dim=-1)
            context = F.dropout(probs, dropout, self.training) @ v  # (B, heads, S, d)
        else:
            # softmax(q k^T / sqrt(d) + mask) v, in one fused kernel where the backend has one.
            probs = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend, dropout_p=dropout)
        context = context.transpose(1, 2).reshape(batch, length, hidden)  # (B, heads, S, d) -> (B, S, H)
        return self.output(context), probs
