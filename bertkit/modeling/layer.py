"""A post-LN transformer layer and the stack of them (BERT paper, 3; "Attention Is All You Need", 3.1).

Post-LN, as the original BERT: `x = LayerNorm(x + Dropout(Sublayer(x)))` for the attention and
then for the feed-forward network.
"""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.attention import SelfAttention
from bertkit.modeling.config import BertConfig
from bertkit.modeling.feed_forward import FeedForward


class TransformerLayer(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.output_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self, x: torch.Tensor, attend: torch.Tensor, probabilities: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # (B, S, H) -> (B, S, H), and (B, heads, S, S) or None
        attended, probs = self.attention(x, attend, probabilities)
        x = self.attention_norm(x + self.dropout(attended))
        return self.output_norm(x + self.dropout(self.feed_forward(x))), probs


class TransformerStack(nn.Module):
    """`num_hidden_layers` layers; returns every layer's output (L of them, the last is final) and,
    when asked, every layer's attention probabilities (L of them, else None)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_hidden_layers))

    def forward(
        self, x: torch.Tensor, attend: torch.Tensor, probabilities: bool = False
    ) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:  # L x (B, S, H), L x (B, heads, S, S) or None
        outputs, attentions = [], []
        for layer in self.layers:
            x, probs = layer(x, attend, probabilities)
            outputs.append(x)
            attentions.append(probs)
        return outputs, attentions if probabilities else None
