"""bertkit/inference/peak.py: the measured matmul peak (numbers only; never timings asserted)."""

from bertkit.inference import cpu
from bertkit.inference.peak import fp32_peak, measure_matmul_peak, time_best


def test_every_kernel_gives_a_positive_rate_and_fp32_peak_is_the_best_fp32_one():
    rates = measure_matmul_peak(m=64, k=32, n=48, seconds=0.005)
    features = cpu.detect()
    bf16 = "bf16 oneDNN packed" if features.bf16_products else "bf16 widened to fp32"
    int8 = "int8 dynamic (engine)" if features.int8_products else "int8 widened to fp32"
    assert set(rates) == {"fp32 F.linear (MKL)", "fp32 oneDNN packed", bf16, int8}
    assert all(rate > 0 for rate in rates.values())
    assert fp32_peak(rates) == max(rates["fp32 F.linear (MKL)"], rates["fp32 oneDNN packed"])


def test_time_best_calls_the_function_and_returns_seconds_per_call():
    calls = []
    seconds = time_best(lambda: calls.append(1), seconds=0.001, repeats=2)
    assert seconds >= 0 and len(calls) >= 4
