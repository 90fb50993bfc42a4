"""bertkit/tf_files/table.py: checkpoint indexes TensorFlow wrote, and corrupt copies of them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from tf_encode import table

from bertkit.errors import CheckpointError
from bertkit.tf_files import table as table_module
from bertkit.tf_files.table import read_table

DATA = Path(__file__).parent / "data"
INDEX = DATA / "tf1" / "model.ckpt.index"


def one_line_error(path) -> str:
    with pytest.raises(CheckpointError) as error:
        list(read_table(path))
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    return message


def test_reads_keys_in_order_with_the_header_first():
    keys = [key for key, _ in read_table(INDEX)]
    assert keys[0] == b"" and keys == sorted(keys)
    assert b"dense/kernel" in keys and b"large" in keys


def test_a_table_of_several_data_blocks(tmp_path):
    index = tmp_path / "model.index"
    index.write_bytes(gzip.decompress((DATA / "many" / "model.index.gz").read_bytes()))
    data = memoryview(index.read_bytes())
    _, after_metaindex = table_module._handle(data, len(data) - 48)
    index_block = table_module._block(data, *table_module._handle(data, after_metaindex)[0], index)
    assert len(list(table_module._entries(index_block, index))) == 2  # two data blocks
    keys = [key for key, _ in read_table(index)]
    assert len(keys) == 7001 and keys == sorted(keys) and keys[1] == b"00000/kernel_weights_of_a_layer"


def test_a_flipped_byte_is_a_crc_mismatch(tmp_path):
    corrupt = tmp_path / "model.ckpt.index"
    data = bytearray(INDEX.read_bytes())
    data[30] ^= 0x01  # inside the data block
    corrupt.write_bytes(data)
    assert "CRC32C mismatch in the table block at byte 0" in one_line_error(corrupt)


def test_bad_magic_and_short_files(tmp_path):
    corrupt = tmp_path / "model.ckpt.index"
    corrupt.write_bytes(INDEX.read_bytes()[:-1] + b"\0")
    assert "not a TensorFlow table" in one_line_error(corrupt)
    corrupt.write_bytes(b"tiny")
    assert "not a TensorFlow table" in one_line_error(corrupt)
    assert "no such file" in one_line_error(tmp_path / "missing.index")


def test_a_truncated_table(tmp_path):
    corrupt = tmp_path / "model.ckpt.index"
    data = INDEX.read_bytes()
    corrupt.write_bytes(data[:100] + data[-48:])  # the footer's handles now point past the end
    assert "runs past the end of the table" in one_line_error(corrupt)


def test_compressed_blocks_are_refused(tmp_path):
    compressed = tmp_path / "snappy.index"
    compressed.write_bytes(table([(b"a", b"1")], compression=1))
    assert "compressed (Snappy)" in one_line_error(compressed)


@pytest.mark.parametrize("count", [0, 1, 40])
def test_written_tables_read_back(tmp_path, count):
    entries = sorted((f"layer/{i:03d}/kernel".encode(), bytes([i]) * i) for i in range(count))
    path = tmp_path / "written.index"
    path.write_bytes(table(entries))
    assert [(key, bytes(value)) for key, value in read_table(path)] == entries
