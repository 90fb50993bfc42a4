"""The BERT backbone: embeddings -> transformer stack -> pooler (BERT paper, figure 1).

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> model = BertModel(BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
    ...                              intermediate_size=128)).eval()
    >>> ids = torch.tensor([[101, 2023, 102, 0]])
    >>> out = model(ids, mask=(ids != 0).long(), type_ids=torch.zeros_like(ids))
    >>> out.sequence.shape, len(out.layers), out.pooled.shape
    (torch.Size([1, 4, 64]), 2, torch.Size([1, 64]))

Task heads (masked LM, next sentence, classifier, tagger) live in their own files next to
this one and take the backbone's outputs; they are not part of `BertModel`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from bertkit.modeling.config import BertConfig
from bertkit.modeling.embeddings import Embeddings
from bertkit.modeling.layer import TransformerStack
from bertkit.modeling.pooler import Pooler


class BackboneOutput(NamedTuple):
    sequence: torch.Tensor  # (B, S, H), the last layer's output
    layers: list[torch.Tensor]  # L x (B, S, H), one per transformer layer; layers[-1] is sequence
    pooled: torch.Tensor | None  # (B, H); None for a model without a pooler
    attentions: list[torch.Tensor] | None = None  # L x (B, heads, S, S) when asked for, else None


class BertModel(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.transformer = TransformerStack(config)
        self.pooler = Pooler(config)
        self.apply(lambda module: init_weights(module, config))

    def position_ids(self, mask: torch.Tensor) -> torch.Tensor:  # (B, S) -> (S,)
        """BERT numbers positions 0, 1, 2, ...; other architectures override this."""
        return torch.arange(mask.shape[1], device=mask.device)

    def forward(
        self,
        word_ids: torch.Tensor,  # (B, S) int64
        mask: torch.Tensor,  # (B, S), 1 on real tokens, 0 on padding
        type_ids: torch.Tensor | None = None,  # (B, S) int64, segment A = 0, B = 1
        attentions: bool = False,  # also return each layer's attention probabilities
    ) -> BackboneOutput:
        x = self.embeddings(word_ids, self.position_ids(mask), type_ids)  # (B, S, H)
        attend = mask.bool()[:, None, None, :]  # (B, S) -> (B, 1, 1, S): keys each query may see
        layers, probs = self.transformer(x, attend, attentions)
        pooled = self.pooler(layers[-1]) if self.pooler is not None else None
        return BackboneOutput(layers[-1], layers, pooled, probs)


@torch.no_grad()
def init_weights(module: nn.Module, config: BertConfig) -> None:
    """BERT's initialisation: N(0, initializer_range) weights, zero biases, unit LayerNorm."""
    if any(p.is_meta for p in module.parameters(recurse=False)):
        return  # built on the meta device for a checkpoint to fill; nothing to initialise
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.normal_(0.0, config.initializer_range)
    if isinstance(module, nn.Linear) and module.bias is not None:
        module.bias.zero_()
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.LayerNorm):
        module.weight.fill_(1.0)
        module.bias.zero_()
