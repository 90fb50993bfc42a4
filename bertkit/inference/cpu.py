"""What this CPU can run, read once: every kernel choice of the inference engine comes from here.

    >>> from bertkit.inference import cpu
    >>> sorted(cpu.CLASSES)
    ['amx', 'avx2', 'avx512', 'avx512-bf16', 'avx512-vnni', 'generic']
    >>> cpu.detect().precision_support("fp32")[0]
    True

The instruction sets come from the CPU itself (CPUID through PyTorch's cpuinfo, so they are the
emulated CPU's under `qemu-x86_64 -cpu Haswell`, where /proc/cpuinfo still shows the host's),
else from /proc/cpuinfo. Each path of the engine asks `detect()` and never calls a kernel the
CPU cannot run; which instruction set each path needs: docs/inference.md ("Every CPU class").

`BERTKIT_CPU=<class>` makes bertkit treat the CPU as one of `CLASSES` (only ever fewer features
than it has: a class above the real CPU keeps the real CPU's), so a machine with AVX-512
tests the choices an AVX2 machine makes: `BERTKIT_CPU=avx2 bertkit info`.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from bertkit.errors import InputError

_AVX2 = frozenset({"avx", "avx2", "fma", "f16c"})
_AVX512 = _AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}
CLASSES: dict[str, frozenset[str]] = {  # BERTKIT_CPU values: the features a class of CPU has
    "generic": frozenset(),  # no SIMD path of bertkit's own: older x86, or ARM
    "avx2": _AVX2,  # Haswell .. AMD Zen 3: the most common cloud VM and laptop class
    "avx512": _AVX512,  # Skylake-SP
    "avx512-vnni": _AVX512 | {"avx512_vnni"},  # Cascade Lake, Ice Lake
    "avx512-bf16": _AVX512 | {"avx512_vnni", "avx512_bf16"},  # Cooper Lake, AMD Zen 4/5
    "amx": _AVX512
    | {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"},  # Sapphire Rapids on
}

# PyTorch's cpuinfo names -> the kernel's /proc/cpuinfo names, which the rest of bertkit uses
_TORCH_NAMES = {"avx512_f": "avx512f", "avx512_bw": "avx512bw", "avx512_vl": "avx512vl", "avx512_dq": "avx512dq",
                "avx512_cd": "avx512cd", "fma3": "fma", "asimd": "neon"}  # fmt: skip
# what `bertkit info` lists, in order (x86, then ARM)
SHOWN = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "avx_vnni", "avx512_vnni",
         "amx_tile", "amx_bf16", "amx_int8", "avx_ne_convert", "neon", "sve", "sve2", "bf16", "i8mm")  # fmt: skip


@dataclass(frozen=True)
class Cpu:
    """The CPU as bertkit sees it: its name, architecture and instruction sets (`features`, in
    /proc/cpuinfo's spelling), and the class it was told to act as, if any."""

    name: str
    architecture: str
    features: frozenset[str]
    forced: str | None = None  # BERTKIT_CPU, when set

    def has(self, *features: str) -> bool:
        return set(features) <= self.features

    @property
    def c_layer_variant(self) -> str | None:
        """Which build of the fused few-tokens C layer this CPU runs: "avx512", "avx2" or None."""
        if self.architecture != "x86_64":
            return None
        if self.has("avx512f", "fma"):
            return "avx512"
        if self.has("avx2", "fma"):
            return "avx2"
        return None

    @property
    def bf16_products(self) -> bool:
        """oneDNN's bf16 products (what `mkldnn` asks of the CPU before it packs a bf16 weight)."""
        return self.has("avx512bw", "avx512vl", "avx512dq") or self.has("avx_ne_convert")

    @property
    def int8_products(self) -> bool:
        """Exact 8-bit int8 products in oneDNN and fbgemm for any number of rows. Without VNNI
        their u8 x s8 pairs are summed in 16 bits: they saturate, or with 7-bit activations miss
        int8's accuracy guard (docs/inference.md, "Every CPU class")."""
        return self.has("avx512_vnni")

    @property
    def amx(self) -> bool:
        return self.has("amx_tile", "amx_bf16", "avx512_bf16")

    def precision_support(self, precision: str) -> tuple[bool, str]:
        """(whether `precision` runs on this CPU, how: the kernels it uses) - every precision
        runs on every CPU; what differs is the kernels, and so the speed."""
        variant = self.c_layer_variant
        few = f"few tokens: the {variant} C layer" if variant else "few tokens: as batches (no C layer for this CPU)"
        if precision == "fp32":
            return True, f"float32 products: oneDNN / MKL for batches; {few}"
        if precision == "bf16":
            if self.bf16_products:
                units = "AMX tiles" if self.amx else "AVX-512"
                return True, f"oneDNN bf16 products ({units}) for batches; {few}, bf16 weights"
            return True, (
                f"bf16 weights widened to float32 (no bf16 products on this CPU) for batches; {few}, bf16 weights: "
                "half the weight memory, bf16's numbers, fp32's speed"
            )
        if precision == "int8":
            if variant:
                few += f", exact 8-bit sums ({'VNNI' if self.int8_products else 'in 16-bit pairs, the avx2 build'})"
            if self.int8_products:
                return True, f"oneDNN VNNI int8 products for batches; {few}"
            return True, f"int8 weights widened to float32 for batches (no exact int8 products without VNNI); {few}"
        return False, f"unknown precision {precision!r}"

    def auto_precision(self) -> str:
        """The precision `precision="auto"` runs: the fastest one that keeps its accuracy guard
        (cosine to fp32 >= 0.999 for bf16, >= 0.99 for int8) on this CPU, as `bertkit bench`
        measured (BENCHMARKS.md): bf16 where AMX runs it, int8 where VNNI does or where the C
        layer computes passes of few tokens from int8 weights (AVX2), fp32 elsewhere."""
        if self.amx and self.bf16_products:
            return "bf16"
        if self.int8_products or self.c_layer_variant is not None:
            return "int8"
        return "fp32"

    def isa_line(self) -> str:
        """One line naming the CPU and the instruction sets that matter here (for reports)."""
        shown = [f for f in SHOWN if f in self.features]
        forced = f" [acting as BERTKIT_CPU={self.forced}]" if self.forced else ""
        return f"{self.name} ({self.architecture}): {' '.join(shown) or 'no SIMD extension bertkit uses'}{forced}"


def _from_torch() -> tuple[set[str], str]:
    """Features and name as PyTorch's cpuinfo reads them from CPUID (none with an older PyTorch)."""
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return set(), ""
    features = {_TORCH_NAMES.get(name, name) for name, value in capabilities.items() if value is True}
    return features, capabilities.get("cpu_name") or ""


def _architecture() -> str:
    return platform.machine().lower().replace("amd64", "x86_64").replace("arm64", "aarch64")


def _from_proc() -> tuple[set[str], str]:
    """Flags (x86 "flags", ARM "Features") and the model name from /proc/cpuinfo (Linux). Only
    the line of this process's architecture: under qemu-user the file is the host's."""
    features, name = set(), ""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return features, name
    wanted = "flags" if _architecture() == "x86_64" else "Features"
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == wanted and not features:
            features = {_TORCH_NAMES.get(f, f) for f in value.split()}
        elif key in ("model name", "Model", "CPU part") and not name:
            name = value.strip()
    return features, name


@functools.cache
def detect() -> Cpu:
    """This CPU, read once per process (`BERTKIT_CPU` applied; see the module's docstring)."""
    features, name = _from_torch()
    if not features or not name:
        proc_features, proc_name = _from_proc()
        features, name = features or proc_features, name or proc_name
    architecture = _architecture()
    forced = os.environ.get("BERTKIT_CPU") or None
    if forced is not None:
        if forced not in CLASSES:
            raise InputError(f"BERTKIT_CPU={forced!r}: choose one of {', '.join(CLASSES)}")
        features = set(features) & CLASSES[forced]
    return Cpu(name or platform.processor() or "unknown CPU", architecture, frozenset(features), forced)
