"""CRC32C (Castagnoli) checksums, and LevelDB's *masked* form that TensorFlow's files store.

TensorFlow checks every table block and every tensor with CRC32C, stored masked:
`rotate_right(crc, 15) + 0xa282ead8` (mod 2**32), so that the checksum of bytes that themselves
hold checksums is not degenerate. The checksum is computed in C by `google_crc32c`.
"""

from __future__ import annotations

import google_crc32c

# google_crc32c reads only `bytes`, so a memory-mapped tensor is checksummed through copies of
# this size: small enough to stay in cache, large enough that the copies cost little.
CHUNK = 4 << 20


def crc32c(data: bytes | memoryview, crc: int = 0) -> int:
    """The CRC32C of `data`, continuing from `crc`."""
    if isinstance(data, bytes):
        return google_crc32c.extend(crc, data)
    for start in range(0, len(data), CHUNK):
        crc = google_crc32c.extend(crc, bytes(data[start : start + CHUNK]))
    return crc


def mask(crc: int) -> int:
    """LevelDB's masked CRC: rotate right by 15 bits, add a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
