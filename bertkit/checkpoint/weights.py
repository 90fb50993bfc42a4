"""Weights into modules: build on the meta device, fill from a checkpoint, initialise the rest.

Missing backbone weights are an error; missing head or pooler weights start from BERT's
initialisation and are reported by name, as are unknown ones.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import torch
from torch import nn

from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.files import read_config, read_weights, weights_file
from bertkit.checkpoint.names import BACKBONE, architecture
from bertkit.errors import CheckpointError
from bertkit.modeling.bert import init_weights
from bertkit.modeling.config import BertConfig

log = logging.getLogger("bertkit")


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


def load_weights(
    module: nn.Module, directory: Path, config: BertConfig, theirs: dict[str, torch.Tensor] | None = None
) -> None:
    """Fill `module` (a backbone, or a task model with `.backbone` and heads) from `directory`.

    Shapes must agree with the config. Missing backbone weights are an error; missing head or
    pooler weights are initialised as in BERT and reported by name, as are unknown ones. Known
    heads (or a pooler) the model does not have, as when a pretraining checkpoint is loaded as
    an encoder, are expected: logged at INFO only, as transformers says nothing. `theirs`: the
    directory's weights when the caller has read them already.
    """
    names = architecture(config).weights
    path = weights_file(directory)
    config_file = "config.json" if path.is_file() else "its config"  # a TensorFlow model's: bert_config.json or shapes
    if theirs is None:  # a caller that has read them already passes them: one mapping of the file
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
            f"{config_file} says {config.num_hidden_layers} layers of size {config.hidden_size}"
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
