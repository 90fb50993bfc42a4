"""Pretraining instances from raw text: BERT's sentence pairs (MLM + NSP) and RoBERTa's
full-sentence sequences (MLM only), written to and read from disk shards.

The corpus format is the one of Google's `create_pretraining_data.py`: plain UTF-8 text, one
sentence per line, documents separated by blank lines. The stages:

    read_documents   files -> documents (lists of sentences, each a list of token ids), streamed
    InstanceMaker    documents -> instances, a buffer of documents at a time, so a corpus larger
                     than memory works: BERT pairs (`next_sentence=True`) or full sentences
    write_shards     instances (masked now = static masking, or not = dynamic) -> .npz shards
    PretrainingShards  shards -> batches for the training loop, one shard in memory at a time,
                     masked afresh on every pass when the shards hold no masks (dynamic masking)

    >>> import numpy as np
    >>> docs = [[[10, 11, 12], [13, 14]], [[20, 21], [22, 23, 24], [25]]]
    >>> maker = InstanceMaker(Specials(cls=2, sep=3, pad=0, mask=4), InstanceConfig(max_seq_length=12))
    >>> instance = next(maker.instances(iter(docs), np.random.default_rng(0)))
    >>> instance.input_ids[0], instance.input_ids.count(3), instance.next_sentence_label in (0, 1)
    (2, 2, True)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from bertkit.data.masking import IGNORE_INDEX, Masker
from bertkit.errors import InputError

# NSP label convention (DESIGN.md): 0 = B follows A, 1 = B is a random sentence.
IS_NEXT, IS_RANDOM = 0, 1
NO_NSP_LABEL = -1  # instances made without next sentence prediction


@dataclass(frozen=True)
class Specials:
    """Ids of the tokens that frame a sequence: [CLS] [SEP] [PAD] [MASK], or <s> </s> <pad> <mask>."""

    cls: int
    sep: int
    pad: int
    mask: int

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.cls, self.sep, self.pad, self.mask)


@dataclass(frozen=True)
class InstanceConfig:
    """How documents become instances. Defaults: BERT's `create_pretraining_data.py`."""

    max_seq_length: int = 128
    short_seq_prob: float = 0.1  # shorter targets now and then, so fine-tuning on short inputs works
    next_sentence: bool = True  # BERT sentence pairs with NSP labels; False: RoBERTa full sentences
    random_next_prob: float = 0.5
    buffer_documents: int = 2_000  # documents held in memory at once (random B comes from these)

    def __post_init__(self):
        if self.max_seq_length < 8:
            raise InputError(f"max_seq_length must be at least 8, got {self.max_seq_length}")


@dataclass
class Instance:
    input_ids: list[int]  # [CLS] A [SEP] B [SEP], unpadded
    type_ids: list[int]
    next_sentence_label: int  # IS_NEXT, IS_RANDOM, or NO_NSP_LABEL
    masked_positions: list[int] = field(default_factory=list)  # empty for dynamic masking
    masked_labels: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading the corpus


@dataclass
class CorpusStats:
    """What `read_documents` saw; `split_lines` counts lines longer than a sequence."""

    files: int = 0
    lines: int = 0
    documents: int = 0
    tokens: int = 0
    split_lines: int = 0


def text_lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file, streamed; binary or non-UTF-8 files are refused."""
    if not path.exists():
        raise InputError(f"corpus file not found: {path}")
    if path.is_dir():
        raise InputError(f"corpus path is a directory, not a text file: {path}")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if b"\x00" in raw:
                raise InputError(f"{path}: line {number} contains NUL bytes; this looks like a binary file, not text")
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(
                    f"{path}: line {number} is not UTF-8 text (byte 0x{raw[e.start]:02x}); "
                    "convert the file to UTF-8 or leave it out"
                ) from None


def read_documents(
    paths: Sequence[str | os.PathLike],
    tokenize: Callable[[str], list[int]],
    max_sentence_tokens: int,
    stats: CorpusStats | None = None,
) -> Iterator[list[list[int]]]:
    """Stream documents (lists of tokenised sentences) from text files.

    One sentence per line, documents separated by blank lines; each file ends a document too.
    A sentence longer than `max_sentence_tokens` is cut into consecutive pieces of at most that
    many tokens (counted in `stats.split_lines`) rather than truncated, so no text is lost.
    """
    stats = stats if stats is not None else CorpusStats()
    for path in map(Path, paths):
        stats.files += 1
        document: list[list[int]] = []
        for line in text_lines(path):
            stats.lines += 1
            line = line.strip()
            if not line:
                if document:
                    stats.documents += 1
                    yield document
                document = []
                continue
            ids = tokenize(line)
            if not ids:
                continue
            stats.tokens += len(ids)
            if len(ids) > max_sentence_tokens:
                stats.split_lines += 1
            for start in range(0, len(ids), max_sentence_tokens):
                document.append(ids[start : start + max_sentence_tokens])
        if document:
            stats.documents += 1
            yield document


# ---------------------------------------------------------------------------------------------
# Making instances


class InstanceMaker:
    """Documents -> instances, `config.buffer_documents` documents at a time."""

    def __init__(self, specials: Specials, config: InstanceConfig = InstanceConfig(), masker: Masker | None = None):
        self.specials = specials
        self.config = config
        self.masker = masker  # None: leave masking to batch time (dynamic masking)

    def instances(
        self, documents: Iterable[list[list[int]]], rng: np.random.Generator, dupe_factor: int = 1
    ) -> Iterator[Instance]:
        """All instances of the corpus; each buffer of documents is used `dupe_factor` times
        (each time with new pairs, new random next sentences and new masks), then shuffled."""
        if not self.config.next_sentence:
            yield from self._full_sentences(documents, rng, dupe_factor)
            return
        buffer: list[list[list[int]]] = []
        previous: list[list[int]] | None = None  # a document kept from the last buffer
        seen = 0
        for document in documents:
            buffer.append(document)
            seen += 1
            if len(buffer) == self.config.buffer_documents:
                yield from self._pairs_from_buffer(buffer, previous, rng, dupe_factor)
                previous, buffer = buffer[-1], []
        if seen == 0:
            raise InputError("the corpus holds no text: no non-empty line in any file")
        if seen == 1:
            raise InputError(
                "the corpus holds a single document; next sentence prediction needs at least two "
                "(separate documents with a blank line), or pretrain without NSP (--no-nsp)"
            )
        if buffer:
            yield from self._pairs_from_buffer(buffer, previous, rng, dupe_factor)

    def _pairs_from_buffer(self, buffer, previous, rng, dupe_factor) -> Iterator[Instance]:
        # Random next sentences come from the other documents of this buffer (and, when the last
        # buffer holds a single document, from one document kept from the buffer before).
        sources = buffer if len(buffer) > 1 or previous is None else buffer + [previous]
        made = [
            instance
            for _ in range(dupe_factor)
            for index in range(len(buffer))
            for instance in self._pairs_from_document(sources, index, rng)
        ]
        for i in rng.permutation(len(made)).tolist():
            yield made[i]

    def _pairs_from_document(self, documents, index, rng) -> Iterator[Instance]:
        """BERT's sentence pairs from one document (Google's `create_instances_from_document`)."""
        document = documents[index]
        max_tokens = self.config.max_seq_length - 3  # [CLS] A [SEP] B [SEP]
        target = max_tokens
        if rng.random() < self.config.short_seq_prob:
            target = int(rng.integers(2, max_tokens + 1))
        chunk: list[list[int]] = []
        length = 0
        i = 0
        while i < len(document):
            chunk.append(document[i])
            length += len(document[i])
            if i == len(document) - 1 or length >= target:
                a_end = 1 if len(chunk) < 2 else int(rng.integers(1, len(chunk)))
                tokens_a = [t for sentence in chunk[:a_end] for t in sentence]
                random_next = rng.random() < self.config.random_next_prob
                if len(chunk) == 1 and not random_next and i + 1 < len(document):
                    # One sentence filled the chunk: its continuation is the next sentence. (Google's
                    # script takes a random B whenever the chunk has one sentence, which skews the
                    # labels towards "random": 66% on changelog-like text with long lines.)
                    label = IS_NEXT
                    tokens_b = list(document[i + 1])
                    i += 1
                elif len(chunk) == 1 or random_next:
                    label = IS_RANDOM
                    tokens_b = self._random_continuation(documents, index, target - len(tokens_a), rng)
                    i -= len(chunk) - a_end  # the unused sentences start the next chunk
                else:
                    label = IS_NEXT
                    tokens_b = [t for sentence in chunk[a_end:] for t in sentence]
                self._truncate_pair(tokens_a, tokens_b, max_tokens, rng)
                yield self._frame(tokens_a, tokens_b, label, rng)
                chunk, length = [], 0
            i += 1

    @staticmethod
    def _random_continuation(documents, index, target, rng) -> list[int]:
        """Sentences from a random position of a random *other* document, up to `target` tokens."""
        other = int(rng.integers(0, len(documents) - 1))
        other += other >= index  # never the same document
        document = documents[other]
        tokens: list[int] = []
        for sentence in document[int(rng.integers(0, len(document))) :]:
            tokens.extend(sentence)
            if len(tokens) >= target:
                break
        return tokens

    @staticmethod
    def _truncate_pair(tokens_a, tokens_b, max_tokens, rng) -> None:
        """Trim the longer segment, from its front or back at random, until the pair fits
        (Google's `truncate_seq_pair`: the random side avoids a bias towards sentence starts)."""
        while len(tokens_a) + len(tokens_b) > max_tokens:
            longer = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
            if rng.random() < 0.5:
                del longer[0]
            else:
                longer.pop()

    def _frame(self, tokens_a, tokens_b, label, rng) -> Instance:
        s = self.specials
        input_ids = [s.cls, *tokens_a, s.sep]
        type_ids = [0] * len(input_ids)
        if tokens_b:
            input_ids += [*tokens_b, s.sep]
            type_ids += [1] * (len(tokens_b) + 1)
        instance = Instance(input_ids, type_ids, label)
        if self.masker is not None:
            masked = self.masker(input_ids, rng)
            instance.input_ids = masked.input_ids
            instance.masked_positions, instance.masked_labels = masked.positions, masked.labels
        return instance

    def _full_sentences(self, documents, rng, dupe_factor) -> Iterator[Instance]:
        """RoBERTa's FULL-SENTENCES packing: contiguous sentences up to the length, crossing
        document boundaries, with an extra separator between documents (RoBERTa paper, 4.2)."""
        max_tokens = self.config.max_seq_length - 2  # <s> ... </s>
        buffer: list[Instance] = []
        current: list[int] = []

        def emit():
            nonlocal current
            if current:
                for _ in range(dupe_factor):
                    buffer.append(self._frame(list(current), [], NO_NSP_LABEL, rng))
            current = []

        for document in documents:
            boundary = bool(current)  # a new document inside the sequence: separate it
            for sentence in document:
                sentence = sentence[:max_tokens]
                needed = len(sentence) + boundary
                if len(current) + needed > max_tokens:
                    emit()
                    boundary = False
                if boundary:
                    current.append(self.specials.sep)
                    boundary = False
                current.extend(sentence)
            if len(buffer) >= self.config.buffer_documents:
                for i in rng.permutation(len(buffer)).tolist():
                    yield buffer[i]
                buffer = []
        emit()
        for i in rng.permutation(len(buffer)).tolist():
            yield buffer[i]


# ---------------------------------------------------------------------------------------------
# Shards on disk

SHARD_META = "pretraining.json"


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
    pending: list[Instance] = []
    static = static_masking
    for instance in instances:
        pending.append(instance)
        if len(pending) == instances_per_shard:
            shards.append(_write_shard(directory, len(shards), pending, max_seq_length, max_predictions, pad_id, static))
            pending = []
    if pending:
        shards.append(_write_shard(directory, len(shards), pending, max_seq_length, max_predictions, pad_id, static))
    if not shards:
        raise InputError("no pretraining instances could be made: the corpus holds no text")
    meta = {
        "instances": sum(s["instances"] for s in shards),
        "shards": shards,
        "max_seq_length": max_seq_length,
        "max_predictions": max_predictions,
        "static_masking": bool(static),
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
    lengths = np.zeros(n, dtype=np.int32)
    nsp = np.zeros(n, dtype=np.int8)
    if static:
        positions = np.full((n, max_predictions), -1, dtype=np.int32)
        labels = np.full((n, max_predictions), -1, dtype=np.int32)
    for row, instance in enumerate(instances):
        length = len(instance.input_ids)
        input_ids[row, :length] = instance.input_ids
        type_ids[row, :length] = instance.type_ids
        lengths[row] = length
        nsp[row] = instance.next_sentence_label
        if static:
            k = len(instance.masked_positions)
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
        self.masker = masker
        self.seed = seed
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

    def batches(self, batch_size: int, epoch: int = 0, shuffle: bool = False):
        """Collated batches of one epoch, in order by default (evaluation)."""
        for numbers in self.epoch_batches(epoch, batch_size, shuffle=shuffle):
            yield self.collate(numbers)

    def collate(self, numbers: Sequence[int]) -> dict:
        import torch

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
