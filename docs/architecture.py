"""Draws docs/architecture.png: bertkit's layers as the import contract in pyproject.toml states them.

    python docs/architecture.py          # rewrites docs/architecture.png

The boxes are read from `[tool.importlinter]` (the contract CI checks with `lint-imports`), so
the picture cannot drift from the rule: a layer imports only the layers drawn below it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import tomllib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# What each package holds, in a few words (the page explains each).
ROLES = {
    "cli": "one module per `bertkit` command",
    "serve": "HTTP app, micro-batching",
    "bench": "`bertkit bench` harness",
    "pipeline": "bertkit.load(): embed, predict, fill_mask",
    "train": "one loop; finetune, pretrain, distill",
    "inference": "FastEncoder: packed kernels, fused C layer",
    "tasks": "Encoder, prediction, fill-mask",
    "checkpoint": "HuggingFace and TensorFlow names; load / save / convert",
    "modeling": "config, layers, BERT / RoBERTa / DistilBERT, heads",
    "preprocessing": "Preprocessor: text -> input dict, batches",
    "data": "the bucketer, readers, masking, corpora, shards",
    "text": "normalisers, WordPiece, byte-level BPE, packing",
    "bundled": "where the default model lives",
    "tf_files": "TensorFlow checkpoints, SavedModels: read without TF",
    "errors": "BertkitError, the one error family",
}


def layers() -> list[list[str]]:
    """Top to bottom, each layer's packages (short names)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = config["tool"]["importlinter"]["contracts"][0]
    return [[name.strip().removeprefix("bertkit.") for name in layer.split("|")] for layer in contract["layers"]]


def draw(path: Path) -> Path:
    rows = layers()
    figure, axes = plt.subplots(figsize=(10, 0.72 * len(rows) + 0.6))
    axes.set_xlim(0, 10)
    axes.set_ylim(-0.2, len(rows))
    axes.axis("off")
    for depth, row in enumerate(rows):
        y = len(rows) - 1 - depth
        width = 9.6 / len(row)
        for k, name in enumerate(row):
            x = 0.2 + k * width
            axes.add_patch(
                FancyBboxPatch(
                    (x + 0.05, y + 0.12),
                    width - 0.1,
                    0.66,
                    boxstyle="round,pad=0.02",
                    facecolor=plt.cm.Blues(0.25 + 0.5 * depth / len(rows)),
                    edgecolor="#2b4a6f",
                )
            )
            axes.text(x + width / 2, y + 0.56, name, ha="center", va="center", fontsize=11, weight="bold")
            axes.text(x + width / 2, y + 0.3, ROLES.get(name, ""), ha="center", va="center", fontsize=7.5)
    axes.annotate(
        "", xy=(9.93, 0.1), xytext=(9.93, len(rows) - 0.2), arrowprops={"arrowstyle": "->", "color": "#555555"}
    )
    axes.set_title("bertkit: each layer imports only the layers below it (checked by lint-imports)", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


if __name__ == "__main__":
    print(draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "architecture.png"))
