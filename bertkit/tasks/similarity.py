"""Similarity of embeddings, by the function a model declares (sentence-transformers'
`similarity_fn_name`): larger is more similar for each, as there.

    cosine      a.b / (|a| |b|)
    dot         a.b
    euclidean   -|a - b|        (a distance, negated)
    manhattan   -sum |a - b|

    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    >>> similarity(a, a).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> [round(float(x), 3) for x in similarity(a[0], a, "euclidean")[0]]
    [-0.0, -2.236]
"""

from __future__ import annotations

import numpy as np
import torch

from bertkit.errors import InputError

FUNCTIONS = ("cosine", "dot", "euclidean", "manhattan")


def similarity(a, b, function: str = "cosine") -> np.ndarray:
    """(N, M) float32: every row of `a` against every row of `b` (a single vector is one row)."""
    if function not in FUNCTIONS:
        raise InputError(f"unknown similarity {function!r}; choose one of {', '.join(FUNCTIONS)}")
    a, b = _rows(a, "a"), _rows(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"vectors of {a.shape[1]} and {b.shape[1]} dimensions cannot be compared")
    if function == "cosine":
        scores = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(b, dim=-1).T
    elif function == "dot":
        scores = a @ b.T
    else:
        scores = -torch.cdist(a, b, p=2.0 if function == "euclidean" else 1.0)
    return scores.numpy()


def _rows(vectors, name: str) -> torch.Tensor:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise InputError(f"{name}: expected vectors (N, dims) or one vector, got shape {array.shape}")
    if not array.flags.writeable:  # a read-only memory map (an index on disk): torch wants its own copy
        array = array.copy()
    return torch.from_numpy(array)
