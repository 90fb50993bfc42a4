"""bertkit: the BERT family from scratch in PyTorch, with the TF Hub workflow.

    >>> from bertkit import Preprocessor
    >>> pre = Preprocessor.from_pretrained()
    >>> batch = pre(["This is a spam mail"])
    >>> batch["input_word_ids"][0, :8].tolist()
    [101, 2023, 2003, 1037, 12403, 2213, 5653, 102]

Public names are imported lazily so that `import bertkit` stays cheap and one heavy
subsystem (training, serving) is never loaded by another.
"""

import os

from bertkit.errors import BertkitError

# OpenMP worker threads spin this many times waiting for the next parallel region before they
# sleep. Left unset, the GNU OpenMP runtime PyTorch ships with spins little, and a short forward
# pass (one sentence: ~30 parallel products ~50 us apart) pays a thread wake-up at each one:
# the bundled MiniLM's 8-token sentence took 3.2 ms at p50 on 2 cores, 2.6 ms with this (ONNX
# Runtime's own thread pool spins by default). It takes effect only if set before PyTorch is
# first imported; a value already in the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "300000")

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Preprocessor": "bertkit.preprocessing",
    "Encoder": "bertkit.tasks.encoder",
    "BertConfig": "bertkit.modeling.config",
    "load": "bertkit.pipeline",
}

__all__ = ["BertkitError", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bertkit' has no attribute {name!r}")
