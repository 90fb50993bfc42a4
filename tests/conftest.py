"""Test-wide settings.

Under pytest-xdist each worker gets one intra-op thread: `-n 2` on 2 cores with torch's
default of one thread per core ran 4 threads on 2 cores, and a (32, 4) MiniLM batch took
1.8 s instead of 0.1 s.
"""

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture
def cpu_class(monkeypatch):
    """`cpu_class("avx2")`: bertkit treats this CPU as that class (BERTKIT_CPU) for the rest of
    the test, and returns what it then sees; "native" keeps the real CPU. A class never adds
    features the CPU lacks (see bertkit/inference/cpu.py), so every path chosen can run."""
    from bertkit.inference import cpu, fused_layer

    def forget():
        cpu.detect.cache_clear()
        fused_layer.library.cache_clear()
        fused_layer._amx_granted.cache_clear()

    def act_as(name: str):
        if name == "native":
            monkeypatch.delenv("BERTKIT_CPU", raising=False)
        else:
            monkeypatch.setenv("BERTKIT_CPU", name)
        forget()
        return cpu.detect()

    yield act_as
    monkeypatch.delenv("BERTKIT_CPU", raising=False)
    forget()
