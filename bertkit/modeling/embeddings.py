"""Input embeddings: word + position + token type, then LayerNorm and dropout (BERT paper, 3.2)."""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.config import BertConfig


class Embeddings(nn.Module):
    """Sum of the three embeddings of each input position, normalised.

    Models without token types (DistilBERT: `type_vocab_size == 0`) have no `token_type` table.
    Which position each token gets is the model's choice (BERT counts from 0, RoBERTa from
    `pad_token_id + 1`), so positions come in as an argument.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size) if config.type_vocab_size else None
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        word_ids: torch.Tensor,  # (B, S) int64
        position_ids: torch.Tensor,  # (B, S) or (S,) int64
        type_ids: torch.Tensor | None = None,  # (B, S) int64; None when the model has no types
    ) -> torch.Tensor:  # (B, S, H)
        x = self.word(word_ids) + self.position(position_ids)
        if self.token_type is not None:
            x = x + self.token_type(type_ids if type_ids is not None else torch.zeros_like(word_ids))
        return self.dropout(self.norm(x))
