"""Test-wide settings.

Under pytest-xdist each worker gets one intra-op thread: `-n 2` on 2 cores with torch's
default of one thread per core ran 4 threads on 2 cores, and a (32, 4) MiniLM batch took
1.8 s instead of 0.1 s.
"""

import os

import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
