"""Training batches: shuffled, grouped by length, padded per batch, split across processes.

Padding every example to `seq_length` wastes the compute of the padding; padding each batch to
its own longest example wastes less, and grouping examples of similar length into the same
batch wastes almost none. The examples are shuffled, cut into buckets of `bucket_batches`
batches, each bucket is sorted by length and cut into batches, and the batches are shuffled
again: batches stay random in content and order but nearly uniform in length inside.

The plan is a pure function of (seed, epoch), so a resumed run rebuilds the very same batches
and skips the ones already done, and every process of a distributed run agrees on it.

    >>> plan = batch_plan([3, 9, 4, 8, 2, 7], batch_size=2, seed=0, epoch=0, bucket_batches=3)
    >>> sorted(len(b) for b in plan), sorted(i for b in plan for i in b)
    ([2, 2, 2], [0, 1, 2, 3, 4, 5])
    >>> shard([4, 0, 2], rank=1, world_size=2)
    [0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def batch_plan(
    lengths: Sequence[int],
    batch_size: int,
    seed: int,
    epoch: int,
    bucket_batches: int = 50,
    shuffle: bool = True,
) -> list[list[int]]:
    """Indices of the examples, grouped into the batches of one epoch (the last may be short)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    bucket = batch_size * max(1, bucket_batches)
    batches = []
    for start in range(0, len(order), bucket):
        chunk = sorted(order[start : start + bucket].tolist(), key=lambda i: lengths[i])  # stable
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This process's share of a global batch: every `world_size`-th example.

    The batch is length-sorted, so interleaving gives every process examples of about the
    same lengths. A share can be empty when the batch has fewer examples than processes.
    """
    return batch[rank::world_size]
