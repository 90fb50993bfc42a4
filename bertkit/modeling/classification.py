"""Task heads for fine-tuning: a label per text (or text pair), and a label per token.

Each head is the one its architecture's checkpoints define, so a fine-tuned model loads in
HuggingFace's `AutoModelForSequenceClassification` / `AutoModelForTokenClassification`:

    BERT        pooled output -> dropout -> linear                      (BERT paper, 4.1)
    RoBERTa     first token -> dropout -> dense -> tanh -> dropout -> out_proj   (fairseq's head)
    DistilBERT  first token -> dense -> ReLU -> dropout -> linear
    tagger      every token -> dropout -> linear                        (BERT paper, 4.3)

A task model is a backbone (`bertkit.modeling.bert.BertModel` or a sibling) held as
`backbone`, plus one head held as `head`; `checkpoint/names.py` maps the head's weights to
HuggingFace's names in each architecture's table.

    >>> import torch
    >>> from bertkit.modeling.config import BertConfig
    >>> from bertkit.modeling.bert import BertModel
    >>> config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    >>> model = SequenceClassifier(BertModel(config), config, num_labels=3).eval()
    >>> ids = torch.tensor([[101, 2023, 102, 0]])
    >>> model(ids, (ids != 0).long()).shape
    torch.Size([1, 3])
    >>> TokenClassifier(BertModel(config), config, num_labels=5).eval()(ids, (ids != 0).long()).shape
    torch.Size([1, 4, 5])
"""

from __future__ import annotations

import torch
from torch import nn

from bertkit.modeling.bert import BackboneOutput, init_weights
from bertkit.modeling.config import BertConfig


def _dropout(config: BertConfig, key: str = "classifier_dropout") -> float:
    """The head's dropout: config.json's `key` when set, else the model's hidden dropout."""
    value = config.extra.get(key)
    return config.hidden_dropout_prob if value is None else float(value)


class BertClassifierHead(nn.Module):
    """Dropout and a linear map on the pooled ([CLS]) output."""

    uses_pooler = True

    def __init__(self, config: BertConfig, num_labels: int):
        super().__init__()
        self.dropout = nn.Dropout(_dropout(config))
        self.output = nn.Linear(config.hidden_size, num_labels)

    def forward(self, out: BackboneOutput) -> torch.Tensor:  # -> (B, labels)
        return self.output(self.dropout(out.pooled))


class RobertaClassifierHead(nn.Module):
    """RoBERTa has no pooler; its head holds its own tanh layer on the first token (<s>)."""

    uses_pooler = False

    def __init__(self, config: BertConfig, num_labels: int):
        super().__init__()
        self.dropout = nn.Dropout(_dropout(config))
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, num_labels)  # fairseq's name, kept

    def forward(self, out: BackboneOutput) -> torch.Tensor:  # -> (B, labels)
        x = self.dropout(out.sequence[:, 0])  # (B, S, H) -> (B, H)
        x = self.dropout(torch.tanh(self.dense(x)))
        return self.out_proj(x)


class DistilBertClassifierHead(nn.Module):
    """DistilBERT has no pooler; a ReLU dense layer on the first token stands in for it."""

    uses_pooler = False

    def __init__(self, config: BertConfig, num_labels: int):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(_dropout(config, "seq_classif_dropout"))
        self.output = nn.Linear(config.hidden_size, num_labels)

    def forward(self, out: BackboneOutput) -> torch.Tensor:  # -> (B, labels)
        x = torch.relu(self.dense(out.sequence[:, 0]))  # (B, S, H) -> (B, H)
        return self.output(self.dropout(x))


class TaggerHead(nn.Module):
    """Dropout and a linear map on every token's final state (the same in all three families)."""

    uses_pooler = False

    def __init__(self, config: BertConfig, num_labels: int):
        super().__init__()
        dropout_key = "dropout" if config.model_type == "distilbert" else "classifier_dropout"
        self.dropout = nn.Dropout(_dropout(config, dropout_key))
        self.output = nn.Linear(config.hidden_size, num_labels)

    def forward(self, out: BackboneOutput) -> torch.Tensor:  # (B, S, H) -> (B, S, labels)
        return self.output(self.dropout(out.sequence))


CLASSIFIER_HEADS = {
    "bert": BertClassifierHead,
    "roberta": RobertaClassifierHead,
    "distilbert": DistilBertClassifierHead,
}


class TaskModel(nn.Module):
    """backbone + head; the backbone's pooler is dropped when the head does not read it,
    as HuggingFace's task classes do, so saved files hold exactly what they load."""

    def __init__(self, backbone: nn.Module, head: nn.Module, config: BertConfig, num_labels: int):
        super().__init__()
        self.config = config
        self.num_labels = num_labels
        self.backbone = backbone
        self.head = head
        if not head.uses_pooler and getattr(backbone, "pooler", None) is not None:
            backbone.pooler = None
        if not any(p.is_meta for p in head.parameters()):
            head.apply(lambda module: init_weights(module, config))

    def forward(
        self,
        word_ids: torch.Tensor,  # (B, S) int64
        mask: torch.Tensor,  # (B, S), 1 on real tokens
        type_ids: torch.Tensor | None = None,  # (B, S) int64
    ) -> torch.Tensor:  # logits
        return self.head(self.backbone(word_ids, mask, type_ids))


class SequenceClassifier(TaskModel):
    """One label (or, multi-label, one score per label) per text or text pair: logits (B, labels)."""

    def __init__(self, backbone: nn.Module, config: BertConfig, num_labels: int):
        super().__init__(backbone, CLASSIFIER_HEADS[config.model_type](config, num_labels), config, num_labels)


class TokenClassifier(TaskModel):
    """One label per token: logits (B, S, labels); words are labelled at their first sub-word."""

    def __init__(self, backbone: nn.Module, config: BertConfig, num_labels: int):
        super().__init__(backbone, TaggerHead(config, num_labels), config, num_labels)
