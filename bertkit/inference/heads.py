"""A fine-tuned task model on the engine: the backbone on a `FastEncoder`, the head as it is.

`bertkit.load(dir, precision=...).predict(texts)` runs a fine-tuned classifier or tagger
(`bertkit.modeling.classification`) through this. Only the backbone's precision changes: the
engine hands its outputs back in float32, as `BackboneOutput` has them, and the head (the
model's own module, in fp32) reads its inputs as it was trained on them.

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> from bertkit.modeling.classification import SequenceClassifier
    >>> config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    >>> model = SequenceClassifier(BertModel(config), config, num_labels=3).eval()
    >>> fast = FastTaskModel(FastEncoder(model.backbone, precision="fp32"), model)
    >>> ids = torch.tensor([[101, 2023, 102, 0], [101, 7, 8, 102]])
    >>> mask = (ids != 0).long()
    >>> bool((fast(ids, mask) - model(ids, mask)).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from bertkit.inference.engine import FastEncoder


class FastTaskModel(nn.Module):
    """`head(engine(word_ids, mask, type_ids))`: a task model's forward with its backbone on
    the engine. Called as the task model is (`bertkit.tasks.prediction.text_logits` / `word_logits`)."""

    def __init__(self, engine: FastEncoder, model: nn.Module):  # model: SequenceClassifier or TokenClassifier
        super().__init__()
        self.engine = engine  # built from model.backbone
        # The head copied in fp32: the caller may cast its task model afterwards (bertkit.load does).
        self.head = copy.deepcopy(model.head).float().to(engine.device).eval()
        self.num_labels = model.num_labels

    @torch.inference_mode()
    def forward(
        self,
        word_ids: torch.Tensor,  # (B, S) int64
        mask: torch.Tensor,  # (B, S), 1 on real tokens
        type_ids: torch.Tensor | None = None,  # (B, S) int64
    ) -> torch.Tensor:  # logits, (B, labels) or (B, S, labels) for a tagger
        # EncoderOutput has BackboneOutput's fields (sequence (B, S, H) float32, zeros at padding;
        # pooled (B, H) or None), which is all a head reads.
        return self.head(self.engine(word_ids, mask, type_ids))
