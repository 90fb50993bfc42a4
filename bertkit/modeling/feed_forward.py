"""The position-wise feed-forward network: H -> intermediate -> H ("Attention Is All You Need", 3.3)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.config import BertConfig


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation written as in some GPT-2 ports; equal to gelu_new up to rounding.
    return 0.5 * x * (1.0 + torch.tanh(x * math.sqrt(2.0 / math.pi) * (1.0 + 0.044715 * x * x)))


# config.json's `hidden_act` (or DistilBERT's `activation`) -> function.
# "gelu" is the exact erf form of the original BERT; "gelu_new" is the tanh approximation.
ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_fast": _gelu_fast,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


class FeedForward(nn.Module):
    """Two linear maps with the configured activation between them (before residual + LayerNorm)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.inner = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.outer = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, S, H)
        return self.outer(self.activation(self.inner(x)))  # via (B, S, intermediate)
