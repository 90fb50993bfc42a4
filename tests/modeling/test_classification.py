"""Task heads: shapes, which backbone output each reads, and the pooler dropped when unused."""

from __future__ import annotations

import pytest
import torch

from bertkit.modeling.bert import BertModel
from bertkit.modeling.classification import SequenceClassifier, TokenClassifier
from bertkit.modeling.config import BertConfig
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.modeling.roberta import RobertaModel

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, vocab_size=100)
BACKBONES = {
    "bert": (BertModel, {}),
    "roberta": (RobertaModel, {"pad_token_id": 1, "max_position_embeddings": 40, "type_vocab_size": 1}),
    "distilbert": (DistilBertModel, {"type_vocab_size": 0}),
}


@pytest.mark.parametrize("model_type", sorted(BACKBONES))
def test_heads_give_logits_of_the_right_shape_and_ignore_padding(model_type):
    backbone_class, extra = BACKBONES[model_type]
    config = BertConfig(model_type=model_type, **SMALL, **extra)
    torch.manual_seed(0)
    ids = torch.randint(5, 100, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    classifier = SequenceClassifier(backbone_class(config), config, num_labels=3).eval()
    tagger = TokenClassifier(backbone_class(config), config, num_labels=4).eval()
    logits = classifier(ids, mask)
    assert logits.shape == (2, 3) and tagger(ids, mask).shape == (2, 9, 4)
    changed = ids.clone()
    changed[1, 6:] = 7  # what sits under padding must not matter
    torch.testing.assert_close(classifier(changed, mask), logits)
    assert classifier.num_labels == 3 and tagger.num_labels == 4


def test_the_pooler_goes_where_the_head_does_not_read_it():
    config = BertConfig(**SMALL)
    assert SequenceClassifier(BertModel(config), config, 2).backbone.pooler is not None  # BERT's head reads it
    assert TokenClassifier(BertModel(config), config, 2).backbone.pooler is None
    roberta = BertConfig(model_type="roberta", pad_token_id=1, **SMALL)
    assert SequenceClassifier(RobertaModel(roberta), roberta, 2).backbone.pooler is None


def test_head_dropout_comes_from_the_config():
    config = BertConfig(**SMALL, extra={"classifier_dropout": 0.3})
    assert SequenceClassifier(BertModel(config), config, 2).head.dropout.p == 0.3
    assert TokenClassifier(BertModel(BertConfig(**SMALL)), BertConfig(**SMALL), 2).head.dropout.p == 0.1
