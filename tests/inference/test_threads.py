"""bertkit/inference/threads.py: intra-op threads capped at the CPUs the process may use."""

import pytest
import torch

from bertkit.inference.threads import SINGLE_THREAD_ROWS, SmallPassThreads, set_threads, threads_for, usable_cpus


def test_threads_never_exceed_the_usable_cpus():
    before = torch.get_num_threads()
    try:
        assert 1 <= set_threads() <= usable_cpus()
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_small_forward_passes_start_on_one_thread_and_restore_the_count():
    policy = SmallPassThreads()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for _ in range(2):  # the first pass of a size is not counted, the second is
            with threads_for(SINGLE_THREAD_ROWS - 1, policy):
                assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2 and list(policy.cost) == [1]  # measured
        with threads_for(SINGLE_THREAD_ROWS, policy):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def simulate(policy: SmallPassThreads, seconds_per_call: dict[int, float], calls: int) -> list[int]:
    chosen = []
    for _ in range(calls):
        threads = policy.choose(all_threads=2)
        policy.record(threads, rows=8, seconds=seconds_per_call[threads])
        chosen.append(threads)
    return chosen


def test_small_passes_move_to_all_threads_on_an_idle_machine_and_back_under_load():
    policy = SmallPassThreads()
    idle = simulate(policy, {1: 0.004, 2: 0.003}, calls=40)
    assert idle[:3] == [1] * 3 and idle[3:12] == [2] * 9  # tried after 2 counted calls, then kept
    assert sum(t == 1 for t in idle[12:]) <= 3  # one thread re-tried now and then, and losing
    loaded = simulate(policy, {1: 0.026, 2: 1.07}, calls=1000)  # p50s measured under load
    assert loaded[0] == 2 and set(loaded[1:9]) == {1}  # one slow call, then back to one thread
    tries = [i for i, t in enumerate(loaded) if t == 2]
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    assert gaps == sorted(gaps) and gaps[-1] > 256  # each losing try waits twice as long
    assert sum(t == 2 for t in loaded) <= 10  # of 1000 calls


def test_the_first_pass_of_each_size_does_not_count():
    """It pays one-off costs (a kernel created for a new shape), whatever the thread count."""
    policy = SmallPassThreads()
    policy.record(1, rows=8, seconds=0.004)
    policy.record(2, rows=20, seconds=0.500)  # cold: would make two threads look 100x slower
    assert policy.cost == {}
    policy.record(2, rows=20, seconds=0.002)
    policy.record(1, rows=8, seconds=0.004)
    assert policy.choose(all_threads=2) == 2 and set(policy.cost) == {1, 2}


@pytest.mark.parametrize("preset", [None, "1000"])
def test_import_bertkit_sets_the_openmp_spin_count_unless_one_is_set(preset):
    """Set before PyTorch loads its OpenMP runtime; a value in the environment wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if preset is not None:
        env["GOMP_SPINCOUNT"] = preset
    code = "import bertkit, os, sys; assert 'torch' not in sys.modules; print(os.environ['GOMP_SPINCOUNT'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (preset or "300000")
