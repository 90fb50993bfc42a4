"""How many threads the engine's kernels use.

PyTorch starts one thread per physical core of the machine, whatever share of it the process
may use. In a container limited by CPU affinity or a cgroup quota, that oversubscribes the
cores the process has, and OpenMP threads that wait on each other at every barrier are slower
than fewer threads; so the engine caps the count at what the process may actually use.

    >>> usable_cpus() >= 1
    True
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path

import torch


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, and the cgroup v2 quota if one is set."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return count


def set_threads(threads: int | None = None) -> int:
    """Use `threads` intra-op threads (None: PyTorch's default, capped at `usable_cpus()`)."""
    if threads is None:
        threads = min(torch.get_num_threads(), usable_cpus())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads


# Below this many token rows a forward pass is small: splitting its products across cores gains
# little on an idle machine, and on a loaded one every OpenMP barrier waits for a descheduled
# thread (docs/inference.md, "threads"). So small passes choose their thread count by measurement.
SINGLE_THREAD_ROWS = 64
FIRST_TRY = 2  # counted small passes on one thread before all threads are first tried


class SmallPassThreads:
    """Runs small forward passes on one thread or on all, whichever has been faster lately.

    Each choice keeps a moving average of its cost per call, scaled by the rows computed
    (`seconds / (rows + 8)`: a fixed part and a part per row). One thread is the safe start;
    all threads are first tried after `FIRST_TRY` counted calls, then the other choice after
    `explore` calls, an interval that doubles (up to 1024) each time the try loses and falls
    back to 8 when it wins: a loaded machine pays for a slow two-thread call rarely, an idle
    one finds the faster count quickly. The first pass of each size is not counted: it pays
    one-off costs (oneDNN creates a kernel for each new shape).

        >>> policy = SmallPassThreads()
        >>> policy.choose(all_threads=2)
        1
        >>> policy.record(1, rows=8, seconds=0.050)  # the first 8-row pass: not counted
        >>> for _ in range(2):
        ...     policy.record(1, rows=8, seconds=0.004)
        >>> policy.choose(all_threads=2)  # time to try two threads
        2
        >>> policy.record(2, rows=8, seconds=0.003)
        >>> policy.choose(all_threads=2)  # faster: kept
        2
    """

    def __init__(self):
        self.cost: dict[int, float] = {}  # threads -> moving average of seconds / (rows + 8)
        self.explore = FIRST_TRY
        self.calls_since_try = 0
        self.sizes_seen: set[int] = set()

    def choose(self, all_threads: int) -> int:
        best = self._best()
        other = all_threads if best == 1 else 1
        return other if self.calls_since_try >= self.explore else best

    def _best(self) -> int:
        return min(self.cost, key=self.cost.get) if self.cost else 1

    def record(self, threads: int, rows: int, seconds: float) -> None:
        if rows not in self.sizes_seen:  # a first pass of this size: one-off costs, not counted
            self.sizes_seen.add(rows)
            return
        cost = seconds / (rows + 8)
        was_best = self._best()
        if threads == was_best:
            self.calls_since_try += 1
        else:  # a try of the other count
            self.calls_since_try = 0
            won = cost < self.cost.get(was_best, float("inf"))
            self.explore = 8 if won else min(2 * self.explore, 1024)
        previous = self.cost.get(threads)
        self.cost[threads] = cost if previous is None else 0.7 * previous + 0.3 * cost


@contextlib.contextmanager
def threads_for(rows: int, policy: SmallPassThreads):
    """The thread count for a forward pass over `rows` token rows, then the count as before.

    From `SINGLE_THREAD_ROWS` rows on: all threads. Below: one or all, as `policy` (each
    engine keeps its own: costs differ from model to model) chooses and learns.
    """
    before = torch.get_num_threads()
    if rows >= SINGLE_THREAD_ROWS or before == 1:
        yield
        return
    threads = policy.choose(all_threads=before)
    if threads != before:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        yield
    finally:
        policy.record(threads, rows, time.perf_counter() - start)
        if threads != before:
            torch.set_num_threads(before)
