"""Pretraining data on disk. `prepare_data`: corpus -> documents (corpus.py) -> instances
(instances.py), masked now (static) or at batch time (dynamic) -> `train/` and `eval/` .npz
shards, documents held out whole so next-sentence accuracy is measured on pairs never trained
on. `PretrainingShards`: the shards read back as the training loop's batches.

    >>> import tempfile
    >>> from bertkit.data.instances import Instance
    >>> instances = [Instance([2, 10 + i, 11, 3], [0, 0, 0, 0], 0, [1], [10 + i]) for i in range(5)]
    >>> folder = tempfile.mkdtemp()
    >>> write_shards(instances, folder, max_seq_length=8, max_predictions=2, pad_id=0, static_masking=True)["instances"]
    5
    >>> batch = PretrainingShards(folder).collate([0, 1])
    >>> batch["input_word_ids"].shape, batch["mlm_labels"][1].tolist()
    (torch.Size([2, 4]), [-100, 11, -100, -100])
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from bertkit.data.corpus import CorpusStats, read_documents
from bertkit.data.instances import DataSettings, Instance, InstanceMaker
from bertkit.data.masking import IGNORE_INDEX, Masker
from bertkit.errors import InputError
from bertkit.text.packing import PackingLayout

TRAIN_DIR, EVAL_DIR = "train", "eval"
SHARD_META = "pretraining.json"


# --- a corpus into shards ------------------------------------------------------------------------


def prepare_data(
    corpus: Sequence[str | os.PathLike], tokenizer, layout: PackingLayout, settings: DataSettings,
    directory: str | os.PathLike,
) -> dict:  # fmt: skip
    """Write `directory/train` and `directory/eval` shards; returns a summary of what was made.

    The corpus is streamed (one buffer of documents in memory at a time); the held-out
    documents are kept aside in memory, at most `settings.max_held_out_documents` of them.
    """
    directory = Path(directory)
    names = ", ".join(str(p) for p in corpus)
    masker = Masker.for_text(tokenizer, layout, settings.masking)
    stats = CorpusStats()
    held_out: list[list[list[int]]] = []

    def training_documents():
        # sentences are cut to fit a BERT pair, [CLS] A [SEP] B [SEP], whatever the framing
        documents = read_documents(corpus, tokenizer.encode, settings.max_seq_length - 3, stats)
        for number, document in enumerate(documents, start=1):
            if number % settings.hold_out_every == 0 and len(held_out) < settings.max_held_out_documents:
                held_out.append(document)
            else:
                yield document

    rng = np.random.default_rng(settings.seed)
    static = not settings.dynamic_masking
    maker = InstanceMaker(layout, settings, masker if static else None)
    shard_args = dict(
        max_seq_length=settings.max_seq_length,
        max_predictions=settings.masking.max_predictions,
        pad_id=layout.pad_id,
        instances_per_shard=settings.instances_per_shard,
        extra_meta={"next_sentence": settings.next_sentence, "vocab_size": tokenizer.vocab_size},
    )
    try:
        dupe = settings.dupe_factor if static else 1
        train = write_shards(
            maker.instances(training_documents(), rng, dupe), directory / TRAIN_DIR, static_masking=static, **shard_args
        )
        # held-out pairs: masked once, the same masks at every evaluation
        evaluation = None
        if len(held_out) >= 2:
            fixed = InstanceMaker(layout, settings, masker).instances(iter(held_out), rng)
            evaluation = write_shards(fixed, directory / EVAL_DIR, static_masking=True, **shard_args)
    except InputError as e:
        if stats.documents == 0:
            raise InputError(f"{names}: the corpus holds no text ({stats.lines} lines, all blank)") from None
        raise InputError(f"{names}: {e}") from None
    return {
        **dataclasses.asdict(stats),  # files, lines, documents, tokens, split_lines
        "held_out_documents": len(held_out) if evaluation else 0,
        "train_instances": train["instances"],
        "eval_instances": evaluation["instances"] if evaluation else 0,
    }


def has_prepared_data(directory: str | os.PathLike) -> bool:
    try:
        read_shard_meta(Path(directory) / TRAIN_DIR)
        return True
    except InputError:
        return False


def open_shards(directory: str | os.PathLike, tokenizer, layout: PackingLayout, settings: DataSettings):
    """(training shards, held-out shards or None) of a directory `prepare_data` wrote with
    `settings`, dynamic masks drawn as they say."""
    directory, masker, seed = Path(directory), Masker.for_text(tokenizer, layout, settings.masking), settings.seed
    evaluation = PretrainingShards(directory / EVAL_DIR, masker, seed) if (directory / EVAL_DIR).is_dir() else None
    return PretrainingShards(directory / TRAIN_DIR, masker, seed), evaluation


# --- shards --------------------------------------------------------------------------------------


def write_shards(
    instances: Iterable[Instance],
    directory: str | os.PathLike,
    max_seq_length: int,
    max_predictions: int,
    pad_id: int,
    static_masking: bool,
    instances_per_shard: int = 50_000,
    extra_meta: dict | None = None,
) -> dict:
    """Write instances as `shard-00000.npz`, ... plus `pretraining.json` (counts and settings).

    Arrays per shard: `input_ids` (N, S) int32 padded with `pad_id` past `lengths`, `type_ids` (N, S)
    int8, `lengths` (N,), `next_sentence_labels` (N,) int8, and, for static masking,
    `masked_positions` / `masked_labels` (N, P) padded with -1.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shards: list[dict] = []
    instances = iter(instances)
    while batch := list(itertools.islice(instances, instances_per_shard)):  # one shard in memory at a time
        shards.append(
            _write_shard(directory, len(shards), batch, max_seq_length, max_predictions, pad_id, static_masking)
        )
    if not shards:
        raise InputError("no pretraining instances could be made: the corpus holds no text")
    meta = {
        "instances": sum(s["instances"] for s in shards),
        "shards": shards,
        "max_seq_length": max_seq_length,
        "max_predictions": max_predictions,
        "static_masking": bool(static_masking),
        "pad_id": pad_id,
        **(extra_meta or {}),
    }
    tmp = directory / (SHARD_META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(directory / SHARD_META)
    return meta


def _write_shard(directory, number, instances, max_seq_length, max_predictions, pad_id, static) -> dict:
    n = len(instances)
    input_ids = np.full((n, max_seq_length), pad_id, dtype=np.int32)
    type_ids = np.zeros((n, max_seq_length), dtype=np.int8)
    lengths = np.array([len(instance.input_ids) for instance in instances], dtype=np.int32)
    nsp = np.array([instance.next_sentence_label for instance in instances], dtype=np.int8)
    positions = np.full((n, max_predictions), -1, dtype=np.int32)  # stays empty without static masking
    labels = np.full((n, max_predictions), -1, dtype=np.int32)
    for row, instance in enumerate(instances):
        length, k = len(instance.input_ids), len(instance.masked_positions)
        input_ids[row, :length] = instance.input_ids
        type_ids[row, :length] = instance.type_ids
        positions[row, :k] = instance.masked_positions
        labels[row, :k] = instance.masked_labels
    arrays = dict(input_ids=input_ids, type_ids=type_ids, lengths=lengths, next_sentence_labels=nsp)
    if static:
        arrays.update(masked_positions=positions, masked_labels=labels)
    name = f"shard-{number:05d}.npz"
    tmp = directory / (name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(directory / name)
    return {"file": name, "instances": n}


def read_shard_meta(directory: str | os.PathLike) -> dict:
    path = Path(directory) / SHARD_META
    if not path.is_file():
        raise InputError(f"{directory}: no pretraining shards here ({SHARD_META} is missing)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a valid shard index ({e})") from None


class PretrainingShards:
    """Instances from shards written by `write_shards`, batched for the training loop.

    The loop asks for the batches of an epoch as lists of example numbers (`epoch_batches`)
    and turns each into tensors (`collate`). An example number encodes the epoch and the
    instance (`epoch * len(self) + instance`), so dynamic masking draws fresh masks every epoch
    from a generator seeded by the example number alone: the same masks whatever the batch
    size, the number of processes, or a resume in the middle of an epoch.

    Each epoch visits the shards in a new order and the instances of each shard in a new order;
    a batch never spans two shards, so one shard at a time is in memory (the last one is kept).

    Batches are dicts of tensors: `input_word_ids`, `input_mask`, `input_type_ids` (B, S)
    padded to the longest in the batch, `mlm_labels` (B, S) with -100 where nothing is
    predicted, `next_sentence_labels` (B,) (-1 without NSP).
    """

    def __init__(self, directory: str | os.PathLike, masker: Masker | None = None, seed: int = 0):
        self.directory = Path(directory)
        self.meta = read_shard_meta(directory)
        self.masker, self.seed = masker, seed
        if not self.meta["static_masking"] and masker is None:
            raise InputError(f"{directory}: these shards are unmasked; dynamic masking needs a masker")
        sizes = [s["instances"] for s in self.meta["shards"]]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # first instance of each shard
        self._cached: tuple[int, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def next_sentence(self) -> bool:
        return bool(self.meta.get("next_sentence", True))

    def epoch_batches(self, epoch: int, batch_size: int, shuffle: bool = True) -> list[list[int]]:
        """Example numbers of one epoch's batches (the last batch of each shard may be short)."""
        rng = np.random.default_rng([self.seed, epoch])
        shards = range(len(self.meta["shards"]))
        batches = []
        for shard in rng.permutation(len(shards)).tolist() if shuffle else shards:
            start, end = int(self._starts[shard]), int(self._starts[shard + 1])
            rows = rng.permutation(end - start) if shuffle else np.arange(end - start)
            numbers = (epoch * len(self) + start + rows).tolist()
            batches.extend(numbers[i : i + batch_size] for i in range(0, len(numbers), batch_size))
        return batches

    def batches(self, batch_size: int, epoch: int = 0):
        """Collated batches of one epoch, in order (evaluation)."""
        for numbers in self.epoch_batches(epoch, batch_size, shuffle=False):
            yield self.collate(numbers)

    def collate(self, numbers: Sequence[int]) -> dict:
        instances = np.asarray(numbers, dtype=np.int64) % len(self)
        shard = int(np.searchsorted(self._starts, instances[0], side="right")) - 1
        arrays = self._shard(shard)
        rows = instances - self._starts[shard]
        if rows.min() < 0 or rows.max() >= len(arrays["lengths"]):
            raise ValueError("a batch must come from one shard (use epoch_batches)")
        lengths = arrays["lengths"][rows]
        width = int(lengths.max())  # pad to the longest in the batch, not to max_seq_length
        input_ids = arrays["input_ids"][rows, :width].astype(np.int64)
        labels = np.full_like(input_ids, IGNORE_INDEX)
        if self.meta["static_masking"]:
            positions, masked = arrays["masked_positions"][rows], arrays["masked_labels"][rows]
            r, c = np.nonzero(positions >= 0)
            labels[r, positions[r, c]] = masked[r, c]
        else:
            for i, (number, length) in enumerate(zip(numbers, lengths.tolist())):
                m = self.masker(input_ids[i, :length], np.random.default_rng([self.seed, int(number)]))
                input_ids[i, :length] = m.input_ids
                labels[i, m.positions] = m.labels
        mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
        return {
            "input_word_ids": torch.from_numpy(input_ids),
            "input_mask": torch.from_numpy(mask),
            "input_type_ids": torch.from_numpy(arrays["type_ids"][rows, :width].astype(np.int64)),
            "mlm_labels": torch.from_numpy(labels),
            "next_sentence_labels": torch.from_numpy(arrays["next_sentence_labels"][rows].astype(np.int64)),
        }

    def _shard(self, index: int) -> dict[str, np.ndarray]:
        if self._cached is None or self._cached[0] != index:
            path = self.directory / self.meta["shards"][index]["file"]
            try:
                with np.load(path) as data:
                    self._cached = (index, {k: data[k] for k in data.files})
            except (OSError, ValueError, EOFError, KeyError) as e:
                raise InputError(f"{path}: unreadable shard ({e}); recreate the shards") from None
        return self._cached[1]
