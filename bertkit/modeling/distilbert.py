"""DistilBERT's backbone: BERT's layers without token types or pooler (Sanh et al. 2019).

DistilBERT keeps BERT's post-LN transformer layers (its checkpoints name them differently:
`q_lin`, `sa_layer_norm`, `ffn.lin1`, ... - translated in checkpoint/names.py, nowhere else) and
drops two things:

- token types: there is no segment embedding (`type_vocab_size` 0). The preprocessor still
  returns `input_type_ids`, as for every model; the embeddings accept and ignore them.
- the pooler: there is no dense + tanh layer. `pooled_output` is the first token's final
  hidden state (the `[CLS]` vector, untransformed) - what DistilBERT's own classification
  head starts from.

Positions are learned, or a fixed sinusoidal table ("Attention Is All You Need", 3.5) when
config.json says `sinusoidal_pos_embds`; both come from the checkpoint when there is one.

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> config = BertConfig.from_dict({"model_type": "distilbert", "vocab_size": 50, "dim": 32,
    ...                                "n_layers": 2, "n_heads": 4, "hidden_dim": 64})
    >>> model = DistilBertModel(config).eval()
    >>> ids = torch.tensor([[2, 7, 9, 3, 0]])
    >>> out = model(ids, mask=(ids != 0).long(), type_ids=torch.ones_like(ids))
    >>> torch.equal(out.pooled, out.sequence[:, 0])
    True
"""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig


class FirstToken(nn.Module):
    """The pooling of a model without a pooler: the first token's final state, as it is."""

    def forward(self, sequence: torch.Tensor) -> torch.Tensor:  # (B, S, H) -> (B, H)
        return sequence[:, 0]


class DistilBertModel(BertModel):
    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.pooler = FirstToken()
        if config.sinusoidal_positions:
            self.embeddings.position.weight.requires_grad_(False)  # fixed, never trained
            with torch.no_grad():
                self.embeddings.position.weight.copy_(sinusoidal_positions(config))


def sinusoidal_positions(config: BertConfig) -> torch.Tensor:  # (P, H)
    """sin on even dimensions, cos on odd ones, at wavelengths from 2 pi to 10000 * 2 pi."""
    positions = torch.arange(config.max_position_embeddings, dtype=torch.float64)[:, None]  # (P, 1)
    pairs = torch.arange(config.hidden_size, dtype=torch.float64) // 2 * 2  # 0, 0, 2, 2, 4, ...
    angles = positions / torch.pow(10000.0, pairs / config.hidden_size)  # (P, H)
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()
