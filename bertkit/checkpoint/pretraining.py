"""Models with pretraining heads on disk (MLM, and NSP for BERT).

A pretraining checkpoint is a HuggingFace directory whose `config.json` names
`BertForPreTraining` (MLM + NSP), `BertForMaskedLM` (MLM only), `RobertaForMaskedLM` or
`DistilBertForMaskedLM`, with the heads under HuggingFace's names (`cls.predictions.*`,
`cls.seq_relationship.*`, `lm_head.*`), so `transformers` loads what we write and we load what it writes.

    >>> from bertkit.bundled import default_model_dir
    >>> has_mlm_head(default_model_dir())   # a sentence encoder: no MLM head
    False
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.files import read_config, read_weights, save_atomic, weights_file
from bertkit.checkpoint.names import MLM_PREFIX, NSP_PREFIX, architecture, pretraining_class
from bertkit.checkpoint.weights import empty_weights, load_weights
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.config import BertConfig
from bertkit.modeling.pretraining import PretrainingModel


def _weight_names(directory: Path) -> set[str]:
    return set(read_weights(weights_file(directory)))  # safetensors: mapped, not read


def has_mlm_head(model: str | Path | None) -> bool:
    directory = resolve_model_dir(model)
    prefix = MLM_PREFIX.get(read_config(directory).model_type)
    return prefix is not None and any(name.startswith(prefix) for name in _weight_names(directory))


def build_pretraining(config: BertConfig, next_sentence: bool = True) -> PretrainingModel:
    """A pretraining model with random weights (BERT initialisation)."""
    _check_type(config)
    return PretrainingModel(architecture(config).backbone(config), config, next_sentence)


def load_pretraining(
    model: str | Path | None, next_sentence: bool | None = None, require_heads: bool = False
) -> tuple[PretrainingModel, BertConfig, Path]:
    """A pretraining model from a checkpoint directory (None = the bundled default).

    next_sentence: keep an NSP head (None: when the checkpoint has one). Heads the checkpoint
    lacks start from BERT's initialisation (continued pretraining of a plain encoder), unless
    `require_heads`, where a missing MLM head is an error (fill-mask needs a trained one).
    """
    directory = resolve_model_dir(model)
    config = read_config(directory)
    _check_type(config)
    names = _weight_names(directory)
    if require_heads and not any(n.startswith(MLM_PREFIX[config.model_type]) for n in names):
        raise CheckpointError(
            f"{directory}: this checkpoint has no masked-LM head ({MLM_PREFIX[config.model_type]}*); "
            "use a model saved with its MLM head, e.g. one made by `bertkit pretrain`"
        )
    if next_sentence is None:
        next_sentence = any(n.startswith(NSP_PREFIX) for n in names)
    with empty_weights():
        module = build_pretraining(config, next_sentence)
    load_weights(module, directory, config)
    return module, config, directory


def save_pretraining(module: PretrainingModel, directory: str | Path, source: Path | None = None) -> Path:
    """Write a HuggingFace directory, each file replaced atomically (`save_atomic`)."""
    config = module.config
    extra = {**config.extra, "architectures": [pretraining_class(config, module.nsp is not None)]}
    return save_atomic(module, dataclasses.replace(config, extra=extra), directory, source=source)


def _check_type(config: BertConfig) -> None:
    if config.model_type not in MLM_PREFIX:
        raise InputError(f"pretraining heads exist for {' and '.join(MLM_PREFIX)} models, not {config.model_type!r}")
