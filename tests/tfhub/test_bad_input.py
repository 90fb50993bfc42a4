"""Every problem a user can cause with a TensorFlow model ends in one line naming the file.

Each case damages a copy of one of the oracle's models (tests/tfhub/README.md) as a user's disk,
download or hands might: a truncated or missing data file, a corrupt `.index`, the wrong
SavedModel, a Google folder missing a file or holding a variable bertkit cannot place. Through
the command line (`bertkit convert`, `bertkit encode`) each must print exactly one line on
stderr, `bertkit <command>: error: <file>: <what is wrong>`, and exit 1; through the library
(`Encoder.from_pretrained`, `Preprocessor.from_pretrained`) it must raise a `BertkitError`
with the same message. A failed `convert` leaves no destination behind.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from tf_files.tf_encode import table

from bertkit import Encoder, Preprocessor
from bertkit.checkpoint.convert import convert
from bertkit.cli import main
from bertkit.errors import BertkitError, CheckpointError, InputError, VocabError
from bertkit.tf_files.table import read_table

GOOGLE_DATA = "bert_model.ckpt.data-00000-of-00001"
GOOGLE_INDEX = "bert_model.ckpt.index"
SAVED_DATA = "variables/variables.data-00000-of-00001"
SAVED_INDEX = "variables/variables.index"
UNKNOWN_VARIABLE = "bert/encoder/layer_0/adapter/dense/kernel"  # a fine-tuning add-on we do not implement
LINKED_ABOVE = 1 << 20  # bytes: larger files are linked into the copy, never written through


def copy_model(source: Path, destination: Path) -> Path:
    """`source` copied, its large files (the weights) as symbolic links: a damage replaces a
    file (`rewrite`), so the oracle's own files are never touched."""
    for path in sorted(source.rglob("*")):
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        elif path.stat().st_size > LINKED_ABOVE:
            target.symlink_to(path)
        else:
            shutil.copyfile(path, target)
    return destination


def rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    data = path.read_bytes()
    path.unlink()  # a link to the oracle's file: replaced, not written through
    path.write_bytes(change(data))


def truncate(path: Path) -> None:
    rewrite(path, lambda data: data[: len(data) // 2])


def break_magic(path: Path) -> None:
    rewrite(path, lambda data: data[:-8] + bytes(8))


def flip_byte_in_first_block(path: Path) -> None:
    rewrite(path, lambda data: data[:20] + bytes([data[20] ^ 0xFF]) + data[21:])


def flip_byte_in_data(path: Path) -> None:
    rewrite(path, lambda data: data[:1000] + bytes([data[1000] ^ 0x01]) + data[1001:])


def add_unknown_variable(directory: Path) -> None:
    """A variable no BERT has, saved as TF's Saver would: its entry in the index points at the
    bytes of one that exists (the pooler's kernel), so the data file stays the oracle's."""
    index = directory / GOOGLE_INDEX
    entries = dict((key, bytes(value)) for key, value in read_table(index))
    entries[UNKNOWN_VARIABLE.encode()] = entries[b"bert/pooler/dense/kernel"]
    rewrite(index, lambda _: table(list(entries.items())))


# (model, damage, the file the message names, relative to the model, what it says is wrong)
CASES = {
    "google-truncated-data": (
        "google", lambda d: truncate(d / GOOGLE_DATA),
        GOOGLE_DATA, r"truncated: tensor '[^']+' needs bytes \d+\.\.\d+, the file has \d+",
    ),
    "savedmodel-truncated-data": (
        "encoder", lambda d: truncate(d / SAVED_DATA),
        SAVED_DATA, r"truncated: tensor '[^']+' needs bytes \d+\.\.\d+, the file has \d+",
    ),
    "google-data-checksum": (
        "google", lambda d: flip_byte_in_data(d / GOOGLE_DATA),
        GOOGLE_DATA, r"CRC32C mismatch in tensor '[^']+' \(corrupt file\)",
    ),
    "google-index-bad-magic": (
        "google", lambda d: break_magic(d / GOOGLE_INDEX),
        GOOGLE_INDEX, r"not a TensorFlow table \(no table magic number at the end\)",
    ),
    "savedmodel-index-bad-magic": (
        "encoder", lambda d: break_magic(d / SAVED_INDEX),
        SAVED_INDEX, r"not a TensorFlow table \(no table magic number at the end\)",
    ),
    "google-index-checksum": (
        "google", lambda d: flip_byte_in_first_block(d / GOOGLE_INDEX),
        GOOGLE_INDEX, r"CRC32C mismatch in the table block at byte 0 \(corrupt file\)",
    ),
    "savedmodel-index-checksum": (
        "encoder", lambda d: flip_byte_in_first_block(d / SAVED_INDEX),
        SAVED_INDEX, r"CRC32C mismatch in the table block at byte 0 \(corrupt file\)",
    ),
    "google-missing-data": (
        "google", lambda d: (d / GOOGLE_DATA).unlink(),
        GOOGLE_DATA, r"no such file \(data file of checkpoint .*bert_model\.ckpt\.index\)",
    ),
    "savedmodel-missing-data": (
        "encoder", lambda d: (d / SAVED_DATA).unlink(),
        SAVED_DATA, r"no such file \(data file of checkpoint .*variables\.index\)",
    ),
    "preprocessing-savedmodel": (
        "preprocess", lambda d: None,
        "", r"not a BERT encoder SavedModel \(no word_embeddings/embeddings variable",
    ),
    "google-without-vocab": (
        "google", lambda d: (d / "vocab.txt").unlink(),
        "vocab.txt", r"not found; Google's BERT checkpoints come with their vocab\.txt",
    ),
    "google-without-config": (
        "google", lambda d: (d / "bert_config.json").unlink(),
        "bert_config.json", r"not found; a Google BERT checkpoint comes with its bert_config\.json",
    ),
    "google-config-not-json": (
        "google", lambda d: (d / "bert_config.json").write_text('{"hidden_size": 384,'),
        "bert_config.json", r"not valid JSON \(",
    ),
    "google-config-empty": (
        "google", lambda d: (d / "bert_config.json").write_text("{}"),
        "bert_config.json", r"lacks vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size",
    ),
    "google-config-string-size": (
        "google", lambda d: (d / "bert_config.json").write_text(
            (d / "bert_config.json").read_text().replace('"hidden_size": 384', '"hidden_size": "384"')),
        "bert_config.json", r"hidden_size must be a positive whole number, found '384'",
    ),
    "google-unknown-variable": (
        "google", add_unknown_variable,
        GOOGLE_INDEX, "variables bertkit cannot place in a BERT model: " + re.escape(UNKNOWN_VARIABLE),
    ),
}  # fmt: skip


def damaged(tf_oracle, tmp_path: Path, case: str) -> tuple[Path, str]:
    """A damaged copy of the case's model, and the pattern its one line must match."""
    model, damage, named, wrong = CASES[case]
    directory = copy_model(tf_oracle.path / model, tmp_path / model)
    damage(directory)
    return directory, re.escape(str(directory / named) if named else str(directory)) + ": " + wrong


def one_error_line(capsys, command: str, argv: list[str]) -> str:
    """Run `bertkit <command> ...`: exit 1, nothing on stdout, one line on stderr; that line."""
    assert main([command, *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bertkit {command}: error: "), captured.err
    return lines[0].removeprefix(f"bertkit {command}: error: ")


@pytest.mark.parametrize("case", CASES)
def test_convert_says_what_is_wrong_in_one_line(tf_oracle, tmp_path, capsys, case):
    source, message = damaged(tf_oracle, tmp_path, case)
    line = one_error_line(capsys, "convert", [str(source), str(tmp_path / "out")])
    assert re.fullmatch(message + r".*", line), line
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("case", CASES)
def test_encode_says_what_is_wrong_in_one_line(tf_oracle, tmp_path, capsys, case):
    model, message = damaged(tf_oracle, tmp_path, case)
    line = one_error_line(capsys, "encode", ["--model", str(model), "hello"])
    assert re.fullmatch(message + r".*", line), line


@pytest.mark.parametrize("case", [case for case in CASES if case != "google-without-vocab"])
def test_encoder_from_pretrained_raises_a_checkpoint_error(tf_oracle, tmp_path, case):
    model, message = damaged(tf_oracle, tmp_path, case)
    with pytest.raises(BertkitError) as raised:
        Encoder.from_pretrained(model)
    assert re.fullmatch(message + r".*", str(raised.value)), str(raised.value)
    assert "\n" not in str(raised.value)


def test_preprocessor_needs_the_google_vocabulary(tf_oracle, tmp_path):
    model, message = damaged(tf_oracle, tmp_path, "google-without-vocab")
    with pytest.raises(VocabError, match=message):
        Preprocessor.from_pretrained(model)


def test_the_preprocessing_savedmodel_is_a_preprocessor_not_an_encoder(tf_oracle):
    assert Preprocessor.from_pretrained(tf_oracle.preprocess_dir).tokenizer.flavor == "tfhub"
    with pytest.raises(CheckpointError, match="not a BERT encoder SavedModel"):
        Encoder.from_pretrained(tf_oracle.preprocess_dir)


def test_an_unknown_variable_is_refused_not_dropped(tf_oracle, tmp_path):
    """A model with weights we would silently leave out computes something else: refuse it."""
    model, _ = damaged(tf_oracle, tmp_path, "google-unknown-variable")
    with pytest.raises(CheckpointError, match=re.escape(UNKNOWN_VARIABLE)):
        convert(model, tmp_path / "out", say=lambda line: None)


# --- the destination and the source of `bertkit convert` -----------------------------------------


@pytest.fixture
def converted(tf_oracle, tmp_path) -> Path:
    """The oracle's Google checkpoint converted: a HuggingFace directory."""
    return convert(tf_oracle.google_dir, tmp_path / "converted", say=lambda line: None)


def test_convert_will_not_overwrite_a_model(tf_oracle, converted, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in converted.iterdir()}
    line = one_error_line(capsys, "convert", [str(tf_oracle.google_dir), str(converted)])
    assert line == f"{converted}: already holds a model; choose an empty or new directory"
    assert {p.name: p.stat().st_mtime_ns for p in converted.iterdir()} == before


def test_convert_refuses_a_file_as_destination(tf_oracle, tmp_path, capsys):
    (tmp_path / "taken").write_text("not a directory")
    for destination in (tmp_path / "taken", tmp_path / "taken" / "model"):
        line = one_error_line(capsys, "convert", [str(tf_oracle.google_dir), str(destination)])
        assert line == f"{destination}: {tmp_path / 'taken'} is a file, not a directory; choose a new directory"


def test_a_huggingface_directory_has_nothing_to_convert(converted, tmp_path, capsys):
    line = one_error_line(capsys, "convert", [str(converted), str(tmp_path / "again")])
    assert line == f"{converted}: already a HuggingFace model directory (config.json); nothing to convert"
    with pytest.raises(InputError):
        convert(converted, tmp_path / "again", say=lambda line: None)
    assert not (tmp_path / "again").exists()
