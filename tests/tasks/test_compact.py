"""bertkit/tasks/compact.py: truncation and quantisation of vectors (parity with
sentence-transformers: tests/parity/test_compact_embeddings.py)."""

from __future__ import annotations

import doctest

import numpy as np

from bertkit.tasks import compact


def test_docstring_examples_run():
    assert doctest.testmod(compact).failed == 0


def test_int8_buckets_span_each_dimensions_range():
    vectors = np.linspace(-1, 1, 256 * 3, dtype=np.float32).reshape(256, 3)
    ranges = compact.calibration_ranges(vectors)
    assert ranges.shape == (2, 3) and ranges.dtype == np.float32
    uint8 = compact.quantize(vectors, "uint8", ranges)
    assert uint8.min() == 0 and uint8.max() >= 254  # the top value lands in 254 or 255 (float32 steps)
    np.testing.assert_array_equal(compact.quantize(vectors, "int8", ranges).astype(int), uint8.astype(int) - 128)
    outside = compact.quantize(np.array([[-5, 0, 5]], dtype=np.float32), "uint8", ranges)
    assert outside[0, 0] == 0 and outside[0, 2] == 255  # clipped


def test_constant_dimension_and_bit_packing():
    vectors = np.array([[1.0] * 9, [1.0] + [-1.0] * 8], dtype=np.float32)
    assert compact.quantize(vectors, "uint8")[:, 0].tolist() == [0, 0]  # no range: bucket 0
    assert compact.quantize(vectors, "ubinary").tolist() == [[255, 128], [128, 0]]  # 9 bits: 2 bytes
    assert compact.quantize(vectors, "binary").tolist() == [[127, 0], [0, -128]]
