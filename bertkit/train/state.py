"""A training run's resumable state on disk: written atomically with a manifest (size, SHA-256)
after it, verified before use, so a run killed at any moment resumes or says why it cannot."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from pathlib import Path

import torch

from bertkit.errors import CheckpointError

STATE_FILE, MANIFEST_FILE = "state.pt", "state.json"


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_replace(temporary: Path, final: Path) -> None:
    with open(temporary, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(temporary, final)  # atomic on POSIX: readers see the old file or the new one


def write_state(directory: Path, state: dict) -> None:
    """Save a resumable state atomically, with a manifest (size, SHA-256) written after it."""
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{STATE_FILE}.tmp"
    torch.save(state, temporary)
    digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
    manifest = {"file": STATE_FILE, "bytes": temporary.stat().st_size, "sha256": digest, "step": state["step"]}
    _fsync_replace(temporary, directory / STATE_FILE)
    temporary_manifest = directory / f".{MANIFEST_FILE}.tmp"
    temporary_manifest.write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    _fsync_replace(temporary_manifest, directory / MANIFEST_FILE)


def read_state(directory: Path) -> dict:
    """A state `write_state` wrote, verified against its manifest; `CheckpointError` otherwise."""
    path, manifest_path = directory / STATE_FILE, directory / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no checkpoint to resume from ({STATE_FILE} missing); run without --resume")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected_bytes, expected_sha = manifest["bytes"], manifest["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"{manifest_path}: missing or unreadable, so {path} cannot be verified (a partial write?); "
            "delete the checkpoint folder to start over"
        ) from None
    data = path.read_bytes()
    if len(data) != expected_bytes or hashlib.sha256(data).hexdigest() != expected_sha:
        raise CheckpointError(
            f"{path}: corrupt or truncated ({len(data)} bytes, manifest says {expected_bytes}, checksum "
            "mismatch); delete the checkpoint folder to start over"
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means the same thing here
        raise CheckpointError(f"{path}: cannot be read ({type(e).__name__}: {e})") from None
