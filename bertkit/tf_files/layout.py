"""Which TensorFlow BERT a directory holds, told by its files alone (nothing is parsed here).

- "saved_model": a SavedModel (`saved_model.pb`, `variables/`, `assets/`), as TF Hub ships its
  encoders and preprocessing models;
- "google": Google's original release, a TF1 checkpoint (`bert_model.ckpt.index` + `.data-*`)
  with `bert_config.json` and `vocab.txt`;
- None: anything else. A directory with a HuggingFace `config.json` is HuggingFace's, whatever
  else it holds (a converted model may keep its TensorFlow files beside it).

    >>> from pathlib import Path
    >>> model_layout(Path("/nonexistent"))
"""

from __future__ import annotations

from pathlib import Path

SAVED_MODEL_FILE = "saved_model.pb"
GOOGLE_CONFIG_FILE = "bert_config.json"


def model_layout(directory: Path) -> str | None:
    if (directory / "config.json").is_file():
        return None
    if (directory / SAVED_MODEL_FILE).is_file():
        return "saved_model"
    if (directory / GOOGLE_CONFIG_FILE).is_file() or any(directory.glob("*.ckpt*.index")):
        return "google"
    return None
