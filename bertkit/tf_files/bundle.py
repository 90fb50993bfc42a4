"""TensorFlow's checkpoint ("tensor bundle"): `PREFIX.index` plus `PREFIX.data-NNNNN-of-MMMMM`.

    model.ckpt.index                  a table (table.py): "" -> BundleHeaderProto (number of data
                                      files, byte order), then each tensor's name, sorted ->
                                      BundleEntryProto (dtype, shape, shard_id, offset, size, crc32c)
    model.ckpt.data-00000-of-00002    the tensors' bytes, back to back with no padding (TF1's
    model.ckpt.data-00001-of-00002    Saver in name order, TF2 in object order): a float32 may
                                      start at an odd offset

A numeric tensor is its elements in row-major order, in the header's byte order (always
little-endian in practice). A string tensor (DT_STRING) is the varint byte length of every
element, 4 bytes of checksum (the masked CRC32C of those lengths taken as uint32 little-endian,
not of the varints), then the elements' bytes. The entry's `crc32c` is the *masked* CRC32C of
the tensor's bytes; for a string tensor, of the lengths as uint32s, the 4 checksum bytes and the
elements' bytes.

TF1's `Saver` keys tensors by variable name ("bert/encoder/layer_0/attention/self/query/kernel");
TF2's `tf.train.Checkpoint` by object path ("encoder/_transformer_layers/0/.../kernel/.ATTRIBUTES/
VARIABLE_VALUE") and adds the object graph, a serialised TrackableObjectGraph under the key
`_CHECKPOINTABLE_OBJECT_GRAPH` that lists each object's children and each variable's TF name.

>>> bundle = TensorBundle("tests/tf_files/data/tf1/model.ckpt")
>>> bundle.entry("dense/kernel").shape, bundle.tensor("dense/bias").tolist()
((4, 3), [0.5, -1.25, 3.0])
"""

from __future__ import annotations

import math
import mmap
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from bertkit.errors import CheckpointError, WireFormatError
from bertkit.tf_files.crc import crc32c, mask
from bertkit.tf_files.protobuf import (
    BundleEntry,
    ObjectReference,
    TrackableObject,
    parse,
    read_bundle_entry,
    read_bundle_header,
    read_trackable_object_graph,
    varint,
)
from bertkit.tf_files.table import read_table

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
TORCH_DTYPES |= {"float64": torch.float64, "int32": torch.int32, "int64": torch.int64}
TORCH_DTYPES |= {"int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool}


@dataclass(frozen=True)
class CheckpointVariable:
    """One saved value of a TF2 checkpoint: the object's `paths` from the root (the first is the
    key's, "encoder/layer_with_weights-4/_attention_layer/_query_dense/kernel"; others are aliases,
    "encoder/_transformer_layers/0/_attention_layer/_query_dense/kernel"), the variable's TF
    `full_name` ("transformer/layer_0/self_attention/query/kernel"), and its key in the bundle."""

    paths: tuple[str, ...]
    full_name: str
    checkpoint_key: str


class TensorBundle:
    """A checkpoint, read without TensorFlow; tensors are memory-mapped, not loaded.

    `prefix` is what TensorFlow was given ("model.ckpt", "variables/variables"), without `.index`.
    Every problem (missing file, corrupt table, checksum mismatch, truncated data file) raises
    a `CheckpointError` naming the file.
    """

    def __init__(self, prefix: str | Path):
        self.prefix = Path(prefix)
        self.index_path = Path(f"{prefix}.index")
        if not self.index_path.is_file():
            hint = "; give the prefix, without .index" if self.prefix.suffix == ".index" else ""
            raise CheckpointError(f"{self.index_path}: no such file (the index of checkpoint prefix {prefix}{hint})")
        self._entries = {key.decode("utf-8", "replace"): value for key, value in read_table(self.index_path)}
        if "" not in self._entries:
            raise CheckpointError(
                f"{self.index_path}: no bundle header (the table's empty key): not a checkpoint index"
            )
        self.header = parse(read_bundle_header, self._entries.pop(""), f"{self.index_path}: header")
        if not self.header.little_endian:
            raise CheckpointError(f"{self.index_path}: a big-endian checkpoint; only little-endian ones are read")
        self.shards = [
            Path(f"{prefix}.data-{i:05d}-of-{self.header.num_shards:05d}") for i in range(self.header.num_shards)
        ]
        for shard in self.shards:
            if not shard.is_file():
                raise CheckpointError(f"{shard}: no such file (data file of checkpoint {self.index_path})")
        self._maps: dict[int, mmap.mmap | bytes] = {}

    def names(self) -> list[str]:
        """Every tensor's name (its checkpoint key), sorted."""
        return list(self._entries)

    def entry(self, name: str) -> BundleEntry:
        """Where and what tensor `name` is: dtype ("float32", "string", ...), shape, bytes."""
        if name not in self._entries:
            raise CheckpointError(f"{self.index_path}: no tensor named {name!r}")
        return parse(read_bundle_entry, self._entries[name], f"{self.index_path}: entry {name!r}")

    def tensor(self, name: str) -> torch.Tensor | bytes | list:
        """Tensor `name`, checksum checked: a torch tensor that shares the memory-mapped file
        (copied only when its offset is not a multiple of its item size), or for strings `bytes`
        (a 0-d tensor) or nested lists of `bytes`."""
        entry = self.entry(name)
        if entry.slices:
            raise CheckpointError(f"{self.index_path}: {name!r} is saved in slices (a partitioned variable); not read")
        data = self._bytes(name, entry)
        if entry.dtype == "string":
            return self._strings(name, entry, data)
        self._check(name, entry, crc32c(data))
        dtype = TORCH_DTYPES.get(entry.dtype)
        if dtype is None:
            raise CheckpointError(
                f"{self.index_path}: tensor {name!r} has dtype {entry.dtype}, which bertkit does not read"
            )
        count = math.prod(entry.shape)
        if count * dtype.itemsize != entry.size:
            raise CheckpointError(f"{self.index_path}: tensor {name!r} of shape {entry.shape} has {entry.size} bytes")
        if count == 0:
            return torch.empty(entry.shape, dtype=dtype)
        if entry.offset % dtype.itemsize == 0:
            tensor = torch.frombuffer(self._maps[entry.shard_id], dtype=dtype, count=count, offset=entry.offset)
        else:  # unaligned: a copy (bytearray memory is aligned)
            tensor = torch.frombuffer(bytearray(data), dtype=dtype)
        return tensor.view(entry.shape)

    def object_graph(self) -> list[TrackableObject]:
        """A TF2 checkpoint's objects (node 0 is the root), as `tf.train.Checkpoint` saved them."""
        if OBJECT_GRAPH_KEY not in self._entries:
            raise CheckpointError(
                f"{self.index_path}: no {OBJECT_GRAPH_KEY}: a name-based (TF1) checkpoint, not a TF2 one"
            )
        data = self.tensor(OBJECT_GRAPH_KEY)
        return parse(read_trackable_object_graph, data, f"{self.index_path}: {OBJECT_GRAPH_KEY}")

    def variables(self) -> list[CheckpointVariable]:
        """Every value the object graph names: its object paths, TF name, and checkpoint key.

        Paths are written as TensorFlow writes keys: local names from the root, "/" and "."
        escaped; an optimizer slot's is "<variable path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>"."""
        nodes = self.object_graph()
        found = object_paths([node.children for node in nodes])
        paths = {node: ["/".join(map(escape, names)) for names in every] for node, every in found.items()}
        for optimizer, node in enumerate(nodes):
            for slot in node.slot_variables:
                if slot.original_variable_node_id in paths and optimizer in paths:
                    owner, by = paths[slot.original_variable_node_id][0], paths[optimizer][0]
                    paths[slot.slot_variable_node_id] = [f"{owner}/.OPTIMIZER_SLOT/{by}/{escape(slot.slot_name)}"]
        return [
            CheckpointVariable(tuple(paths.get(i, ())), attribute.full_name, attribute.checkpoint_key)
            for i, node in enumerate(nodes)
            for attribute in node.attributes
        ]

    def _bytes(self, name: str, entry: BundleEntry) -> memoryview | bytes:
        """The tensor's bytes in its data file, checked to lie inside it."""
        if not 0 <= entry.shard_id < len(self.shards):
            raise CheckpointError(
                f"{self.index_path}: tensor {name!r} is in data file {entry.shard_id} of {len(self.shards)}"
            )
        shard = self.shards[entry.shard_id]
        if entry.shard_id not in self._maps:
            with open(shard, "rb") as file:  # ACCESS_COPY: tensors may be written to, the file never
                size = file.seek(0, 2)
                self._maps[entry.shard_id] = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_COPY) if size else b""
        data = self._maps[entry.shard_id]
        end = entry.offset + entry.size
        if end > len(data):
            raise CheckpointError(
                f"{shard}: truncated: tensor {name!r} needs bytes {entry.offset}..{end}, the file has {len(data)}"
            )
        return memoryview(data)[entry.offset : end]

    def _check(self, name: str, entry: BundleEntry, crc: int) -> None:
        if mask(crc) != entry.crc32c:
            raise CheckpointError(f"{self.shards[entry.shard_id]}: CRC32C mismatch in tensor {name!r} (corrupt file)")

    def _strings(self, name: str, entry: BundleEntry, data: memoryview | bytes) -> bytes | list:
        """A string tensor: varint lengths, their masked CRC32C (4 bytes), then the bytes."""
        count, pos, lengths = math.prod(entry.shape), 0, []
        try:
            for _ in range(count):
                length, pos = varint(data, pos)
                lengths.append(length)
        except WireFormatError as error:
            raise CheckpointError(f"{self.shards[entry.shard_id]}: string tensor {name!r}: {error}") from None
        as_uint32 = b"".join((length & 0xFFFFFFFF).to_bytes(4, "little") for length in lengths)  # TF's cast
        stored = int.from_bytes(data[pos : pos + 4], "little")
        if pos + 4 + sum(lengths) != len(data) or stored != mask(crc32c(as_uint32)):
            raise CheckpointError(f"{self.shards[entry.shard_id]}: string tensor {name!r} is malformed (corrupt file)")
        self._check(name, entry, crc32c(data[pos:], crc32c(as_uint32)))
        pos += 4
        strings = []
        for length in lengths:
            strings.append(bytes(data[pos : pos + length]))
            pos += length
        return strings[0] if entry.shape == () else nest(strings, entry.shape)


def nest(items: list, shape: Sequence[int]) -> list:
    """Flat row-major `items` as nested lists of `shape`."""
    if len(shape) <= 1:
        return items
    step = len(items) // shape[0] if shape[0] else 0
    return [nest(items[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def object_paths(children: Sequence[Sequence[ObjectReference]]) -> dict[int, list[list[str]]]:
    """Each node reachable from node 0 -> every path of local names leading to it, breadth-first:
    the first is the one TensorFlow names the node's checkpoint keys by. Keras reaches a layer
    by several (`layer_with_weights-4`, `layer-10`, `_transformer_layers/0`)."""
    paths: dict[int, list[list[str]]] = {0: [[]]}
    queue = deque([(0, [], (0,))])  # (node, its path, the nodes on that path: a cycle stops there)
    while queue:
        node, path, seen = queue.popleft()
        for child in children[node] if node < len(children) else ():
            if child.node_id not in seen:
                paths.setdefault(child.node_id, []).append([*path, child.local_name])
                queue.append((child.node_id, [*path, child.local_name], (*seen, child.node_id)))
    return paths


def escape(local_name: str) -> str:
    """A local name as it appears in a checkpoint key: "." -> "..", "/" -> ".S"."""
    return local_name.replace(".", "..").replace("/", ".S")
