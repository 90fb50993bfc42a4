"""bertkit/tf_files/bundle.py: every tensor TensorFlow wrote reads back as TensorFlow reads it."""

from __future__ import annotations

import doctest
import gzip
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from tf_encode import bundle_entry, field, string_tensor, table, write_bundle

from bertkit.errors import CheckpointError
from bertkit.tf_files import bundle as bundle_module
from bertkit.tf_files.bundle import OBJECT_GRAPH_KEY, TensorBundle

DATA = Path(__file__).parent / "data"
EXPECTED = json.loads((DATA / "expected.json").read_text())
ARRAYS = np.load(DATA / "expected.npz")
REPO = Path(__file__).parents[2]


def check_against_tensorflow(bundle: TensorBundle, prefix: str, expected: dict) -> None:
    """Names, dtypes, shapes and values equal what tf.train.load_checkpoint read."""
    assert bundle.names() == sorted(expected)
    for name, want in expected.items():
        entry, value = bundle.entry(name), bundle.tensor(name)
        assert (entry.dtype, list(entry.shape)) == (want["dtype"], want["shape"]), name
        if want["dtype"] == "string":
            assert value == (
                bytes.fromhex(want["hex"]) if isinstance(want["hex"], str) else [bytes.fromhex(h) for h in want["hex"]]
            )
            continue
        assert value.dtype == bundle_module.TORCH_DTYPES[want["dtype"]] and list(value.shape) == want["shape"]
        tf_value = ARRAYS[f"{prefix}:{name}"]
        ours = value.float().numpy() if value.dtype == torch.bfloat16 else value.numpy()
        np.testing.assert_array_equal(ours, tf_value, err_msg=name)


@pytest.mark.parametrize("fixture", ["tf1", "tf1_sharded"])
def test_name_based_checkpoints_every_dtype(fixture):
    bundle = TensorBundle(DATA / fixture / "model.ckpt")
    check_against_tensorflow(bundle, f"{fixture}/model.ckpt", EXPECTED[fixture]["tensors"])
    assert bundle.header.num_shards == (2 if fixture == "tf1_sharded" else 1)


def test_sharded_checkpoint_uses_both_data_files():
    bundle = TensorBundle(DATA / "tf1_sharded" / "model.ckpt")
    assert {bundle.entry(name).shard_id for name in bundle.names()} == {0, 1}
    assert [path.name for path in bundle.shards] == ["model.ckpt.data-00000-of-00002", "model.ckpt.data-00001-of-00002"]


def test_strings_scalars_and_empty_tensors():
    bundle = TensorBundle(DATA / "tf1" / "model.ckpt")
    assert bundle.tensor("word") == b"a lonely string"
    assert bundle.tensor("words")[:3] == [b"hello", b"", "caf\u00e9".encode()]
    assert bundle.tensor("global_step").shape == () and bundle.tensor("global_step").item() == 1234567
    assert bundle.tensor("empty").shape == (0, 3)
    assert bundle.tensor("large").shape == (160, 128) and bundle.entry("large").size > 65536


def test_aligned_tensors_are_memory_mapped_and_never_write_the_file():
    bundle = TensorBundle(DATA / "tf2" / "ckpt")
    name = "encoder/layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"
    first, again = bundle.tensor(name), bundle.tensor(name)
    assert first.data_ptr() == again.data_ptr()  # both views of the one mapping, no copy
    before = bundle.shards[0].read_bytes()
    first += 1
    assert bundle.shards[0].read_bytes() == before and torch.equal(first, again)  # private pages


def test_unaligned_tensors_are_copied():
    bundle = TensorBundle(DATA / "tf1" / "model.ckpt")
    assert bundle.entry("dense/bias").offset % 4 == 2  # TF packs tensors with no padding
    first, again = bundle.tensor("dense/bias"), bundle.tensor("dense/bias")
    assert first.data_ptr() != again.data_ptr() and first.data_ptr() % 4 == 0


def test_many_tensors_across_table_blocks(tmp_path):
    for packed in (DATA / "many").iterdir():
        (tmp_path / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    bundle = TensorBundle(tmp_path / "model")
    names = bundle.names()
    assert len(names) == EXPECTED["many"]["count"] and [names[0], names[-1]] == EXPECTED["many"]["names"]
    values = np.array([bundle.tensor(name).item() for name in names], np.int8)
    np.testing.assert_array_equal(values, ARRAYS["many:values"])


def test_object_based_checkpoint_and_its_graph():
    bundle = TensorBundle(DATA / "tf2" / "ckpt")
    check_against_tensorflow(bundle, "tf2/ckpt", EXPECTED["tf2"]["tensors"])
    nodes = bundle.object_graph()
    tf_nodes = EXPECTED["tf2"]["object_graph"]["nodes"]
    assert len(nodes) == len(tf_nodes)
    for ours, theirs in zip(nodes, tf_nodes):
        assert [(c.node_id, c.local_name) for c in ours.children] == [
            (c.get("node_id", 0), c.get("local_name", "")) for c in theirs.get("children", [])
        ]
        assert [(a.name, a.full_name, a.checkpoint_key) for a in ours.attributes] == [
            (a["name"], a["full_name"], a["checkpoint_key"]) for a in theirs.get("attributes", [])
        ]
        assert [(s.original_variable_node_id, s.slot_name, s.slot_variable_node_id) for s in ours.slot_variables] == [
            (s["original_variable_node_id"], s["slot_name"], s["slot_variable_node_id"])
            for s in theirs.get("slot_variables", [])
        ]


def test_variables_map_object_paths_and_tf_names_to_keys():
    bundle = TensorBundle(DATA / "tf2" / "ckpt")
    variables = bundle.variables()
    assert {v.checkpoint_key for v in variables} == set(bundle.names()) - {OBJECT_GRAPH_KEY}
    for variable in variables:  # the first path is the one TensorFlow built the key from
        assert variable.checkpoint_key == f"{variable.paths[0]}/.ATTRIBUTES/VARIABLE_VALUE"
    by_name = {v.full_name: v for v in variables}
    assert set(EXPECTED["tf2"]["full_names"]) <= set(by_name)
    query = by_name["transformer/layer_0/self_attention/query/kernel"]
    assert "encoder/_transformer_layers/0/_attention_layer/_query_dense/kernel" in query.paths
    slots = [v for v in variables if "/.OPTIMIZER_SLOT/" in v.checkpoint_key]
    assert len(slots) == 4 and {v.full_name.rsplit("/", 1)[1] for v in slots} == {"m", "v"}
    assert list(bundle.tensor(query.checkpoint_key).shape) == EXPECTED["tf2"]["full_names"][query.full_name]


def test_tf1_checkpoints_have_no_object_graph():
    with pytest.raises(CheckpointError, match="a name-based \\(TF1\\) checkpoint"):
        TensorBundle(DATA / "tf1" / "model.ckpt").object_graph()


def test_escaped_local_names():
    assert bundle_module.escape("a/b.c") == "a.Sb..c"


# -- problems a user can cause: one line naming the file ----------------------------------------


def copy_tf1(tmp_path) -> Path:
    for path in (DATA / "tf1").iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / "model.ckpt"


def one_line_error(read, *names) -> str:
    with pytest.raises(CheckpointError) as error:
        read()
    message = str(error.value)
    assert "\n" not in message and any(str(name) in message for name in names), message
    return message


def test_missing_index_and_missing_shard(tmp_path):
    prefix = copy_tf1(tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    shard.unlink()
    assert "no such file" in one_line_error(lambda: TensorBundle(prefix), shard)
    assert "no such file" in one_line_error(lambda: TensorBundle(tmp_path / "other"), tmp_path / "other.index")


def test_truncated_shard(tmp_path):
    prefix = copy_tf1(tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    shard.write_bytes(shard.read_bytes()[:1000])
    bundle = TensorBundle(prefix)
    assert bundle.tensor("dense/bias").tolist() == [0.5, -1.25, 3.0]  # what is left still reads
    assert "truncated: tensor 'large' needs bytes" in one_line_error(lambda: bundle.tensor("large"), shard)


@pytest.mark.parametrize("name", ["large", "words"])
def test_a_flipped_data_byte_is_a_crc_mismatch(tmp_path, name):
    prefix = copy_tf1(tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    entry = TensorBundle(prefix).entry(name)
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size - 1] ^= 0x80
    shard.write_bytes(data)
    assert f"CRC32C mismatch in tensor {name!r}" in one_line_error(lambda: TensorBundle(prefix).tensor(name), shard)


def test_unknown_dtype_slices_and_byte_order(tmp_path):
    prefix = tmp_path / "odd"
    write_bundle(prefix, {"variant": (21, (), b"\0" * 4), "c64": (8, (1,), b"\0" * 8), "f32": (1, (3,), b"\0" * 8)})
    bundle = TensorBundle(prefix)
    index = f"{prefix}.index"
    assert "dtype variant, which bertkit does not read" in one_line_error(lambda: bundle.tensor("variant"), index)
    assert "dtype complex64" in one_line_error(lambda: bundle.tensor("c64"), index)
    assert "of shape (3,) has 8 bytes" in one_line_error(lambda: bundle.tensor("f32"), index)
    assert "no tensor named 'nope'" in one_line_error(lambda: bundle.entry("nope"), index)
    write_bundle(prefix, {}, header=field(1, 1) + field(2, 1))
    assert "big-endian" in one_line_error(lambda: TensorBundle(prefix), index)


def test_sliced_entries_are_refused(tmp_path):
    prefix = tmp_path / "sliced"
    entry = bundle_entry(1, (4,), 0, b"", slices=[[(0, 2)]])
    Path(f"{prefix}.index").write_bytes(table([(b"", field(1, 1)), (b"w", entry)]))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(b"")
    assert "saved in slices" in one_line_error(lambda: TensorBundle(prefix).tensor("w"), f"{prefix}.index")


def test_string_matrices_nest_like_their_shape(tmp_path):
    prefix = tmp_path / "strings"
    values = [b"a", b"", b"ccc", b"\xff" * 200, b"e", b"f"]
    write_bundle(prefix, {"m": (7, (2, 3), *string_tensor(values)), "e": (7, (0,), *string_tensor([]))})
    bundle = TensorBundle(prefix)
    assert bundle.tensor("m") == [values[:3], values[3:]] and bundle.tensor("e") == []


def test_a_malformed_string_tensor(tmp_path):
    prefix = tmp_path / "strings"
    lengths, body = b"\x05", b"hello"
    write_bundle(prefix, {"s": (7, (), lengths + struct.pack("<I", 0) + body)})  # wrong length checksum
    assert "string tensor 's' is malformed" in one_line_error(lambda: TensorBundle(prefix).tensor("s"), "strings.data")


def test_docstring_example(monkeypatch):
    monkeypatch.chdir(REPO)
    result = doctest.testmod(bundle_module)
    assert result.attempted and not result.failed


def test_sizes_are_consistent():
    bundle = TensorBundle(DATA / "tf1" / "model.ckpt")
    for name in bundle.names():
        entry = bundle.entry(name)
        if entry.dtype != "string":
            assert math.prod(entry.shape) * bundle_module.TORCH_DTYPES[entry.dtype].itemsize == entry.size
