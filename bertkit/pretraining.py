"""Models with pretraining heads on disk, and what they are for: fill-mask.

A pretraining checkpoint is a HuggingFace directory whose `config.json` names
`BertForPreTraining` (MLM + NSP), `BertForMaskedLM` (MLM only) or `RobertaForMaskedLM`, with the
heads under HuggingFace's names (`cls.predictions.*`, `cls.seq_relationship.*`, `lm_head.*`), so
`transformers` loads what we write and we load what it writes.

    >>> import bertkit
    >>> from bertkit.pretraining import has_mlm_head
    >>> has_mlm_head(bertkit.bundled.default_model_dir())   # a sentence encoder: no MLM head
    False
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path

import torch

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, InputError
from bertkit.modeling.pretraining import PretrainingModel

_MLM_PREFIX = {"bert": "cls.predictions.", "roberta": "lm_head."}
_NSP_PREFIX = "cls.seq_relationship."


def hf_class(config: BertConfig, next_sentence: bool) -> str:
    """HuggingFace's class for this model: BertForPreTraining, BertForMaskedLM, RobertaForMaskedLM."""
    stem = checkpoint.architecture(config).hf_class.removesuffix("Model")
    return stem + ("ForPreTraining" if next_sentence else "ForMaskedLM")


def _weight_names(directory: Path) -> set[str]:
    return set(checkpoint.read_weights(checkpoint.weights_file(directory)))  # safetensors: mapped, not read


def has_mlm_head(model: str | Path | None) -> bool:
    directory = resolve_model_dir(model)
    config = checkpoint.read_config(directory)
    prefix = _MLM_PREFIX.get(config.model_type)
    return prefix is not None and any(name.startswith(prefix) for name in _weight_names(directory))


def build(config: BertConfig, next_sentence: bool = True) -> PretrainingModel:
    """A pretraining model with random weights (BERT initialisation)."""
    _check_type(config)
    return PretrainingModel(checkpoint.architecture(config).backbone(config), config, next_sentence)


def load(
    model: str | Path | None, next_sentence: bool | None = None, require_heads: bool = False
) -> tuple[PretrainingModel, BertConfig, Path]:
    """A pretraining model from a checkpoint directory (None = the bundled default).

    next_sentence: keep an NSP head (None: when the checkpoint has one). Heads the checkpoint
    lacks start from BERT's initialisation (continued pretraining of a plain encoder), unless
    `require_heads`, where a missing MLM head is an error (fill-mask needs a trained one).
    """
    directory = resolve_model_dir(model)
    config = checkpoint.read_config(directory)
    _check_type(config)
    names = _weight_names(directory)
    if require_heads and not any(n.startswith(_MLM_PREFIX[config.model_type]) for n in names):
        raise CheckpointError(
            f"{directory}: this checkpoint has no masked-LM head ({_MLM_PREFIX[config.model_type]}*); "
            "use a model saved with its MLM head, e.g. one made by `bertkit pretrain`"
        )
    if next_sentence is None:
        next_sentence = any(n.startswith(_NSP_PREFIX) for n in names)
    with torch.device("meta"):  # no memory and no random init for what the file fills anyway
        module = PretrainingModel(checkpoint.architecture(config).backbone(config), config, next_sentence)
    checkpoint.load_weights(module, directory, config)
    return module, config, directory


def save(module: PretrainingModel, directory: str | Path, source: Path | None = None) -> Path:
    """Write a HuggingFace directory, each file replaced atomically (config.json last).

    Files go to a temporary folder beside them and are renamed into place, so a reader (or a
    crash) never sees a half-written weights file.
    """
    config = module.config
    extra = {**config.extra, "architectures": [hf_class(config, module.nsp is not None)]}
    config = dataclasses.replace(config, extra=extra)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory))
    try:
        checkpoint.save(module, config, staging, source=source)
        for path in sorted(staging.iterdir(), key=lambda p: p.name == "config.json"):
            with open(path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _check_type(config: BertConfig) -> None:
    if config.model_type not in _MLM_PREFIX:
        raise InputError(
            f"pretraining heads exist for {' and '.join(_MLM_PREFIX)} models, not {config.model_type!r}"
        )
