"""This machine's measured matrix-product peak: the limit the engine's speed is judged against.

In the spirit of nanoGPT's `estimate_mfu`, but measured rather than read off a data sheet:
the best rate of one large product (4096 x 768 . 768 x 3072, a BERT-base feed-forward layer
over 4096 tokens) through each kernel the engine can use. On a GPU (`device="cuda"`), cuBLAS
in bf16 and in strict fp32 (no TF32: the engine's fp32 keeps fp32's numbers).

    >>> rates = measure_matmul_peak(m=256, k=64, n=128, seconds=0.01, kernels=["fp32 F.linear (MKL)"])
    >>> sorted(rates) == ["fp32 F.linear (MKL)"] and rates["fp32 F.linear (MKL)"] > 0
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from bertkit.inference import cpu as cpu_features
from bertkit.inference.kernels import PackedLinear, compute_dtype


def _kernels(m: int, k: int, n: int) -> dict[str, Callable[[], object]]:
    """name -> a closure computing one (m, k) . (k, n) product, built lazily per kernel."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(m, k, generator=generator)
    weight = torch.randn(n, k, generator=generator) * k**-0.5
    bias = torch.zeros(n)
    cpu = torch.device("cpu")

    def packed(precision: str):
        linear = PackedLinear(weight, bias, precision, cpu)
        inputs = x.to(compute_dtype(precision, cpu))
        return lambda: linear(inputs)

    # what the engine's bf16 and int8 products are on this CPU (cpu.py): oneDNN's bf16 or
    # VNNI kernels, else the stored weights widened to float32 for MKL
    features = cpu_features.detect()
    bf16 = "bf16 oneDNN packed" if features.bf16_products else "bf16 widened to fp32"
    int8 = "int8 dynamic (engine)" if features.int8_products else "int8 widened to fp32"
    return {
        "fp32 F.linear (MKL)": lambda: lambda: F.linear(x, weight, bias),
        "fp32 oneDNN packed": lambda: packed("fp32"),
        bf16: lambda: packed("bf16"),
        int8: lambda: packed("int8"),
    }


def _cuda_kernels(m: int, k: int, n: int) -> dict[str, Callable[[], object]]:
    generator = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(m, k, device="cuda", generator=generator)
    weight = torch.randn(n, k, device="cuda", generator=generator) * k**-0.5

    def product(dtype: torch.dtype):
        a, b = x.to(dtype), weight.to(dtype)
        return lambda: F.linear(a, b)

    return {"bf16 cuBLAS": lambda: product(torch.bfloat16), "fp32 cuBLAS (no TF32)": lambda: product(torch.float32)}


def time_best(
    fn: Callable[[], object], seconds: float = 1.0, repeats: int = 5, synchronize: Callable[[], object] | None = None
) -> float:
    """Best time of one call, over `repeats` rounds of about `seconds / repeats` each.

    The best (not the mean) because other processes share the cores: the fastest round is the
    one least disturbed, and the closest to what the kernel itself can do. `synchronize` (a
    GPU's): called before each clock reading, so queued work is counted.
    """
    wait = synchronize or (lambda: None)
    fn()  # warm-up: packing, oneDNN primitive creation, page faults
    wait()
    start = time.perf_counter()
    fn()
    wait()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(seconds / repeats / once))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        wait()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


@torch.inference_mode()
def measure_matmul_peak(
    m: int = 4096,
    k: int = 768,
    n: int = 3072,
    seconds: float = 1.0,
    kernels: list[str] | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """GFLOP/s (GOP/s for int8) of each kernel on one (m, k) . (k, n) product, best of 5 rounds."""
    cuda = torch.device(device).type == "cuda"
    available = _cuda_kernels(m, k, n) if cuda else _kernels(m, k, n)
    rates = {}
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # strict fp32 on a GPU, as the engine's fp32
    synchronize = torch.cuda.synchronize if cuda else None
    try:
        for name in kernels or list(available):
            seconds_per_call = time_best(available[name](), seconds, synchronize=synchronize)
            rates[name] = 2 * m * k * n / seconds_per_call / 1e9
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return rates


def fp32_peak(rates: dict[str, float]) -> float:
    """The machine's fp32 peak: the faster of the fp32 kernels."""
    return precision_peak(rates, "fp32")


def precision_peak(rates: dict[str, float], precision: str) -> float | None:
    """The fastest measured kernel of `precision` ("fp32", "bf16", "int8"); None if none was."""
    return max((rate for name, rate in rates.items() if name.startswith(precision)), default=None)
