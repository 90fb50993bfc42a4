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

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, S, H)
        x = self.attention_norm(x + self.dropout(self.attention(x, attend)))
        return self.output_norm(x + self.dropout(self.feed_forward(x)))


class TransformerStack(nn.Module):
    """`num_hidden_layers` layers; returns every layer's output (L of them, the last is final)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.layers = nn.ModuleList(TransformerLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, x: torch.Tensor, attend: torch.Tensor) -> list[torch.Tensor]:  # L x (B, S, H)
        outputs = []
        for layer in self.layers:
            x = layer(x, attend)
            outputs.append(x)
        return outputs
