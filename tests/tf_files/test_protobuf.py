"""bertkit/tf_files/protobuf.py: the wire decoder, and the message layouts on hand-encoded bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tf_encode import field, varint

from bertkit.errors import CheckpointError, WireFormatError
from bertkit.tf_files import protobuf
from bertkit.tf_files.protobuf import fields, parse

# (number, wire type, value): what the decoder should give back for each field we encode
FIELD = st.one_of(
    st.tuples(st.integers(1, 2**29 - 1), st.just(0), st.integers(0, 2**64 - 1)),
    st.tuples(st.integers(1, 2**29 - 1), st.just(1), st.integers(0, 2**64 - 1)),
    st.tuples(st.integers(1, 2**29 - 1), st.just(2), st.binary(max_size=300)),
    st.tuples(st.integers(1, 2**29 - 1), st.just(5), st.integers(0, 2**32 - 1)),
)


@given(st.integers(0, 2**64 - 1))
def test_varint_round_trips(value):
    encoded = varint(value)
    assert protobuf.varint(encoded + b"tail", 0) == (value, len(encoded))


@given(st.lists(FIELD, max_size=20))
def test_fields_round_trip(encoded_fields):
    data = b"".join(field(number, value, wire_type or None) for number, wire_type, value in encoded_fields)
    expected: dict[int, list] = {}
    for number, _, value in encoded_fields:
        expected.setdefault(number, []).append(value)
    decoded = {
        number: [v if isinstance(v, int) else bytes(v) for v in values] for number, values in fields(data).items()
    }
    assert decoded == expected


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"\x08", "runs past the end"),  # a tag, no value
        (b"\x08" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x12\x05abc", "5 bytes announced, 3 left"),
        (b"\x0d\x01\x02", "32-bit value runs past the end"),
        (b"\x0b", "wire type 3"),  # a group
        (b"\x00\x01", "field number 0"),
    ],
)
def test_malformed_messages_raise_one_clear_error(data, problem):
    with pytest.raises(WireFormatError, match=problem):
        fields(data)


def test_parse_names_the_file_and_message():
    with pytest.raises(CheckpointError) as error:
        parse(protobuf.read_bundle_entry, b"\x12\x09", "model.ckpt.index: entry 'x'")
    assert str(error.value).startswith("model.ckpt.index: entry 'x': not a valid bundle_entry message")
    assert "\n" not in str(error.value)


def test_bundle_entry_layout_skips_unknown_fields():
    shape = field(2, field(1, 4) + field(2, "rows")) + field(2, field(1, 3))
    extent = field(1, field(1, 0) + field(2, 2)) + field(1, b"")  # rows 0..2, every column
    data = field(1, 19) + field(2, shape) + field(3, 1) + field(4, 10) + field(5, 24) + field(6, 0xDEADBEEF, 5)
    data += field(99, b"from a future TensorFlow") + field(7, extent)
    entry = protobuf.read_bundle_entry(data)
    assert (entry.dtype, entry.shape, entry.shard_id, entry.offset, entry.size) == ("float16", (4, 3), 1, 10, 24)
    assert entry.crc32c == 0xDEADBEEF and entry.slices == (((0, 2), (0, None)),)


def test_defaults_negative_dims_and_last_value_wins():
    assert protobuf.read_tensor_shape(field(2, field(1, -1))) == (-1,)  # a 10-byte varint
    entry = protobuf.read_bundle_entry(field(1, 1) + field(1, 3))
    assert (entry.dtype, entry.shape, entry.offset, entry.crc32c, entry.slices) == ("int32", (), 0, 0, ())
    assert protobuf.read_bundle_entry(field(1, 77)).dtype == "DataType 77"
    header = protobuf.read_bundle_header(field(1, 2) + field(2, 1) + field(3, field(1, 1)))
    assert header == protobuf.BundleHeader(num_shards=2, little_endian=False, version=1)


def test_trackable_object_graph_layout():
    child = field(1, field(1, 1) + field(2, "encoder"))
    attribute = field(
        2, field(1, "VARIABLE_VALUE") + field(2, "dense/kernel") + field(3, "encoder/.ATTRIBUTES/VARIABLE_VALUE")
    )
    slot = field(3, field(1, 1) + field(2, "m") + field(3, 2))
    nodes = protobuf.read_trackable_object_graph(field(1, child + slot) + field(1, attribute) + field(1, b""))
    assert nodes[0].children == (protobuf.ObjectReference(1, "encoder"),)
    assert nodes[0].slot_variables == (protobuf.SlotVariableReference(1, "m", 2),)
    assert nodes[1].attributes[0].full_name == "dense/kernel" and nodes[2] == protobuf.TrackableObject((), (), ())


def test_a_number_where_a_message_belongs_is_an_error():
    with pytest.raises(WireFormatError, match="field 1 should hold messages"):
        protobuf.read_trackable_object_graph(field(1, 5))
