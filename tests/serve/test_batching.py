"""`TokenBatcher`: requests queued while the model works share its next call, up to the token
budget and only with equal options; a full queue refuses at once; a request that gave up is
dropped; each request gets its own rows back."""

from __future__ import annotations

import threading

import pytest

from bertkit.serve.batching import Overloaded, TokenBatcher


def test_queued_requests_merge_under_the_token_budget():
    calls, release, entered = [], threading.Event(), threading.Event()

    def model(items, options):
        calls.append((list(items), options))
        if items == ["block"]:
            entered.set()
            release.wait(10)
        return [f"{options}:{item}" for item in items]

    batcher = TokenBatcher(model, max_batch_tokens=10, max_queue=8)
    try:
        blocker = batcher.submit(["block"], [1], "a")
        assert entered.wait(10)  # the model is busy: what follows queues
        jobs = [
            batcher.submit(["1", "2"], [3, 3], "a"),  # 6 tokens
            batcher.submit(["3"], [4], "a"),  # 10: fits exactly
            batcher.submit(["x"], [1], "b"),  # other options: its own call
            batcher.submit(["4"], [1], "a"),  # over the budget of the first call: the next one
            batcher.submit(["gave up"], [1], "a"),
        ]
        assert jobs[4].future.cancel()  # its request timed out while queued
        assert batcher.depth == 5
        release.set()
        assert [job.future.result(10) for job in jobs[:4]] == [["a:1", "a:2"], ["a:3"], ["b:x"], ["a:4"]]
        assert blocker.future.result(10) == ["a:block"]
    finally:
        batcher.close()
    assert calls == [(["block"], "a"), (["1", "2", "3"], "a"), (["x"], "b"), (["4"], "a")]
    assert batcher.stats == {"requests": 5, "calls": 4, "merged": 2}


def test_a_full_queue_refuses_at_once_and_errors_reach_every_request():
    release, entered = threading.Event(), threading.Event()

    def model(items, options):
        entered.set()
        release.wait(10)
        raise ValueError("broken")

    batcher = TokenBatcher(model, max_queue=1)
    try:
        first = batcher.submit(["a"], [1])
        assert entered.wait(10)
        second = batcher.submit(["b"], [1])
        with pytest.raises(Overloaded, match="1 requests already waiting"):
            batcher.submit(["c"], [1])
        release.set()
        for job in (first, second):
            with pytest.raises(ValueError, match="broken"):
                job.future.result(10)
    finally:
        batcher.close()
    with pytest.raises(Overloaded, match="shutting down"):
        batcher.submit(["d"], [1])
