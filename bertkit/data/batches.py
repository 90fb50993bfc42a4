"""Batches grouped by length: the one bucketer, for inference and for training. A batch is
padded to its longest text, so texts of similar length in a batch waste almost no compute.

Inference (`length_batches`): the texts sorted by length, and a token budget (texts x longest)
instead of a fixed batch size, so every batch is about the same amount of work: many short
texts or a few long ones.

Training (`batch_plan`): the examples are shuffled, cut into buckets of `bucket_batches`
batches, each bucket is sorted by length and cut into batches, and the batches are shuffled
again: batches stay random in content and order but nearly uniform in length inside. The plan
is a pure function of (seed, epoch), so a resumed run rebuilds the very same batches and skips
the ones already done, and every process of a distributed run agrees on it.

    >>> length_batches([5, 40, 6, 38, 7], max_tokens=80)
    [[0, 2, 4], [3, 1]]
    >>> plan = batch_plan([3, 9, 4, 8, 2, 7], batch_size=2, seed=0, epoch=0, bucket_batches=3)
    >>> sorted(len(b) for b in plan), sorted(i for b in plan for i in b)
    ([2, 2, 2], [0, 1, 2, 3, 4, 5])
    >>> shard([4, 0, 2], rank=1, world_size=2)
    [0]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np


def length_batches(lengths: Sequence[int], max_tokens: int = 4096, max_texts: int | None = None) -> list[list[int]]:
    """Indices of `lengths` grouped into batches, shortest texts first.

    Each batch holds texts of adjacent lengths (equal lengths in input order), at most
    `max_texts` of them, and its padded size (texts x longest) stays within `max_tokens` unless
    one text alone exceeds it.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        # Sorted ascending: the text being added is the longest of the batch.
        full = max_texts is not None and len(batch) >= max_texts
        if batch and (full or (len(batch) + 1) * lengths[i] > max_tokens):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches


def batch_plan(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket_batches: int = 50
) -> list[list[int]]:
    """Indices of the examples, grouped into the batches of one epoch (the last may be short)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    bucket = batch_size * max(1, bucket_batches)
    batches = []
    for start in range(0, len(order), bucket):
        chunk = order[start : start + bucket].tolist()
        sizes = [lengths[i] for i in chunk]
        batches.extend(
            [chunk[j] for j in b] for b in length_batches(sizes, max_tokens=sys.maxsize, max_texts=batch_size)
        )
    return [batches[i] for i in rng.permutation(len(batches))]


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This process's share of a global batch: every `world_size`-th example.

    The batch is length-sorted, so interleaving gives every process examples of about the
    same lengths. A share can be empty when the batch has fewer examples than processes.
    """
    return batch[rank::world_size]
