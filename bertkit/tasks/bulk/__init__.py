"""Corpora of any size: a text / JSON-lines / CSV file embedded into a folder of shards.

`embed_file(model, "corpus.jsonl", "vectors/")` streams the input (memory flat whatever its size),
embeds it in blocks of `block_size` texts (each block one `model.embed` call, length-sorted
inside), and writes one shard per `shard_size` input lines:

    vectors/manifest.json             model, dim, pooling, normalize, dtype, the shards (rows, sha256), totals
    vectors/shard-00000.npy           (rows, dim) float32, or the --quantize dtype
    vectors/shard-00000.index.jsonl   one line per input line: {"line": 7, "id": ...} in row order,
                                      or {"line": 8, "skipped": "empty line"} (no row)
    vectors/shard-00000.json          the shard's receipt: its input's and files' sha256
    vectors/ranges.npy                int8 / uint8 only: the (2, dim) ranges, to quantise queries alike

Resuming: rerun the same call. A shard whose receipt matches its files, its input lines and the
settings is kept; any other is embedded again (a killed run leaves only temporary files for the
shard it was writing), so the result is the bytes an uninterrupted run writes. Under `torchrun`
(RANK / WORLD_SIZE) rank r embeds shards r, r + world, ...; rank 0 writes the manifest once every
receipt is there (the folder must be shared by all ranks). Each shard is computed the same way
whatever the world size (same blocks, same batches), so the result equals the one-process run.

    >>> import tempfile, bertkit
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(f"{folder}/in.txt", "w").write("A man is eating food.\\n\\nSomeone eats.\\n")
    >>> manifest = embed_file(bertkit.load(precision="fp32"), f"{folder}/in.txt", f"{folder}/out")
    >>> manifest["rows"], manifest["skipped"]
    (2, {'empty line': 1})
    >>> ids, vectors = read_vectors(f"{folder}/out")
    >>> ids, vectors.shape
    ([1, 3], (2, 384))
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bertkit.errors import InputError, TruncationWarning
from bertkit.tasks import compact
from bertkit.tasks.bulk.inputs import InputFile, count_lines

SHARD_SIZE = 16_384  # input lines per shard: what a resume may redo, and the vectors held in memory
BLOCK_SIZE = 4_096  # texts per model.embed call (sorted by length inside it)
MANIFEST = "manifest.json"
RANGES = "ranges.npy"  # int8 / uint8: the (2, dim) calibration ranges every shard was quantised with
FORMAT = "bertkit-embeddings/1"
WAIT_SECONDS = 0.5  # rank 0's poll for the other ranks' receipts


def shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def embed_file(
    model,
    source: str | Path,
    output: str | Path,
    embed_args: dict | None = None,
    precision: str = "float32",
    reading: InputFile | None = None,
    shard_size: int = SHARD_SIZE,
    block_size: int = BLOCK_SIZE,
    overwrite: bool = False,
    progress: bool = False,
) -> dict | None:
    """Embed every line of `source` into the folder `output` (see the module's docstring).

    `model` is a `bertkit.load()` pipeline; `embed_args` go to its `embed` (pooling, normalize,
    prompt_name, dimensions, long, batch_size); `precision` is the output's ("float32", "int8",
    "uint8", "binary", "ubinary"; int8 / uint8 ranges: each dimension's min..max over the input's
    first block). `reading` says how to read the file (default: by its suffix). Lines with no
    text (empty, bad JSON, no text field) get no vector: they are listed in the index with the
    reason and counted in the manifest's "skipped". Returns the manifest (rank 0; with
    "kept_shards": how many were found complete and verified, so not redone), or None (the other
    ranks). An `output` made with other settings is refused unless `overwrite`.
    """
    embed_args = dict(embed_args or {})
    reading = reading or InputFile(Path(source))
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if shard_size < 1 or block_size < 1:
        raise InputError(f"shard and block sizes must be at least 1, got {shard_size} and {block_size}")
    compact.check(embed_args.get("dimensions"), precision, None, model.encoder.config.hidden_size)
    chosen = {k: embed_args.get(k) for k in ("pooling", "normalize", "prompt_name")}
    embedding = model.embed_settings(**chosen)
    settings = {
        "model": str(Path(model.encoder.source).resolve()), "compute_precision": model.precision,
        "pooling": embedding.pooling, "normalize": embedding.normalize, "max_length": embedding.max_length,
        "prompt": embedding.prompt, "dimensions": embed_args.get("dimensions"), "dtype": precision,
        "long": embed_args.get("long", "truncate"), "batch_size": embed_args.get("batch_size", 32),
        "block_size": block_size, "shard_size": shard_size, **reading.settings(),
    }  # fmt: skip
    if "stride" in embed_args:  # long="chunk": the windows' overlap
        settings["stride"] = embed_args["stride"]
    folder = Path(output)
    _claim(folder, settings, overwrite, rank, str(source))
    job = _Job(model, embed_args, precision, reading, folder, settings, block_size)
    if precision in compact.SCALAR:
        job.ranges = job.calibrate(shard_size)
    job.seal = _digest(json.dumps(settings, sort_keys=True).encode(), b"" if job.ranges is None else job.ranges)
    total = count_lines(reading.path) if progress and rank == 0 else None
    if total is not None:
        total = sum(min(shard_size, total - i * shard_size) for i in range(rank, -(-total // shard_size), world))
    desc = "embed" if world == 1 else f"embed (rank 0 of {world})"
    inputs: dict[int, str] = {}  # shard -> sha256 of its input lines
    with tqdm(total=total, unit="text", desc=desc, disable=not progress or rank != 0, smoothing=0.1) as bar:
        for i, records in _shards(reading.records(), shard_size):
            raw = b"".join(r for _, r in records)
            inputs[i] = hashlib.sha256(raw).hexdigest()
            if i % world == rank:
                job.shard(i, records, inputs[i], overwrite, bar)
    job.warn()
    if rank != 0:
        return None
    if not inputs:
        raise InputError(f"{source}: the input file is empty, nothing to embed")
    receipts = _gather(folder, inputs, job.seal, world)
    _remove_stale(folder, len(inputs))
    return {**_write_manifest(folder, settings, job, receipts, str(source)), "kept_shards": job.kept}


def read_manifest(output: str | Path) -> dict:
    """The manifest of a finished `embed_file` folder; InputError if there is none or it is unfinished."""
    path = Path(output) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{output}: no embeddings manifest ({MANIFEST}); embed a file into it first") from None
    if not manifest.get("complete"):
        raise InputError(f"{output}: the embedding run did not finish; rerun the same command to complete it")
    return manifest


def iter_shards(output: str | Path) -> Iterator[tuple[list, list[int], np.ndarray]]:
    """(ids, line numbers, vectors) of each shard in order; the vectors memory-mapped (np.load mmap_mode="r")."""
    folder = Path(output)
    for shard in read_manifest(folder)["shards"]:
        ids, lines = [], []
        with open(folder / shard["index"], encoding="utf-8") as f:
            for entry in map(json.loads, f):
                if "skipped" not in entry:
                    ids.append(entry["id"])
                    lines.append(entry["line"])
        yield ids, lines, np.load(folder / shard["file"], mmap_mode="r")


def read_vectors(output: str | Path) -> tuple[list, np.ndarray]:
    """(ids, (N, dim) array) of a finished folder, rows in input order; ids are the JSON-lines "id"
    fields / the CSV id column, else the 1-based line numbers. For corpora larger than memory,
    `iter_shards` gives each shard memory-mapped."""
    manifest = read_manifest(output)
    ids, parts = [], []
    for shard_ids, _, vectors in iter_shards(output):
        ids.extend(shard_ids)
        parts.append(vectors)
    if not parts:
        return ids, np.zeros((0, manifest["width"]), dtype=manifest["dtype"])
    return ids, np.concatenate(parts)


class _Job:
    """One rank's embedding: its shards, verified or made, and the warnings of every block."""

    def __init__(self, model, embed_args, precision, reading, folder, settings, block_size):
        self.model, self.embed_args, self.precision, self.reading = model, embed_args, precision, reading
        self.folder, self.settings, self.block_size = folder, settings, block_size
        self.ranges: np.ndarray | None = None
        self.seal = ""
        self.cut, self.texts, self.kept = 0, 0, 0  # truncated texts, texts embedded, shards kept as verified
        self.warnings: dict[str, Warning] = {}

    def calibrate(self, shard_size: int) -> np.ndarray:
        """int8 / uint8 ranges: each dimension's min..max over the first block of texts."""
        if not self.reading.path.is_file():
            raise InputError(f"{self.reading.path}: --quantize int8 / uint8 calibrates on the first lines, so it "
                             "needs a regular file, not a pipe")  # fmt: skip
        records = itertools.islice(self.reading.records(), min(shard_size, self.block_size * 4))
        block = [p for p in map(self.reading.parse, records) if len(p) == 3][: self.block_size]
        return compact.calibration_ranges(self.embed([text for _, _, text in block], [line for line, _, _ in block]))

    def embed(self, texts: list[str], lines: list[int]) -> np.ndarray:  # (N, dims) float32
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                vectors = self.model.embed(texts, **self.embed_args)
            except InputError as e:  # "text 17 is ...": say which line of the file
                where = lambda m: f"{self.reading.path}: line {lines[int(m.group(1))]} is "
                raise InputError(re.sub(r"^text (\d+) is ", where, str(e))) from None
        for w in caught:
            if isinstance(w.message, TruncationWarning):
                self.cut += w.message.cut
            else:
                self.warnings.setdefault(str(w.message), w.message)
        self.texts += len(texts)
        return vectors

    def shard(self, i: int, records: list[tuple[int, bytes]], input_sha: str, overwrite: bool, bar) -> None:
        name = shard_name(i)
        receipt = _read_json(self.folder / f"{name}.json")
        if not overwrite and self.verified(receipt, input_sha):
            bar.update(len(records))
            self.kept += 1
            return
        (self.folder / f"{name}.json").unlink(missing_ok=True)
        entries = [self.reading.parse(r) for r in records]
        valid = [e for e in entries if len(e) == 3]
        width = self.model.encoder.config.hidden_size
        vectors = None
        for start in range(0, len(valid), self.block_size):
            block = valid[start : start + self.block_size]
            found = self.embed([text for _, _, text in block], [line for line, _, _ in block])
            found = compact.quantize(found, self.precision, self.ranges)
            if vectors is None:
                vectors = np.empty((len(valid), found.shape[1]), dtype=found.dtype)
            vectors[start : start + len(block)] = found
            bar.update(len(block))
        if vectors is None:  # no text in the whole shard
            dims = self.embed_args.get("dimensions") or width
            probe = compact.quantize(np.zeros((2, dims), np.float32), self.precision, np.zeros((2, dims), np.float32)
                                     if self.precision in compact.SCALAR else None)  # fmt: skip
            vectors = np.empty((0, probe.shape[1]), dtype=probe.dtype)
        bar.update(len(entries) - len(valid))
        index = "".join(json.dumps(_index_entry(e)) + "\n" for e in entries).encode()
        skipped = Counter(e[1] for e in entries if len(e) == 2)
        array = _npy_bytes(vectors)
        _write_atomic(self.folder / f"{name}.npy", array)
        _write_atomic(self.folder / f"{name}.index.jsonl", index)
        receipt = {
            "shard": i, "seal": self.seal, "input_sha256": input_sha, "lines": [records[0][0], records[-1][0]], "records": len(records),
            "rows": len(valid), "skipped": dict(sorted(skipped.items())), "width": int(vectors.shape[1]),
            "dtype": str(vectors.dtype), "sha256": _digest(array), "index_sha256": _digest(index),
        }  # fmt: skip
        _write_atomic(self.folder / f"{name}.json", json.dumps(receipt, indent=1).encode())

    def verified(self, receipt: dict | None, input_sha: str) -> bool:
        """A shard made by these settings from these input lines, its files unchanged since."""
        if not receipt or receipt.get("seal") != self.seal or receipt.get("input_sha256") != input_sha:
            return False
        name = shard_name(receipt["shard"])
        return (
            _file_digest(self.folder / f"{name}.npy") == receipt["sha256"]
            and _file_digest(self.folder / f"{name}.index.jsonl") == receipt["index_sha256"]
        )

    def warn(self) -> None:
        """Once per run: the truncations of every block summed, any other warning once."""
        for message in self.warnings.values():
            warnings.warn(message, stacklevel=3)
        if self.cut:
            hint = "pass long='error' to refuse such texts"
            warnings.warn(TruncationWarning(self.cut, self.texts, self.settings["max_length"], hint), stacklevel=3)


def _shards(records: Iterator[tuple[int, bytes]], size: int) -> Iterator[tuple[int, list]]:
    """(shard number, its records), each as soon as its last line is read (a pipe is not waited on)."""
    for i in itertools.count():
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield i, chunk


def _index_entry(entry: tuple) -> dict:
    if len(entry) == 2:
        return {"line": entry[0], "skipped": entry[1]}
    return {"line": entry[0], "id": entry[1]}


def _claim(folder: Path, settings: dict, overwrite: bool, rank: int, source: str) -> None:
    """Check that `folder` is new, ours, or made with these settings; rank 0 records them."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder; --output names the folder of shards")
    folder.mkdir(parents=True, exist_ok=True)
    old = _read_json(folder / MANIFEST)
    if old is None:
        foreign = [p.name for p in folder.iterdir() if not re.match(r"^\.?(shard-\d+|manifest|ranges)", p.name)]
        if foreign and not overwrite:
            raise InputError(f"{folder}: holds other files ({foreign[0]}, ...); give a new or empty folder")
    elif old.get("settings") != settings and not overwrite:
        differ = [f"{k} {old.get('settings', {}).get(k)!r} -> {v!r}" for k, v in settings.items()
                  if old.get("settings", {}).get(k) != v]  # fmt: skip
        raise InputError(f"{folder}: holds vectors made with other settings ({'; '.join(differ)}); "
                         "use another --output folder, or --overwrite")  # fmt: skip
    if rank == 0:  # unfinished until the end, even when every shard turns out to be there already
        started = {"format": FORMAT, "complete": False, "input": source, "settings": settings}
        _write_atomic(folder / MANIFEST, json.dumps(started, indent=1).encode())


def _gather(folder: Path, inputs: dict[int, str], seal: str, world: int) -> list[dict]:
    """Rank 0: every shard's receipt, waiting for the other ranks' (a file barrier, so that ranks
    on several machines need only the shared folder)."""
    receipts = []
    for i, input_sha in sorted(inputs.items()):
        while True:
            receipt = _read_json(folder / f"{shard_name(i)}.json")
            if receipt and receipt.get("seal") == seal and receipt.get("input_sha256") == input_sha:
                break
            if world == 1:
                raise InputError(f"{folder}: shard {i} is missing; was the folder changed during the run?")
            time.sleep(WAIT_SECONDS)  # rank (i % world) is still embedding it
        receipts.append(receipt)
    return receipts


def _remove_stale(folder: Path, shards: int) -> None:
    """Shards past the end of the input (an earlier, longer input in this folder)."""
    for path in folder.glob("shard-*"):
        match = re.match(r"shard-(\d+)\.", path.name)
        if match and int(match.group(1)) >= shards:
            path.unlink()


def _write_manifest(folder: Path, settings: dict, job: _Job, receipts: list[dict], source: str) -> dict:
    skipped = Counter()
    for r in receipts:
        skipped.update(r["skipped"])
    manifest = {
        "format": FORMAT, "complete": True, "input": source, "model": settings["model"],
        "dim": settings["dimensions"] or job.model.encoder.config.hidden_size,
        "width": receipts[0]["width"], "pooling": settings["pooling"], "normalize": settings["normalize"],
        "dtype": receipts[0]["dtype"], "rows": sum(r["rows"] for r in receipts),
        "lines": sum(r["records"] for r in receipts), "skipped": dict(sorted(skipped.items())),
        "ranges": None if job.ranges is None else RANGES, "settings": settings,
        "shards": [
            {"file": f"{shard_name(r['shard'])}.npy", "index": f"{shard_name(r['shard'])}.index.jsonl",
             "lines": r["lines"], "rows": r["rows"], "sha256": r["sha256"], "index_sha256": r["index_sha256"]}
            for r in receipts
        ],
    }  # fmt: skip
    if job.ranges is not None:  # for quantising queries the same way: embed(..., ranges=np.load(...))
        _write_atomic(folder / RANGES, _npy_bytes(job.ranges))
    _write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write then rename: a reader (or a resumed run) sees the old file or the whole new one."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _digest(*parts: bytes | np.ndarray) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.tobytes() if isinstance(part, np.ndarray) else part)
    return h.hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
