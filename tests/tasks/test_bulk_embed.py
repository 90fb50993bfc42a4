"""bertkit/tasks/bulk: `bertkit embed --input F --output DIR` on real lines with a tiny model.

A killed run resumes to the bytes of an uninterrupted one, two torchrun ranks write the bytes of
one process, the vectors are `Pipeline.embed`'s, and every line is accounted for (a vector and
its id, or a reason in the index)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tiny_models
import torch
from corpora import po_strings

import bertkit
from bertkit.cli import main
from bertkit.errors import InputError
from bertkit.tasks import bulk, compact

ROOT = Path(__file__).resolve().parents[2]
# One thread, in the test and its subprocesses: the runs are small, and on a shared, busy
# machine OpenMP threads waiting on each other made the tiny model 16x slower than one thread.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


LINES = 1_200  # real strings, 12 shards of 100 lines


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(tiny_models.tiny_bert_dir(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def lines():
    """Real one-line strings (Django's catalogs, many scripts), a few blank lines among them."""
    strings = [s for s in po_strings() if s.strip() and "\n" not in s and "\r" not in s][:LINES]
    for i in (5, 777, 1_100):
        strings[i] = "   "
    return strings


def write(path: Path, lines: list[str]) -> Path:
    path.write_bytes("".join(line + "\n" for line in lines).encode())
    return path


def embed_args(source, output, tiny, *more) -> list[str]:
    return ["embed", "--input", str(source), "--output", str(output), "--model", tiny, "--shard-size", "100",
            "--block-size", "32", "--no-progress", *more]  # fmt: skip


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_vectors_are_pipeline_embed_s_and_every_line_is_accounted_for(tmp_path, tiny, lines, capsys):
    source = write(tmp_path / "in.txt", lines[:500])
    assert main(embed_args(source, tmp_path / "out", tiny)) == 0
    captured = capsys.readouterr()
    assert "skipped 1 of 500 lines: 1 empty line" in captured.err
    assert f"wrote {tmp_path / 'out'}: 499 vectors of 32 float32 in 5 shards" in captured.out
    ids, vectors = bulk.read_vectors(tmp_path / "out")
    kept = [i for i, line in enumerate(lines[:500]) if line.strip()]
    assert ids == [i + 1 for i in kept]  # txt: the 1-based line number
    model = bertkit.load(tiny, precision="auto")  # the command's default precision
    texts = [lines[i] for i in kept]
    blocks = [(0, 32), (32, 64), (64, 96), (96, 99)]  # shard 0: lines 1..100, line 6 blank
    for start, end in blocks:
        np.testing.assert_array_equal(vectors[start:end], model.embed(texts[start:end]))
    np.testing.assert_allclose(vectors, model.embed(texts), atol=1e-5, rtol=0)  # other batches: last-bit differences
    index = [json.loads(x) for x in (tmp_path / "out" / "shard-00000.index.jsonl").read_text().splitlines()]
    assert len(index) == 100 and index[5] == {"line": 6, "skipped": "empty line"} and index[6] == {"line": 7, "id": 7}
    shard_ids, shard_lines, mapped = next(bulk.iter_shards(tmp_path / "out"))
    assert isinstance(mapped, np.memmap) and shard_lines == shard_ids == ids[:99]


def test_jsonl_and_csv_ids_and_skipped_lines(tmp_path, tiny, lines, capsys):
    rows = [json.dumps({"id": f"doc-{i}", "text": text}) for i, text in enumerate(lines[:40])]
    rows[3], rows[8], rows[9], rows[10] = "{not json", json.dumps({"title": "x"}), "[1, 2]", ""
    source = write(tmp_path / "in.jsonl", rows)
    assert main(embed_args(source, tmp_path / "j", tiny)) == 0
    assert "skipped 5 of 40 lines: 1 bad JSON, 1 empty line, 1 empty text, 1 no text field, 1 not a JSON object" in (
        capsys.readouterr().err
    )
    ids, vectors = bulk.read_vectors(tmp_path / "j")
    assert ids[:4] == ["doc-0", "doc-1", "doc-2", "doc-4"] and len(ids) == len(vectors) == 35
    manifest = bulk.read_manifest(tmp_path / "j")
    assert manifest["skipped"]["bad JSON"] == 1 and manifest["lines"] == 40 and manifest["rows"] == 35

    table = tmp_path / "in.csv"
    table.write_text('url,body\nu1,"first, with a comma"\nu2,"two\nlines"\nu3,\nu4,last\n', encoding="utf-8")
    assert main(embed_args(table, tmp_path / "c", tiny, "--text-column", "body", "--id-column", "url")) == 0
    ids, vectors = bulk.read_vectors(tmp_path / "c")
    assert ids == ["u1", "u2", "u4"] and vectors.shape == (3, 32)
    index = (tmp_path / "c" / "shard-00000.index.jsonl").read_text().splitlines()
    assert [json.loads(x)["line"] for x in index] == [2, 3, 5, 6]  # the line each record starts on
    np.testing.assert_array_equal(vectors[1], bertkit.load(tiny, precision="auto").embed(["two\nlines"])[0])
    assert main(embed_args(table, tmp_path / "c2", tiny)) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"bertkit embed: error: {table}: no 'text' column; name the column to embed with --text-column (url, body)"
    )


def test_kill_9_then_resume_writes_the_bytes_of_an_uninterrupted_run(tmp_path, tiny, lines, capsys):
    source = write(tmp_path / "corpus.txt", lines)
    assert main(embed_args(source, tmp_path / "clean", tiny)) == 0
    # The run to kill reads a pipe that holds the first 500 lines (5 shards): it writes those
    # shards, then waits for more, and is killed there - mid-run, whatever this machine's speed.
    source.unlink()
    os.mkfifo(source)
    pipe = os.open(source, os.O_RDWR)  # Linux: no wait for a reader
    run = subprocess.Popen([sys.executable, "-m", "bertkit", *embed_args(source, tmp_path / "out", tiny)], cwd=ROOT,
                           env=ONE_THREAD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    os.write(pipe, "".join(line + "\n" for line in lines[:500]).encode())
    out = tmp_path / "out"
    deadline = time.monotonic() + 120
    while not (out / "shard-00004.json").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the fifth receipt
    assert run.poll() is None, run.stderr.read().decode()
    run.send_signal(signal.SIGKILL)
    run.wait()
    os.close(pipe)
    run.stderr.close()
    assert not json.loads((out / "manifest.json").read_text())["complete"] and not (out / "shard-00005.json").exists()
    # and a shard whose file was damaged, one without its receipt, one cut short by the kill
    damaged = bytearray((out / "shard-00001.npy").read_bytes())
    damaged[-1] ^= 1
    (out / "shard-00001.npy").write_bytes(bytes(damaged))
    (out / "shard-00002.json").unlink()
    (out / ".shard-00005.npy.tmp").write_bytes(b"\x93NUMPY partial")
    kept = (out / "shard-00000.npy").stat().st_mtime_ns
    source.unlink()
    write(source, lines)
    capsys.readouterr()
    assert main(embed_args(source, out, tiny)) == 0  # the same command again
    assert "resumed: 3 of 12 shards were complete (verified), kept" in capsys.readouterr().err  # 0, 3 and 4
    assert (out / "shard-00000.npy").stat().st_mtime_ns == kept  # verified, not redone
    assert files(out) == files(tmp_path / "clean")  # shards, indexes, receipts, manifest: byte for byte
    ids, vectors = bulk.read_vectors(out)
    assert len(ids) == len(vectors) == LINES - 3


def test_two_torchrun_ranks_write_the_bytes_of_one_process(tmp_path, tiny, lines):
    source = write(tmp_path / "corpus.txt", lines[:650])
    assert main(embed_args(source, tmp_path / "one", tiny)) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "bertkit", *embed_args(source, tmp_path / "two", tiny)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=ONE_THREAD, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout and "7 shards" in done.stdout  # rank 0's line only
    assert files(tmp_path / "two") == files(tmp_path / "one")


def test_other_settings_are_refused_in_one_line_or_overwritten(tmp_path, tiny, lines, capsys):
    source = write(tmp_path / "in.txt", lines[:300])
    out = tmp_path / "out"
    assert main(embed_args(source, out, tiny)) == 0
    before = files(out)
    assert main(embed_args(source, out, tiny)) == 0 and files(out) == before  # done already: all verified
    capsys.readouterr()
    assert main(embed_args(source, out, tiny, "--pooling", "mean")) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"bertkit embed: error: {out}: holds vectors made with other settings (pooling 'cls' -> 'mean'); "
        "use another --output folder, or --overwrite"
    )
    assert main(embed_args(source, out, tiny, "--pooling", "mean", "--overwrite")) == 0
    assert bulk.read_manifest(out)["pooling"] == "mean" and files(out) != before
    write(source, lines[:90])  # a shorter input: its one shard is redone, the stale others removed
    assert main(embed_args(source, out, tiny, "--pooling", "mean")) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "shard-00000.index.jsonl", "shard-00000.json", "shard-00000.npy"
    ]  # fmt: skip
    assert len(bulk.read_vectors(out)[0]) == 89  # line 6 is blank


def test_int8_shards_share_the_first_block_s_ranges(tmp_path, tiny, lines):
    source = write(tmp_path / "in.txt", lines[:450])
    assert main(embed_args(source, tmp_path / "f", tiny)) == 0
    assert main(embed_args(source, tmp_path / "q", tiny, "--quantize", "int8")) == 0
    _, floats = bulk.read_vectors(tmp_path / "f")
    ids, codes = bulk.read_vectors(tmp_path / "q")
    ranges = np.load(tmp_path / "q" / "ranges.npy")
    np.testing.assert_array_equal(ranges, compact.calibration_ranges(floats[:32]))  # the first block's
    np.testing.assert_array_equal(codes, compact.quantize(floats, "int8", ranges))
    assert codes.dtype == np.int8 and bulk.read_manifest(tmp_path / "q")["ranges"] == "ranges.npy"


def test_bad_requests_are_one_clear_line(tmp_path, tiny, capsys):
    source = write(tmp_path / "in.jsonl", ['{"text": "hi"}'])
    assert main(["embed", "--input", str(source), "--output", str(tmp_path / "o.npy")]) == 1
    assert capsys.readouterr().err == (
        f"bertkit embed: error: {source}: a JSON-lines or CSV input is for a folder --output "
        "(shards with an index): give --output DIR\n"
    )
    text = write(tmp_path / "in.txt", ["hi"])
    assert main(["embed", "--input", str(text), "--output", str(tmp_path / "o.npy"), "--shard-size", "9"]) == 1
    assert "--shard-size is for a folder --output" in capsys.readouterr().err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.md").write_text("mine")
    assert main(embed_args(text, tmp_path / "busy", tiny)) == 1
    assert capsys.readouterr().err.endswith("holds other files (notes.md, ...); give a new or empty folder\n")
    long = write(tmp_path / "long.txt", ["short", "word " * 200, "short again"])
    assert main(embed_args(long, tmp_path / "t", tiny)) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert warned == [  # once for the run, not once per block
        "warning: 1 of 3 texts are longer than the model's 128 tokens and were truncated; --long error refuses such lines"
    ]
    assert main(embed_args(long, tmp_path / "e", tiny, "--long", "error")) == 1
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .startswith(
            f"bertkit embed: error: {long}: line 2 is 202 tokens long (special tokens included), more than the model's 128"
        )
    )
    empty = write(tmp_path / "empty.txt", [])
    assert main(embed_args(empty, tmp_path / "none", tiny)) == 1
    assert capsys.readouterr().err == f"bertkit embed: error: {empty}: the input file is empty, nothing to embed\n"
    assert not (tmp_path / "none").exists()
    with pytest.raises(InputError, match="no embeddings manifest"):
        bulk.read_vectors(tmp_path)


def test_docstring_examples_run():
    import doctest

    from bertkit.tasks.bulk import inputs

    assert doctest.testmod(bulk).failed == 0 and doctest.testmod(inputs).failed == 0


def test_command_choices_are_the_library_s():
    from bertkit.cli.embed import FORMATS  # written out there so that `bertkit --help` skips numpy and torch
    from bertkit.tasks.bulk import inputs

    assert FORMATS == inputs.FORMATS and (bulk.SHARD_SIZE, bulk.BLOCK_SIZE) == (16_384, 4_096)  # as --help says
