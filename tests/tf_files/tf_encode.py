"""Test-side writers of the formats bertkit.tf_files reads: protobuf fields, tables, bundles.

They build the files TensorFlow would not write (an unknown dtype, a compressed block, a
big-endian header), and the values that the wire decoder's round-trip test decodes.
"""

from __future__ import annotations

from pathlib import Path

import google_crc32c

from bertkit.tf_files.crc import mask


def varint(value: int) -> bytes:
    """Unsigned varint; a negative int as its 64-bit two's complement (10 bytes), as protobuf."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes | str, wire_type: int | None = None) -> bytes:
    """One field: ints as varints (or fixed64 / fixed32 with wire_type 1 / 5), bytes and str
    (and nested messages, as bytes) length-delimited."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    wire_type = wire_type or 0
    tag = varint(number << 3 | wire_type)
    if wire_type == 1:
        return tag + value.to_bytes(8, "little")
    if wire_type == 5:
        return tag + value.to_bytes(4, "little")
    return tag + varint(value)


def bundle_entry(
    dtype: int, shape: tuple[int, ...], offset: int, data: bytes, crc: int | None = None, slices=()
) -> bytes:
    """A BundleEntryProto for `data` stored at `offset`, with its masked CRC32C (or `crc`)."""
    message = field(1, dtype) + field(2, b"".join(field(2, field(1, size)) for size in shape))
    message += field(3, 0) + field(4, offset) + field(5, len(data))
    message += field(6, mask(google_crc32c.value(data)) if crc is None else crc, wire_type=5)
    for extents in slices:
        message += field(7, b"".join(field(1, field(1, start) + field(2, length)) for start, length in extents))
    return message


def block(entries: list[tuple[bytes, bytes]], compression: int = 0) -> bytes:
    """A table block (entries prefix-compressed, a restart every 16) with its 5-byte trailer."""
    body, restarts, previous = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % 16:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(body))
        body += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        previous = key
    restarts = restarts or [0]
    body += b"".join(r.to_bytes(4, "little") for r in restarts) + len(restarts).to_bytes(4, "little")
    crc = mask(google_crc32c.extend(google_crc32c.value(bytes(body)), bytes([compression])))
    return bytes(body) + bytes([compression]) + crc.to_bytes(4, "little")


def table(entries: list[tuple[bytes, bytes]], compression: int = 0) -> bytes:
    """A whole table: one data block, an empty metaindex, the index, the 48-byte footer."""
    data = block(sorted(entries), compression)
    metaindex = block([])
    handle = varint(0) + varint(len(data) - 5)
    index = block([(max(key for key, _ in entries) if entries else b"", handle)])
    footer = (
        varint(len(data)) + varint(len(metaindex) - 5) + varint(len(data) + len(metaindex)) + varint(len(index) - 5)
    )
    footer = footer.ljust(40, b"\0") + (0xDB4775248B80FB57).to_bytes(8, "little")
    return data + metaindex + index + footer


def string_tensor(values: list[bytes]) -> tuple[bytes, int]:
    """A DT_STRING tensor's bytes (varint lengths, their checksum, the values) and its entry's CRC."""
    as_uint32 = b"".join(len(value).to_bytes(4, "little") for value in values)
    checksum = mask(google_crc32c.value(as_uint32)).to_bytes(4, "little")
    body = b"".join(values)
    crc = mask(google_crc32c.value(as_uint32 + checksum + body))
    return b"".join(varint(len(value)) for value in values) + checksum + body, crc


def write_bundle(prefix: Path, tensors: dict[str, tuple], header: bytes | None = None) -> None:
    """A one-shard checkpoint of `name -> (dtype code, shape, bytes[, entry crc])`."""
    data, entries = b"", [(b"", field(1, 1) if header is None else header)]
    for name, (dtype, shape, raw, *crc) in sorted(tensors.items()):
        entries.append((name.encode(), bundle_entry(dtype, shape, len(data), raw, *crc)))
        data += raw
    Path(f"{prefix}.index").write_bytes(table(entries))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)
