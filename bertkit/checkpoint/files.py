"""HuggingFace-format model directories on disk: the files, read and written.

A directory holds `config.json` (read by `BertConfig`), the weights (`model.safetensors`, a
sharded `model.safetensors.index.json`, or `pytorch_model.bin`) and the tokenizer files.
Weights are read as HuggingFace names them (`names.py` translates) and written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from bertkit.checkpoint import from_tensorflow
from bertkit.checkpoint.names import BACKBONE, architecture
from bertkit.errors import CheckpointError, ModelNotFoundError
from bertkit.modeling.config import BertConfig
from bertkit.tf_files.layout import model_layout

SAFETENSORS, SAFETENSORS_INDEX, PYTORCH_BIN = "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"
TOKENIZER_FILES = (
    "vocab.txt", "vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json",
)  # fmt: skip
VOCABULARY_FILES = ("vocab.txt", "vocab.json", "merges.txt")


def read_config(directory: Path) -> BertConfig:
    """config.json; or, for a TF Hub SavedModel or Google checkpoint, what it implies (from_tensorflow.py)."""
    if model_layout(directory):
        return from_tensorflow.read_tensorflow_config(directory)
    return BertConfig.from_json_file(directory / "config.json")


def weights_file(directory: Path) -> Path:
    """The weights of a model directory: a file, or the directory itself for a TensorFlow model."""
    if model_layout(directory):
        return directory
    for name in (SAFETENSORS, SAFETENSORS_INDEX, PYTORCH_BIN):
        if (directory / name).is_file():
            return directory / name
    raise ModelNotFoundError(f"{directory}: no {SAFETENSORS} or {PYTORCH_BIN} in the model directory")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """HuggingFace name -> tensor; safetensors files (and TensorFlow's) are memory-mapped, not read."""
    if path.is_dir():
        return from_tensorflow.read_tensorflow_weights(path)
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
        with warnings.catch_warnings():  # "Detected pickle protocol 4 ...": the error below says what matters
            warnings.simplefilter("ignore", UserWarning)
            state = _torch_load(path)
    except pickle.UnpicklingError as e:
        reason = _unpickling_reason(str(e))
        if "GLOBAL" in reason:  # it names code or a class to build: never loaded
            raise CheckpointError(f"{path}: refused, not a plain weights file ({reason})") from None
        raise CheckpointError(f"{path}: corrupt, or not a PyTorch weights file ({reason})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated PyTorch file ({e})") from None
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"{path}: expected a dictionary of tensors (a state dict)")
    return state


def _torch_load(path: Path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):  # the legacy (pre-zip) format cannot be memory-mapped
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def _unpickling_reason(message: str) -> str:
    """What PyTorch's weights-only unpickler found, in one sentence, without its advice (to load
    with weights_only=False, which would run the file's code) or terminal escapes.

    >>> _unpickling_reason("Weights only load failed. Re-running ...\\nWeightsUnpickler error: \\n\\nUnsupported operand 103\\n")
    'Unsupported operand 103'
    >>> _unpickling_reason("...\\n\\tWeightsUnpickler error: Unsupported global: GLOBAL print was not allowed. Please use x")
    'Unsupported global: GLOBAL print was not allowed'
    >>> _unpickling_reason("Weights only load failed.\\n\\n\\nTrying to load unsupported GLOBAL posix.system whose module is blocked.")
    'Trying to load unsupported GLOBAL posix.system whose module is blocked'
    """
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    if "WeightsUnpickler error:" in message:
        after = message.split("WeightsUnpickler error:", 1)[1].strip()
    else:
        after = next((line for line in message.splitlines() if "GLOBAL" in line), "")
    first = after.strip().splitlines()[0] if after.strip() else "not a weights-only pickle"
    return first.strip().split(". ")[0].rstrip(".")


def save(module: nn.Module, config: BertConfig, directory: str | Path, source: Path | None = None) -> Path:
    """Write `module` as a HuggingFace directory: model.safetensors, config.json, tokenizer files.

    A bare backbone is written as HuggingFace's bare model (`AutoModel` loads it); a task model
    with its heads under their HuggingFace names. Tokenizer files are copied from `source`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arch = architecture(config)
    names = arch.weights
    state = module.state_dict()
    bare = not any(k.startswith(BACKBONE) for k in state)
    skip = {name.removeprefix(BACKBONE) if bare else name for name in names.tied}
    tensors = {
        names.to_theirs(BACKBONE + k if bare else k, bare=bare): t.detach().cpu()
        for k, t in state.items()
        if k not in skip
    }
    write_safetensors(tensors, directory / SAFETENSORS, metadata={"format": "pt"})
    if bare:
        config = dataclasses.replace(config, extra={**config.extra, "architectures": [arch.hf_class]})
    config.to_json_file(directory / "config.json")
    if source is not None and source.resolve() != directory.resolve():
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, directory / name)
    return directory


# safetensors' names for torch's dtypes
_SAFETENSORS_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """A safetensors file, written one tensor at a time: a tensor that is a view (a transposed
    TensorFlow kernel, a slice) is made contiguous only while it is written, so saving costs one
    tensor's copy, not a second copy of the model (safetensors' `save_file` wants them all
    contiguous at once). The format: an 8-byte little-endian header length, the JSON header
    (name -> dtype, shape, byte range; padded with spaces to 8 bytes), then the tensors' bytes."""
    header, offset = {}, 0
    for name, tensor in tensors.items():
        size = tensor.numel() * tensor.element_size()
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    if metadata:
        header = {"__metadata__": metadata, **header}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for tensor in tensors.values():
            f.write(tensor.contiguous().view(-1).view(torch.uint8).numpy().data)


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


def check_same_vocabulary(teacher_dir: Path, student_dir: Path, teacher: BertConfig, student: BertConfig) -> None:
    """Refuse a pair whose token ids mean different things: their distributions cannot be compared."""
    files = [name for name in VOCABULARY_FILES if (teacher_dir / name).is_file()]
    differs = teacher.vocab_size != student.vocab_size or any(
        not (student_dir / name).is_file() or (student_dir / name).read_bytes() != (teacher_dir / name).read_bytes()
        for name in files
    )
    if differs:
        raise CheckpointError(
            f"{student_dir}: the student's vocabulary ({student.vocab_size} tokens) differs from the teacher's "
            f"in {teacher_dir} ({teacher.vocab_size} tokens); a student must share its teacher's vocabulary"
        )
