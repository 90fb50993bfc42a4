"""HuggingFace-format model directories, in and out.

A directory holds `config.json` (read by `BertConfig`), the weights (`model.safetensors`, a
sharded `model.safetensors.index.json`, or `pytorch_model.bin`) and the tokenizer files.
Weight names are translated between HuggingFace's and ours in ONE table per architecture
(`BERT_WEIGHTS` below); nothing else in bertkit knows HuggingFace's names.

Naming convention on our side: a bare backbone (`BertModel`) has its own parameter names
(`embeddings.word.weight`, ...); a task model holds its backbone as the attribute `backbone`
and its heads beside it (`backbone.embeddings.word.weight`, `mlm.dense.weight`, ...). A head
joins by appending `(our name, HuggingFace name)` rows to the architecture's `heads` list.

    >>> from bertkit.checkpoint import BERT_WEIGHTS
    >>> BERT_WEIGHTS.to_ours("bert.encoder.layer.3.attention.self.query.weight")
    'backbone.transformer.layers.3.attention.query.weight'
    >>> BERT_WEIGHTS.to_theirs("backbone.transformer.layers.3.output_norm.bias", bare=True)
    'encoder.layer.3.output.LayerNorm.bias'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from bertkit.bundled import resolve_model_dir
from bertkit.config import BertConfig
from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.bert import BertModel, init_weights
from bertkit.modeling.distilbert import DistilBertModel
from bertkit.modeling.roberta import RobertaModel

log = logging.getLogger("bertkit")

BACKBONE = "backbone."  # the attribute under which task models hold their backbone
SAFETENSORS, SAFETENSORS_INDEX, PYTORCH_BIN = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"
TOKENIZER_FILES = (
    "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json",
)  # fmt: skip


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
            f"model_type {config.model_type!r} is not implemented yet "
            f"(available: {', '.join(ARCHITECTURES)})"
        )
    return ARCHITECTURES[config.model_type]


# --- reading --------------------------------------------------------------------------------


def read_config(directory: Path) -> BertConfig:
    return BertConfig.from_json_file(directory / "config.json")


def weights_file(directory: Path) -> Path:
    for name in (SAFETENSORS, SAFETENSORS_INDEX, PYTORCH_BIN):
        if (directory / name).is_file():
            return directory / name
    raise ModelNotFoundError(f"{directory}: no {SAFETENSORS} or {PYTORCH_BIN} in the model directory")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """HuggingFace name -> tensor; safetensors files are memory-mapped, not read into memory."""
    if path.name == SAFETENSORS_INDEX:
        try:
            shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{path}: not a safetensors index ({e!r})") from None
        return {name: t for shard in shards for name, t in read_weights(path.parent / shard).items()}
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    return _read_pytorch_bin(path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ModelNotFoundError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework="pt") as f:  # tensors stay backed by the mapping
            return {name: f.get_tensor(name) for name in f.keys()}
    except SafetensorError as e:
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({e})") from None


def _read_pytorch_bin(path: Path) -> dict[str, torch.Tensor]:
    # weights_only=True: unpickling may only rebuild tensors, so a checkpoint can never run code.
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as e:
            if "mmap" not in str(e):  # the legacy (pre-zip) format cannot be memory-mapped
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first_line = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: refused, not a plain weights file ({first_line})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated PyTorch file ({e})") from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"{path}: expected a dictionary of tensors (a state dict)")
    return state


def load_backbone(model: str | Path | None) -> tuple[nn.Module, BertConfig, Path]:
    """The backbone of a checkpoint directory (None = the bundled default), weights loaded."""
    directory = resolve_model_dir(model)
    config = read_config(directory)
    with empty_weights():
        backbone = architecture(config).backbone(config)
    load_weights(backbone, directory, config)
    return backbone, config, directory


@contextlib.contextmanager
def empty_weights():
    """Build modules on the meta device: no memory, no random init for what a checkpoint fills.

    Also skips `nn.init.normal_` meanwhile (nn.Embedding calls it when built): on a meta tensor
    it computes nothing, yet imports torch._dynamo, which took 3-4 s of a 4 s bert-base load.
    """
    normal_ = nn.init.normal_
    nn.init.normal_ = lambda tensor, *args, **kwargs: tensor
    try:
        with torch.device("meta"):
            yield
    finally:
        nn.init.normal_ = normal_


def load_weights(module: nn.Module, directory: Path, config: BertConfig) -> None:
    """Fill `module` (a backbone, or a task model with `.backbone` and heads) from `directory`.

    Shapes must agree with the config. Missing backbone weights are an error; missing head or
    pooler weights are initialised as in BERT and reported by name, as are unknown ones. Known
    heads (or a pooler) the model does not have, as when a pretraining checkpoint is loaded as
    an encoder, are expected: logged at INFO only, as transformers says nothing.
    """
    names = architecture(config).weights
    path = weights_file(directory)
    theirs = read_weights(path)

    bare = not any(k.startswith(BACKBONE) for k in module.state_dict())
    target = {k: v for k, v in module.state_dict(keep_vars=True).items()}
    state, unused, not_needed, their_name = {}, [], [], {}
    for name, tensor in theirs.items():
        ours = full = names.to_ours(name)
        if ours is not None and bare:
            ours = ours.removeprefix(BACKBONE) if ours.startswith(BACKBONE) else None
        if ours in target:
            state[ours], their_name[ours] = tensor, name
        elif _is_optional(full):  # a head or pooler this model does without (MLM head, encoder)
            not_needed.append(name)
        elif not names.is_ignored(name):
            unused.append(name)

    for ours, tensor in state.items():
        expected = target[ours]
        if tuple(tensor.shape) != tuple(expected.shape):
            raise CheckpointError(
                f"{path}: weight {their_name[ours]} has shape {tuple(tensor.shape)} but config.json "
                f"implies {tuple(expected.shape)}; the config and the weights disagree"
            )
        if tensor.is_floating_point():
            state[ours] = tensor.to(expected.dtype)  # no copy when the dtypes already agree

    local = (lambda name: name.removeprefix(BACKBONE)) if bare else (lambda name: name)
    tied = {local(k): local(v) for k, v in names.tied.items() if local(k) in target}
    missing = [k for k in target if k not in state and k not in tied]
    # Named as in the file's own convention (HuggingFace's bare model), which its owner knows.
    core = [names.to_theirs(k if not bare else BACKBONE + k, bare=True) for k in missing if _is_core(k, bare)]
    if not state:
        raise CheckpointError(f"{path}: no weight matches a {config.model_type} model")
    if core:
        shown = ", ".join(core[:4]) + (f" and {len(core) - 4} more" if len(core) > 4 else "")
        raise CheckpointError(
            f"{path}: lacks {len(core)} weights the config needs ({shown}); "
            f"config.json says {config.num_hidden_layers} layers of size {config.hidden_size}"
        )
    if missing:
        log.warning("%s: initialised randomly, not in the checkpoint: %s", path, ", ".join(missing))
    if unused:
        log.warning("%s: not used by this model: %s", path, ", ".join(unused))
    if not_needed:  # expected, as in transformers: say it only to those who ask
        log.info("%s: heads (or pooler) this model does not use: %s", path, ", ".join(not_needed))

    module.load_state_dict(state, strict=False, assign=True)
    _materialise(module, config)
    for name, source in tied.items():  # load_state_dict(assign=True) replaced the shared tensor
        _set_parameter(module, name, module.get_parameter(source))


def _is_optional(name: str | None) -> bool:
    """Our full name of a head or the pooler: parts a model may have or not."""
    return name is not None and (not name.startswith(BACKBONE) or name.startswith(BACKBONE + "pooler."))


def _is_core(name: str, bare: bool) -> bool:
    """Backbone weights other than the pooler must come from the checkpoint."""
    inside = name if bare else name.removeprefix(BACKBONE) if name.startswith(BACKBONE) else None
    return inside is not None and not inside.startswith("pooler.")


def _materialise(module: nn.Module, config: BertConfig) -> None:
    """Give parameters the checkpoint did not fill (still on the meta device) a BERT init."""
    for sub in module.modules():
        own = list(sub.parameters(recurse=False)) + list(sub.buffers(recurse=False))
        if any(t.is_meta for t in own):
            sub.to_empty(device="cpu", recurse=False)
            init_weights(sub, config)
            if not isinstance(sub, (nn.Linear, nn.Embedding, nn.LayerNorm)):
                for t in sub.parameters(recurse=False):
                    nn.init.zeros_(t)  # e.g. an output bias held as a bare parameter


def _set_parameter(module: nn.Module, name: str, parameter: nn.Parameter) -> None:
    owner, _, attribute = name.rpartition(".")
    setattr(module.get_submodule(owner) if owner else module, attribute, parameter)


# --- writing --------------------------------------------------------------------------------


def save(module: nn.Module, config: BertConfig, directory: str | Path, source: Path | None = None) -> Path:
    """Write `module` as a HuggingFace directory: model.safetensors, config.json, tokenizer files.

    A bare backbone is written as HuggingFace's bare model (`AutoModel` loads it); a task model
    with its heads under their HuggingFace names. Tokenizer files are copied from `source`.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arch = architecture(config)
    names = arch.weights
    state = module.state_dict()
    bare = not any(k.startswith(BACKBONE) for k in state)
    skip = {name.removeprefix(BACKBONE) if bare else name for name in names.tied}
    tensors = {
        names.to_theirs(BACKBONE + k if bare else k, bare=bare): t.detach().cpu().contiguous()
        for k, t in state.items()
        if k not in skip
    }
    save_file(tensors, str(directory / SAFETENSORS), metadata={"format": "pt"})
    if bare:
        config = dataclasses.replace(config, extra={**config.extra, "architectures": [arch.hf_class]})
    config.to_json_file(directory / "config.json")
    if source is not None and source.resolve() != directory.resolve():
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, directory / name)
    return directory


def save_atomic(module: nn.Module, config: BertConfig, directory: str | Path, source: Path | None = None) -> Path:
    """`save`, each file replaced atomically (config.json last).

    Files go to a temporary folder beside them and are renamed into place, so a reader (or a
    crash) never sees a half-written weights file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory))
    try:
        save(module, config, staging, source=source)
        for path in sorted(staging.iterdir(), key=lambda p: p.name == "config.json"):
            with open(path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory
