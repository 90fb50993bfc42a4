"""pytest plugin for tests/simde/run.sh: bertkit sees AVX-512F and AVX512-VNNI (no oneDNN bf16,
no AMX), and fused_layer loads $BERTKIT_SIMDE_LIBRARY - the C layer's AVX-512 build compiled
against SIMDe's portable intrinsics - as that build."""

import os
from pathlib import Path

from bertkit.inference import cpu, fused_layer

LIBRARY = Path(os.environ["BERTKIT_SIMDE_LIBRARY"])
_claimed = cpu.Cpu("AVX-512 through SIMDe", "x86_64", frozenset(cpu.CLASSES["avx2"] | {"avx512f", "avx512_vnni"}))
_real_build = fused_layer.build


def _detect() -> cpu.Cpu:
    return _claimed


def _build(directory=None, again=False, variant=None):
    return LIBRARY if (variant or "avx512") == "avx512" else _real_build(directory, again, variant)


_detect.cache_clear = lambda: None  # the tests' cpu_class fixture clears it
cpu.detect = _detect
fused_layer.build = _build
