"""Every name `transformers` gives what bertkit builds: weights, model classes, task keys.

Weight names are translated between HuggingFace's and ours in ONE table per architecture
(`BERT_WEIGHTS` below); the classes `config.json` names in `architectures` (a bare encoder, a
classifier, a tagger, a pretraining model) and the heads' name prefixes are here too. Nothing
outside `bertkit.checkpoint` knows HuggingFace's names.

Naming convention on our side: a bare backbone (`BertModel`) has its own parameter names
(`embeddings.word.weight`, ...); a task model holds its backbone as the attribute `backbone`
and its heads beside it (`backbone.embeddings.word.weight`, `mlm.dense.weight`, ...). A head
joins by appending `(our name, HuggingFace name)` rows to the architecture's `heads` list.

    >>> from bertkit.checkpoint.names import BERT_WEIGHTS
    >>> BERT_WEIGHTS.to_ours("bert.encoder.layer.3.attention.self.query.weight")
    'backbone.transformer.layers.3.attention.query.weight'
    >>> BERT_WEIGHTS.to_theirs("backbone.transformer.layers.3.output_norm.bias", bare=True)
    'encoder.layer.3.output.LayerNorm.bias'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from torch import nn

from bertkit.errors import CheckpointError
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.modeling.roberta import RobertaModel

BACKBONE = "backbone."  # the attribute under which task models hold their backbone


@dataclasses.dataclass
class WeightNames:
    """Our parameter names <-> HuggingFace's for one architecture.

    Each row is `(ours, theirs)`: a module path (its `.weight`/`.bias` follow) or a full
    parameter name; `{i}` stands for a layer number. Backbone rows are relative to the
    backbone; HuggingFace prefixes them with `prefix` inside its task models (`bert.`) and
    not in its bare model. Head rows are full names on both sides.
    """

    prefix: str
    backbone: list[tuple[str, str]]
    heads: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # HuggingFace names we knowingly drop (old files store buffers such as position ids).
    ignored: tuple[str, ...] = ()
    # our name -> our name it shares its tensor with (an MLM decoder tied to the word embeddings);
    # files may leave the first out, and `save` always does (safetensors stores no aliases).
    tied: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_ours(self, theirs: str) -> str | None:
        """HuggingFace name -> our full name (backbone rows under `backbone.`); None if unknown."""
        theirs = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", theirs))  # TF-era files
        if theirs.startswith(self.prefix):
            ours = _translate(theirs[len(self.prefix) :], self.backbone, reverse=False)
            return BACKBONE + ours if ours else None
        ours = _translate(theirs, self.heads, reverse=False)
        if ours:
            return ours
        ours = _translate(theirs, self.backbone, reverse=False)  # a bare model's file
        return BACKBONE + ours if ours else None

    def to_theirs(self, ours: str, bare: bool) -> str:
        """Our full name -> HuggingFace's; `bare` for a file of HuggingFace's bare model class."""
        if ours.startswith(BACKBONE):
            theirs = _translate(ours[len(BACKBONE) :], self.backbone, reverse=True)
            prefix = "" if bare else self.prefix
        else:
            theirs, prefix = _translate(ours, self.heads, reverse=True), ""
        if theirs is None:
            raise KeyError(f"no HuggingFace name for parameter {ours!r}; add a row to the table")
        return prefix + theirs

    def is_ignored(self, theirs: str) -> bool:
        return theirs.removeprefix(self.prefix) in self.ignored


def _translate(name: str, rows: list[tuple[str, str]], reverse: bool) -> str | None:
    for ours, theirs in rows:
        source, target = (ours, theirs) if reverse else (theirs, ours)
        pattern = re.escape(source).replace(r"\{i\}", r"(\d+)")
        match = re.fullmatch(pattern + r"(\..+)?", name)
        if match:
            for number in match.groups()[:-1]:
                target = target.replace("{i}", number, 1)
            return target + (match.group(match.re.groups) or "")
    return None


BERT_WEIGHTS = WeightNames(
    prefix="bert.",
    backbone=[
        ("embeddings.word", "embeddings.word_embeddings"),
        ("embeddings.position", "embeddings.position_embeddings"),
        ("embeddings.token_type", "embeddings.token_type_embeddings"),
        ("embeddings.norm", "embeddings.LayerNorm"),
        ("transformer.layers.{i}.attention.query", "encoder.layer.{i}.attention.self.query"),
        ("transformer.layers.{i}.attention.key", "encoder.layer.{i}.attention.self.key"),
        ("transformer.layers.{i}.attention.value", "encoder.layer.{i}.attention.self.value"),
        ("transformer.layers.{i}.attention.output", "encoder.layer.{i}.attention.output.dense"),
        ("transformer.layers.{i}.attention_norm", "encoder.layer.{i}.attention.output.LayerNorm"),
        ("transformer.layers.{i}.feed_forward.inner", "encoder.layer.{i}.intermediate.dense"),
        ("transformer.layers.{i}.feed_forward.outer", "encoder.layer.{i}.output.dense"),
        ("transformer.layers.{i}.output_norm", "encoder.layer.{i}.output.LayerNorm"),
        ("pooler.dense", "pooler.dense"),
    ],
    ignored=("embeddings.position_ids",),
)


# RoBERTa's layers are BERT's, under its own prefix in task models (`roberta.`).
ROBERTA_WEIGHTS = WeightNames(
    prefix="roberta.",
    backbone=list(BERT_WEIGHTS.backbone),
    ignored=("embeddings.position_ids", "embeddings.token_type_ids"),
)

DISTILBERT_WEIGHTS = WeightNames(
    prefix="distilbert.",
    backbone=[
        ("embeddings.word", "embeddings.word_embeddings"),
        ("embeddings.position", "embeddings.position_embeddings"),
        ("embeddings.norm", "embeddings.LayerNorm"),
        ("transformer.layers.{i}.attention.query", "transformer.layer.{i}.attention.q_lin"),
        ("transformer.layers.{i}.attention.key", "transformer.layer.{i}.attention.k_lin"),
        ("transformer.layers.{i}.attention.value", "transformer.layer.{i}.attention.v_lin"),
        ("transformer.layers.{i}.attention.output", "transformer.layer.{i}.attention.out_lin"),
        ("transformer.layers.{i}.attention_norm", "transformer.layer.{i}.sa_layer_norm"),
        ("transformer.layers.{i}.feed_forward.inner", "transformer.layer.{i}.ffn.lin1"),
        ("transformer.layers.{i}.feed_forward.outer", "transformer.layer.{i}.ffn.lin2"),
        ("transformer.layers.{i}.output_norm", "transformer.layer.{i}.output_layer_norm"),
    ],
    ignored=("embeddings.position_ids",),
)


# Fine-tuning heads (`bertkit.modeling.classification`), per architecture. The specific rows
# come first: the general `classifier` row also names the tagger's output layer.
CLASSIFIER_ROWS = {
    "bert": [("head.output", "classifier")],
    "roberta": [
        ("head.dense", "classifier.dense"),
        ("head.out_proj", "classifier.out_proj"),
        ("head.output", "classifier"),
    ],
    "distilbert": [("head.dense", "pre_classifier"), ("head.output", "classifier")],
}
BERT_WEIGHTS.heads.extend(CLASSIFIER_ROWS["bert"])
ROBERTA_WEIGHTS.heads.extend(CLASSIFIER_ROWS["roberta"])
DISTILBERT_WEIGHTS.heads.extend(CLASSIFIER_ROWS["distilbert"])


# Pretraining heads (`bertkit.modeling.pretraining`). HuggingFace ties `cls.predictions.decoder.bias`
# to `cls.predictions.bias` and writes only the latter; the decoder weight is the word embedding
# table, which our head reads from the backbone, so a file's copy of it is dropped.
PRETRAINING_ROWS = {
    "bert": [
        ("mlm.bias", "cls.predictions.bias"),
        ("mlm.bias", "cls.predictions.decoder.bias"),
        ("mlm.dense", "cls.predictions.transform.dense"),
        ("mlm.norm", "cls.predictions.transform.LayerNorm"),
        ("nsp", "cls.seq_relationship"),
    ],
    "roberta": [
        ("mlm.bias", "lm_head.bias"),
        ("mlm.bias", "lm_head.decoder.bias"),
        ("mlm.dense", "lm_head.dense"),
        ("mlm.norm", "lm_head.layer_norm"),
    ],
    "distilbert": [  # DistilBertForMaskedLM: the same head under its own names, no NSP
        ("mlm.bias", "vocab_projector.bias"),
        ("mlm.dense", "vocab_transform"),
        ("mlm.norm", "vocab_layer_norm"),
    ],
}
BERT_WEIGHTS.heads.extend(PRETRAINING_ROWS["bert"])
BERT_WEIGHTS.ignored += ("cls.predictions.decoder.weight",)
ROBERTA_WEIGHTS.heads.extend(PRETRAINING_ROWS["roberta"])
ROBERTA_WEIGHTS.ignored += ("lm_head.decoder.weight",)
DISTILBERT_WEIGHTS.heads.extend(PRETRAINING_ROWS["distilbert"])
DISTILBERT_WEIGHTS.ignored += ("vocab_projector.weight",)


@dataclasses.dataclass
class Architecture:
    backbone: Callable[[BertConfig], nn.Module]  # config -> backbone module
    weights: WeightNames
    hf_class: str  # HuggingFace's bare model class, written to config.json's "architectures"


# model_type -> architecture: one for each of config.MODEL_TYPES.
ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture(BertModel, BERT_WEIGHTS, "BertModel"),
    "roberta": Architecture(RobertaModel, ROBERTA_WEIGHTS, "RobertaModel"),
    "distilbert": Architecture(DistilBertModel, DISTILBERT_WEIGHTS, "DistilBertModel"),
}


def architecture(config: BertConfig) -> Architecture:
    if config.model_type not in ARCHITECTURES:
        raise CheckpointError(
            f"model_type {config.model_type!r} is not implemented yet (available: {', '.join(ARCHITECTURES)})"
        )
    return ARCHITECTURES[config.model_type]


# --- the classes config.json names, per kind of model ------------------------------------------

TASK_CLASS_SUFFIX = {"classification": "ForSequenceClassification", "tagging": "ForTokenClassification"}
PROBLEM_TYPE = {False: "single_label_classification", True: "multi_label_classification"}  # by multi-label
REGRESSION = "regression"  # problem_type of a one-output classifier trained with MSE
REGRESSION_LABELS = ["LABEL_0"]  # the id2label transformers writes for num_labels=1
MLM_PREFIX = {"bert": "cls.predictions.", "roberta": "lm_head.", "distilbert": "vocab_"}  # in weight files
NSP_PREFIX = "cls.seq_relationship."


def task_class(config: BertConfig, kind: str) -> str:
    """BertForSequenceClassification, RobertaForTokenClassification, ..."""
    return architecture(config).hf_class.removesuffix("Model") + TASK_CLASS_SUFFIX[kind]


def pretraining_class(config: BertConfig, next_sentence: bool) -> str:
    """HuggingFace's class for this model: BertForPreTraining, BertForMaskedLM, RobertaForMaskedLM."""
    stem = architecture(config).hf_class.removesuffix("Model")
    return stem + ("ForPreTraining" if next_sentence else "ForMaskedLM")
