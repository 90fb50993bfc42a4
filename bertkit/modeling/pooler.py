"""The pooler: a dense layer with tanh on the first ([CLS]) token's final state (BERT paper, 3.3.2).

It was trained for next-sentence prediction; `pooled_output` in the TF Hub outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.config import BertConfig


class Pooler(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, H)
        return torch.tanh(self.dense(sequence[:, 0]))
