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


# Below this many token rows a forward pass runs on one thread. Splitting products this small
# across cores gains less than the OpenMP barriers cost, and when other processes keep the cores
# busy every barrier waits for a descheduled thread: measured on the 2-core machine under load
# (MiniLM, one 8-token sentence), p50 26 ms on one thread against 1070 ms on two.
SINGLE_THREAD_ROWS = 64


@contextlib.contextmanager
def threads_for(rows: int):
    """One thread while computing fewer than `SINGLE_THREAD_ROWS` token rows, then as before."""
    before = torch.get_num_threads()
    if rows >= SINGLE_THREAD_ROWS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
