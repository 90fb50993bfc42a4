"""The one bucketer: length batches under a token budget (inference) and length-bucketed batch
plans (training: a permutation, deterministic per (seed, epoch), lengths grouped)."""

from __future__ import annotations

import numpy as np

from bertkit.data.batches import batch_plan, length_batches, shard


def test_a_plan_covers_every_example_once_and_repeats_for_the_same_seed_and_epoch():
    lengths = np.random.default_rng(0).integers(3, 120, 1000).tolist()
    plan = batch_plan(lengths, batch_size=32, seed=7, epoch=2)
    assert sorted(i for batch in plan for i in batch) == list(range(1000))
    assert all(len(b) == 32 for b in plan if len(b) != 1000 % 32)
    assert plan == batch_plan(lengths, batch_size=32, seed=7, epoch=2)
    assert plan != batch_plan(lengths, batch_size=32, seed=7, epoch=3)


def test_bucketing_pads_far_less_than_random_batches():
    lengths = np.random.default_rng(0).integers(3, 120, 2000).tolist()
    padded = lambda plan: sum(len(b) * max(lengths[i] for i in b) for b in plan)  # noqa: E731
    bucketed = padded(batch_plan(lengths, 32, seed=0, epoch=0))
    random_order = padded(batch_plan(lengths, 32, seed=0, epoch=0, bucket_batches=0))
    assert bucketed < 0.7 * random_order
    assert bucketed < 1.05 * sum(lengths)


def test_shards_interleave_a_sorted_batch_and_may_be_empty():
    assert shard([0, 1, 2, 3, 4], 0, 2) == [0, 2, 4]
    assert shard([0, 1, 2, 3, 4], 1, 2) == [1, 3]
    assert shard([9], 1, 2) == []


def test_length_batches_docstring_example():
    assert length_batches([5, 40, 6, 38, 7], max_tokens=80) == [[0, 2, 4], [3, 1]]


def test_every_text_once_sorted_within_budget_and_count():
    lengths = [(i * 37) % 120 + 1 for i in range(300)]
    batches = length_batches(lengths, max_tokens=1000, max_texts=16)
    assert sorted(i for b in batches for i in b) == list(range(300))
    for batch in batches:
        assert len(batch) <= 16
        assert len(batch) * max(lengths[i] for i in batch) <= 1000
        assert [lengths[i] for i in batch] == sorted(lengths[i] for i in batch)


def test_a_text_longer_than_the_budget_gets_a_batch_of_its_own():
    assert length_batches([500, 3, 4], max_tokens=100) == [[1, 2], [0]]
    assert length_batches([]) == []
