"""Protocol Buffers' wire format, and the few TensorFlow messages bertkit reads, without `protobuf`.

A serialised message is a flat run of fields, each a varint *tag* (`field_number << 3 |
wire_type`) and a value whose encoding the wire type gives:

    0 varint            7 bits a byte, low groups first, high bit set on all but the last byte
                        (int32/int64/uint*/bool/enum; a negative int is 10 bytes of two's complement)
    1 64-bit            8 bytes little-endian (fixed64, double)
    2 length-delimited  a varint length, then that many bytes (string, bytes, a nested message,
                        a packed repeated field)
    5 32-bit            4 bytes little-endian (fixed32, float)

Wire types 3 and 4 (groups) are obsolete and no TensorFlow message uses them. A field may
repeat; for a singular field the last value wins. Fields that are absent hold their default
(0, "", empty); fields we do not know are skipped, which is what lets old readers read new files.

`fields(data)` decodes one level; the message layouts below (field numbers from TensorFlow's
public .proto files: tensor_bundle.proto, trackable_object_graph.proto, saved_model.proto,
meta_graph.proto, saved_object_graph.proto, and tf_keras' saved_metadata.proto) each read
the fields they need into a dataclass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bertkit.errors import CheckpointError, WireFormatError

Value = int | memoryview
T = TypeVar("T")

# TensorFlow's DataType enum (types.proto) -> numpy-style name; codes + 100 are reference types.
DATA_TYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string"}
DATA_TYPES |= {8: "complex64", 9: "int64", 10: "bool", 14: "bfloat16", 17: "uint16", 18: "complex128"}
DATA_TYPES |= {19: "float16", 20: "resource", 21: "variant", 22: "uint32", 23: "uint64"}


def varint(data: memoryview | bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos`, and the position after it."""
    result = shift = 0
    while shift < 70:
        if pos >= len(data):
            raise WireFormatError("a varint runs past the end of the data")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
    raise WireFormatError(f"a varint longer than 10 bytes ends at byte {pos}")


def fields(data: memoryview | bytes) -> dict[int, list[Value]]:
    """Every field of one message: number -> its values in order (ints, or memoryviews of bytes)."""
    data = memoryview(data)
    found: dict[int, list[Value]] = {}
    pos = 0
    while pos < len(data):
        tag, pos = varint(data, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise WireFormatError(f"field number 0 at byte {pos}")
        if wire_type == 0:
            value, pos = varint(data, pos)
        elif wire_type in (1, 5):
            width = 8 if wire_type == 1 else 4
            if pos + width > len(data):
                raise WireFormatError(f"field {number}: a {width * 8}-bit value runs past the end")
            value = int.from_bytes(data[pos : pos + width], "little")
            pos += width
        elif wire_type == 2:
            length, pos = varint(data, pos)
            if pos + length > len(data):
                raise WireFormatError(f"field {number}: {length} bytes announced, {len(data) - pos} left")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise WireFormatError(f"field {number} has wire type {wire_type} (groups or invalid)")
        found.setdefault(number, []).append(value)
    return found


def parse(reader: Callable[[memoryview | bytes], T], data: memoryview | bytes, where: str) -> T:
    """`reader(data)`, with any decoding error reported as one line naming `where` (file, key)."""
    try:
        return reader(data)
    except (WireFormatError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"{where}: not a valid {reader.__name__.removeprefix('read_')} message ({error})"
        ) from None


# -- getters: a field's last value (singular) or all values (repeated), typed -------------------


def _int(found: dict, number: int, signed: bool = False) -> int:
    value = found.get(number, [0])[-1]
    if not isinstance(value, int):
        raise WireFormatError(f"field {number} should be a number")
    return value - (1 << 64) if signed and value >= 1 << 63 else value


def _bytes(found: dict, number: int) -> bytes:
    value = found.get(number, [b""])[-1]
    if isinstance(value, int):
        raise WireFormatError(f"field {number} should be length-delimited")
    return bytes(value)


def _str(found: dict, number: int) -> str:
    return _bytes(found, number).decode("utf-8")


def _messages(found: dict, number: int, reader: Callable[[memoryview], T]) -> list[T]:
    values = found.get(number, [])
    if any(isinstance(value, int) for value in values):
        raise WireFormatError(f"field {number} should hold messages")
    return [reader(value) for value in values]


def _message(found: dict, number: int) -> dict[int, list[Value]]:
    return fields(found[number][-1]) if number in found else {}


# -- tensor_bundle.proto: a checkpoint's .index --------------------------------------------------


@dataclass(frozen=True)
class BundleHeader:
    """The entry under the empty key: how many data files, their byte order, the format version."""

    num_shards: int
    little_endian: bool
    version: int  # VersionDef.producer


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives: dtype ("float32", ...), shape, data file, byte range, checksum."""

    dtype: str
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked CRC32C of the bytes in the data file (see bundle.py)
    slices: tuple[tuple[tuple[int, int | None], ...], ...]  # (start, length or None=all) per dim


def read_bundle_header(data: memoryview | bytes) -> BundleHeader:
    found = fields(data)
    version = _int(_message(found, 3), 1)
    return BundleHeader(num_shards=_int(found, 1), little_endian=_int(found, 2) == 0, version=version)


def read_tensor_shape(data: memoryview | bytes) -> tuple[int, ...]:
    """TensorShapeProto: dim (2) -> Dim {size (1), name (2)}; -1 is an unknown size."""
    return tuple(_int(dim, 1, signed=True) for dim in _messages(fields(data), 2, fields))


def read_bundle_entry(data: memoryview | bytes) -> BundleEntry:
    found = fields(data)
    code = _int(found, 1)
    slices = tuple(
        tuple(
            (_int(extent, 1, signed=True), _int(extent, 2) if 2 in extent else None)
            for extent in _messages(s, 1, fields)
        )
        for s in _messages(found, 7, fields)
    )
    return BundleEntry(
        dtype=DATA_TYPES.get(code, f"DataType {code}"),
        shape=read_tensor_shape(found[2][-1]) if 2 in found else (),
        shard_id=_int(found, 3),
        offset=_int(found, 4),
        size=_int(found, 5),
        crc32c=_int(found, 6),
        slices=slices,
    )


# -- trackable_object_graph.proto: a TF2 checkpoint's object tree --------------------------------


@dataclass(frozen=True)
class ObjectReference:
    node_id: int
    local_name: str


@dataclass(frozen=True)
class SerializedTensor:
    """One saved value of an object: `name` ("VARIABLE_VALUE"), the variable's TF `full_name`
    ("transformer/layer_0/self_attention/query/kernel"), and its key in the bundle."""

    name: str
    full_name: str
    checkpoint_key: str


@dataclass(frozen=True)
class SlotVariableReference:
    original_variable_node_id: int
    slot_name: str
    slot_variable_node_id: int


@dataclass(frozen=True)
class TrackableObject:
    children: tuple[ObjectReference, ...]
    attributes: tuple[SerializedTensor, ...]
    slot_variables: tuple[SlotVariableReference, ...]


def read_object_reference(data: memoryview | bytes) -> ObjectReference:
    found = fields(data)
    return ObjectReference(node_id=_int(found, 1), local_name=_str(found, 2))


def read_serialized_tensor(data: memoryview | bytes) -> SerializedTensor:
    found = fields(data)
    return SerializedTensor(name=_str(found, 1), full_name=_str(found, 2), checkpoint_key=_str(found, 3))


def read_slot_variable_reference(data: memoryview | bytes) -> SlotVariableReference:
    found = fields(data)
    return SlotVariableReference(_int(found, 1), _str(found, 2), _int(found, 3))


def read_trackable_object(data: memoryview | bytes) -> TrackableObject:
    found = fields(data)
    return TrackableObject(
        children=tuple(_messages(found, 1, read_object_reference)),
        attributes=tuple(_messages(found, 2, read_serialized_tensor)),
        slot_variables=tuple(_messages(found, 3, read_slot_variable_reference)),
    )


def read_trackable_object_graph(data: memoryview | bytes) -> list[TrackableObject]:
    """TrackableObjectGraph: nodes (1); node 0 is the root, children point at later nodes."""
    return _messages(fields(data), 1, read_trackable_object)


# -- saved_model.proto -> meta_graph.proto -> saved_object_graph.proto: saved_model.pb -----------


@dataclass(frozen=True)
class SavedObject:
    """A node of a SavedModel's object graph: its children, and what kind of object it is
    (`identifier` of a user object such as "_tf_keras_layer", with Keras' JSON `metadata`;
    `variable_name` of a variable)."""

    children: tuple[ObjectReference, ...]
    kind: str  # the field of SavedObject's `kind` oneof that is set: "user_object", "variable", ...
    identifier: str = ""
    metadata: str = ""
    variable_name: str = ""


# SavedObject's `kind` oneof: field number -> name.
SAVED_OBJECT_KINDS = {4: "user_object", 5: "asset", 6: "function", 7: "variable", 8: "bare_concrete_function"}
SAVED_OBJECT_KINDS |= {9: "constant", 10: "resource", 12: "captured_tensor"}


def read_saved_object(data: memoryview | bytes) -> SavedObject:
    found = fields(data)
    children = tuple(_messages(found, 1, read_object_reference))
    kind = next((name for number, name in SAVED_OBJECT_KINDS.items() if number in found), "")
    if kind == "user_object":  # SavedUserObject: identifier (1), version (2), metadata (3)
        user = _message(found, 4)
        return SavedObject(children, kind, identifier=_str(user, 1), metadata=_str(user, 3))
    if kind == "variable":  # SavedVariable: dtype (1), shape (2), trainable (3), ..., name (6)
        return SavedObject(children, kind, variable_name=_str(_message(found, 7), 6))
    return SavedObject(children, kind)


def read_saved_model(data: memoryview | bytes) -> list[SavedObject]:
    """SavedModel.meta_graphs (2)[0] -> MetaGraphDef.object_graph_def (7) -> SavedObjectGraph.nodes (1).

    Only the first MetaGraphDef: TF2 writes exactly one (tags {"serve"})."""
    meta_graphs = fields(data).get(2, [])
    if not meta_graphs or isinstance(meta_graphs[0], int):
        raise WireFormatError("it holds no MetaGraphDef")
    return _messages(_message(fields(meta_graphs[0]), 7), 1, read_saved_object)


@dataclass(frozen=True)
class KerasObject:
    """One Keras layer of a SavedModel: its node, its path from the root ("root.layer-1"), its
    kind ("_tf_keras_layer", "_tf_keras_network") and its metadata, a JSON string with the class
    name and `get_config()`."""

    node_id: int
    path: str
    identifier: str
    metadata: str


def read_keras_metadata(data: memoryview | bytes) -> list[KerasObject]:
    """tf_keras' keras_metadata.pb: SavedMetadata.nodes (1) -> node_id (2), node_path (3),
    identifier (4), metadata (5)."""

    def read_node(node: memoryview) -> KerasObject:
        found = fields(node)
        return KerasObject(_int(found, 2), _str(found, 3), _str(found, 4), _str(found, 5))

    return _messages(fields(data), 1, read_node)
