"""The sorted string table a checkpoint's `.index` file is (LevelDB's table, as TensorFlow writes it).

A table maps byte-string keys, in sorted order, to byte-string values:

    data block 0 | data block 1 | ... | metaindex block | index block | footer (48 bytes)

- **footer**: two *block handles* (varint offset, varint size) -- the metaindex block's, then the
  index block's -- zero-padded to 40 bytes, then the 8-byte magic number 0xdb4775248b80fb57
  (little-endian).
- **block**: entries, then an array of uint32 *restart points* (offsets of entries stored with a
  full key) and their uint32 count. Each entry is `varint shared, varint unshared, varint
  value_length, key[shared:], value`: a key keeps the first `shared` bytes of the previous key
  (prefix compression). Every block is followed by a 5-byte trailer: a compression type (0 =
  none; 1 = Snappy, which TensorFlow never uses for checkpoints) and the *masked* CRC32C of the
  block's bytes plus that type byte (little-endian).
- **index block**: one entry per data block, whose key is >= the block's last key and < the next
  block's first, and whose value is that data block's handle. The metaindex block is empty.

TensorFlow writes data blocks of about 256 KiB (LevelDB's default is 4 KiB), so a checkpoint of a
few hundred tensors has a single data block. Masked CRCs: see crc.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bertkit.errors import CheckpointError, WireFormatError
from bertkit.tf_files.crc import crc32c, mask
from bertkit.tf_files.protobuf import varint

MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
TRAILER_SIZE = 5  # compression type, masked CRC32C
COMPRESSION = {1: "Snappy"}  # LevelDB's codes; 0 is none


def read_table(path: str | Path) -> Iterator[tuple[bytes, memoryview]]:
    """Every (key, value) of the table in `path`, in key order; one-line `CheckpointError`s."""
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    if len(data) < FOOTER_SIZE or int.from_bytes(data[-8:], "little") != MAGIC:
        raise CheckpointError(f"{path}: not a TensorFlow table (no table magic number at the end)")
    try:
        pos = len(data) - FOOTER_SIZE
        _metaindex, pos = _handle(data, pos)
        index, _ = _handle(data, pos)
        for _, value in _entries(_block(data, *index, path), path):
            yield from _entries(_block(data, *_handle(value, 0)[0], path), path)
    except WireFormatError as error:
        raise CheckpointError(f"{path}: corrupt table ({error})") from None


def _handle(data: memoryview, pos: int) -> tuple[tuple[int, int], int]:
    """A block handle (offset, size) at `pos`, and the position after it."""
    offset, pos = varint(data, pos)
    size, pos = varint(data, pos)
    return (offset, size), pos


def _block(data: memoryview, offset: int, size: int, path: Path) -> memoryview:
    """The checked contents of the block at `offset`: its trailer's CRC matches, uncompressed."""
    end = offset + size + TRAILER_SIZE
    if end > len(data) - FOOTER_SIZE:
        raise CheckpointError(f"{path}: a block at bytes {offset}..{end} runs past the end of the table")
    contents, kind = data[offset : offset + size], data[offset + size]
    stored = int.from_bytes(data[offset + size + 1 : end], "little")
    if mask(crc32c(bytes([kind]), crc32c(contents))) != stored:
        raise CheckpointError(f"{path}: CRC32C mismatch in the table block at byte {offset} (corrupt file)")
    if kind != 0:
        name = COMPRESSION.get(kind, f"unknown compression {kind}")
        raise CheckpointError(f"{path}: a table block is compressed ({name}); only uncompressed tables are read")
    return contents


def _entries(block: memoryview, path: Path) -> Iterator[tuple[bytes, memoryview]]:
    """The (key, value) entries of one block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise CheckpointError(f"{path}: a table block of {len(block)} bytes (corrupt file)")
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * restarts
    if end < 0:
        raise CheckpointError(f"{path}: a table block claims {restarts} restart points (corrupt file)")
    key, pos = b"", 0
    while pos < end:
        shared, pos = varint(block, pos)
        unshared, pos = varint(block, pos)
        length, pos = varint(block, pos)
        if shared > len(key) or pos + unshared + length > end:
            raise CheckpointError(f"{path}: a table entry at byte {pos} runs past its block (corrupt file)")
        key = key[:shared] + bytes(block[pos : pos + unshared])
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length
