"""The position-wise feed-forward network: H -> intermediate -> H ("Attention Is All You Need", 3.3)."""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.activations import ACTIVATIONS
from bertkit.modeling.config import BertConfig


class FeedForward(nn.Module):
    """Two linear maps with the configured activation between them (before residual + LayerNorm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.inner = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act].function
        self.outer = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, S, H)
        return self.outer(self.activation(self.inner(x)))  # via (B, S, intermediate)
