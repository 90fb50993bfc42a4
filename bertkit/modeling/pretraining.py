"""The pretraining heads: masked language modelling and next sentence prediction (BERT paper, 3.1).

    MLM   every (or every masked) token's final state -> dense -> activation -> LayerNorm
          -> decoder whose weight IS the word embedding table (tied) + a bias of its own
    NSP   pooled output -> linear -> 2 logits (0: B follows A, 1: B is random)

RoBERTa's `lm_head` has the same shape (dense, gelu, layer norm, tied decoder, bias) and no
NSP head; `checkpoint.py` maps both to HuggingFace's names (`cls.predictions.*`,
`cls.seq_relationship.*`, `lm_head.*`).

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    ...                     intermediate_size=64)
    >>> model = PretrainingModel(BertModel(config), config).eval()
    >>> ids = torch.tensor([[2, 10, 4, 3, 11, 3]])
    >>> out = model(ids, torch.ones_like(ids), torch.tensor([[0, 0, 0, 0, 1, 1]]))
    >>> out.mlm_logits.shape, out.nsp_logits.shape
    (torch.Size([1, 6, 100]), torch.Size([1, 2]))
    >>> model.mlm.decoder_weight is model.backbone.embeddings.word.weight
    True
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.modeling.activations import ACTIVATIONS
from bertkit.modeling.bert import init_weights
from bertkit.modeling.config import BertConfig

IGNORE_INDEX = -100  # label of the positions that are not predicted


class MaskedLMHead(nn.Module):
    """Hidden states -> scores over the vocabulary, decoding with the input embedding table.

    The decoder's weight IS the word embedding table (Press & Wolf 2017, as in BERT): the head
    keeps a reference to the embedding module, out of its own parameters, so the table is
    stored, loaded and trained once; only the output bias is the head's own.
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACTIVATIONS[config.hidden_act].function
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self._tied = [word_embeddings]  # a list: not registered as a submodule a second time

    @property
    def decoder_weight(self) -> torch.Tensor:  # (V, H)
        return self._tied[0].weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (..., H) -> (..., V)
        return F.linear(self.norm(self.activation(self.dense(hidden))), self.decoder_weight, self.bias)


class PretrainingOutput(NamedTuple):
    mlm_logits: torch.Tensor  # (B, S, V), or (N, V) for the N predicted positions
    nsp_logits: torch.Tensor | None  # (B, 2); None without NSP


class PretrainingModel(nn.Module):
    """A backbone with the MLM head and, for BERT, the NSP head.

    `next_sentence=False` (RoBERTa, or BERT pretrained on MLM alone) drops the NSP head and the
    pooler, which nothing would train.
    """

    def __init__(self, backbone: nn.Module, config: BertConfig, next_sentence: bool = True):
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.mlm = MaskedLMHead(config, backbone.embeddings.word)
        self.nsp = nn.Linear(config.hidden_size, 2) if next_sentence else None
        if not next_sentence:
            backbone.pooler = None
        if not self.mlm.dense.weight.is_meta:
            for head in (self.mlm.dense, self.mlm.norm, self.nsp):
                if head is not None:
                    init_weights(head, config)
            nn.init.zeros_(self.mlm.bias)

    def forward(
        self,
        word_ids: torch.Tensor,  # (B, S) int64
        mask: torch.Tensor,  # (B, S), 1 on real tokens
        type_ids: torch.Tensor | None = None,  # (B, S) int64
        mlm_labels: torch.Tensor | None = None,  # (B, S), IGNORE_INDEX where nothing is predicted
    ) -> PretrainingOutput:
        out = self.backbone(word_ids, mask, type_ids)
        hidden = out.sequence  # (B, S, H)
        if mlm_labels is not None:
            # decode only the ~15% predicted positions: the (H x V) decoder is the costliest matmul
            hidden = hidden[mlm_labels != IGNORE_INDEX]  # (B, S, H) -> (N, H)
        nsp_logits = self.nsp(out.pooled) if self.nsp is not None else None
        return PretrainingOutput(self.mlm(hidden), nsp_logits)


class PretrainingLoss(NamedTuple):
    loss: torch.Tensor  # MLM cross-entropy (mean over predicted tokens) + NSP cross-entropy
    mlm_loss: torch.Tensor
    nsp_loss: torch.Tensor | None
    mlm_correct: int  # predicted tokens whose top-1 is right
    mlm_count: int
    nsp_correct: int
    nsp_count: int


def pretraining_loss(
    out: PretrainingOutput, mlm_labels: torch.Tensor, next_sentence_labels: torch.Tensor | None = None
) -> PretrainingLoss:
    """The joint loss of BERT's pretraining, with the counts that give MLM and NSP accuracy.

    `out` must come from `model(..., mlm_labels=mlm_labels)` (logits at predicted positions only).
    """
    targets = mlm_labels[mlm_labels != IGNORE_INDEX]  # (N,)
    logits = out.mlm_logits.float()
    mlm_loss = F.cross_entropy(logits, targets) if len(targets) else logits.sum() * 0.0
    loss, nsp_loss, nsp_correct, nsp_count = mlm_loss, None, 0, 0
    if out.nsp_logits is not None and next_sentence_labels is not None:
        nsp_loss = F.cross_entropy(out.nsp_logits.float(), next_sentence_labels)
        loss = mlm_loss + nsp_loss
        nsp_correct = int((out.nsp_logits.argmax(-1) == next_sentence_labels).sum())
        nsp_count = len(next_sentence_labels)
    mlm_correct = int((logits.argmax(-1) == targets).sum()) if len(targets) else 0
    return PretrainingLoss(loss, mlm_loss, nsp_loss, mlm_correct, len(targets), nsp_correct, nsp_count)
