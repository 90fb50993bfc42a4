"""Compact vectors: Matryoshka truncation and output quantisation of embeddings.

The same numbers as sentence-transformers' `encode(truncate_dim=k, normalize_embeddings=True)`
and `quantize_embeddings` (checked in tests/parity/test_compact_embeddings.py):

    >>> import numpy as np
    >>> vectors = np.array([[0.6, -0.8, 0.0], [-0.1, 0.2, 0.9]], dtype=np.float32)
    >>> np.round(truncate(vectors, 2, normalize=True), 3)
    array([[ 0.6  , -0.8  ],
           [-0.447,  0.894]], dtype=float32)
    >>> quantize(vectors, "ubinary").tolist()         # bit i of the packed bytes: vector[i] > 0
    [[128], [96]]
    >>> quantize(vectors, "int8").tolist()  # each dimension's range: these vectors' min..max (float32 steps)
    [[127, -128, -128], [-128, 126, 127]]
"""

from __future__ import annotations

import numpy as np

from bertkit.errors import InputError, InputTypeError

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
SCALAR = ("int8", "uint8")  # one byte per dimension, bucketed in a per-dimension range


def check(dimensions: int | None, precision: str, ranges, size: int) -> np.ndarray | None:
    """Validate embed's compact-vector arguments for vectors of `size` dimensions (one line
    each); returns `ranges` as a float32 (2, dims) array, or None."""
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, (int, np.integer)):
            raise InputTypeError(f"dimensions must be an int, not {type(dimensions).__name__}")
        if not 1 <= dimensions <= size:
            raise InputError(f"dimensions must be between 1 and the model's {size}, got {dimensions}")
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if ranges is None:
        return None
    if precision not in SCALAR:
        raise InputError(f"ranges are for precision int8 or uint8, not {precision!r}")
    ranges = np.asarray(ranges, dtype=np.float32)
    expected = (2, size if dimensions is None else dimensions)
    if ranges.shape != expected:
        raise InputError(f"ranges must have shape {expected} (each dimension's min, then max), got {ranges.shape}")
    return ranges


def truncate(vectors: np.ndarray, dimensions: int | None, normalize: bool) -> np.ndarray:
    """The first `dimensions` of each vector (Matryoshka), re-scaled to unit norm when the vectors
    are normalised, so that a dot product stays a cosine. sentence-transformers' own default
    (`truncate_dim` alone) cuts its normalised vectors without re-normalising them; with
    `normalize_embeddings=True` it normalises after cutting, as here."""
    if dimensions is None or dimensions == vectors.shape[1]:
        return vectors
    vectors = np.ascontiguousarray(vectors[:, :dimensions])
    if normalize:  # as torch.nn.functional.normalize: divide by max(norm, 1e-12)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.maximum(norms, 1e-12)
    return vectors


def calibration_ranges(vectors: np.ndarray) -> np.ndarray:
    """(2, dims) float32: each dimension's min and max over `vectors`, the range int8 / uint8
    buckets. Pass the ranges of a representative sample as `ranges=` to quantise every later
    call the same way."""
    return np.stack([vectors.min(axis=0), vectors.max(axis=0)]).astype(np.float32)


def quantize(vectors: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    """(N, D) float32 -> (N, D) int8 / uint8, or (N, ceil(D / 8)) packed bits.

    int8 / uint8: each dimension's range (`ranges`, else these vectors' own min..max) is cut into
    255 equal steps; a value's bucket is floor((value - min) / step), clipped to 0..255, and int8
    shifts it by -128. binary / ubinary: one bit per dimension (value > 0), packed eight to a byte,
    first dimension in the high bit; binary shifts each byte by -128 into int8."""
    if precision == "float32":
        return vectors.astype(np.float32, copy=False)
    if precision in SCALAR:
        if ranges is None:
            if len(vectors) < 2:
                raise InputError(
                    f"{precision} needs ranges= (each dimension's min and max, shape (2, dims)) "
                    "to quantise fewer than 2 vectors; without them the range comes from the vectors themselves"
                )
            ranges = calibration_ranges(vectors)
        starts = ranges[0]
        steps = (ranges[1] - starts) / 255
        steps = np.where(steps == 0, 1, steps)  # a constant dimension: every value in bucket 0
        buckets = np.clip(np.floor((vectors - starts) / steps), 0, 255)
        return buckets.astype(np.uint8) if precision == "uint8" else (buckets - 128).astype(np.int8)
    packed = np.packbits(vectors > 0, axis=-1)  # (N, ceil(D / 8)) uint8
    return packed if precision == "ubinary" else (packed.astype(np.int16) - 128).astype(np.int8)
