"""The bench's clocks: call times, percentiles, a process's memory, the dense layers' rate,
and the short sentence's batch-1 latency timed in rounds across the systems' processes."""

from __future__ import annotations

import json
import subprocess
import time
from functools import partial
from pathlib import Path

import torch

from bertkit.data.batches import length_batches
from bertkit.modeling.config import BertConfig


def timed(call) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not `ru_maxrss`: Linux carries that one
    over from the parent process across fork and exec."""
    status = Path("/proc/self/status").read_text()
    return int(status.split(f"\n{field}:")[1].split()[0]) / 1024


def dense_flops_per_token(directory: Path) -> float:
    """FLOPs of the dense layers (QKV, attention output, feed-forward) per token."""
    c = BertConfig.from_json_file(directory / "config.json")
    return 2.0 * c.num_hidden_layers * (4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size)


def dense_kernel_rate(runner, ids: list[list[int]], batch_size: int) -> float:
    """GFLOP/s of the engine's dense layers (one layer's four `PackedLinear`s) alone, on the
    token counts of this run's batches."""
    from bertkit.inference.peak import time_best  # a worker imports bertkit.inference in bertkit's load only

    lengths = [len(i) for i in ids]
    layer = runner.engine.layers[0]
    dtype, device = runner.engine.dtype, runner.engine.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else None
    flops = seconds = 0.0
    with torch.inference_mode():
        for batch in length_batches(lengths, max_tokens=batch_size * 128, max_texts=batch_size)[::4]:
            tokens = sum(lengths[i] for i in batch)
            for linear in (layer.qkv, layer.attention_output, layer.inner, layer.outer):
                x = torch.randn(tokens, linear.in_features).to(device, dtype)
                seconds += time_best(partial(linear, x), seconds=0.02, repeats=3, synchronize=synchronize)
                flops += 2.0 * tokens * linear.in_features * linear.out_features
    return flops / seconds / 1e9


def short_sentence_rounds(workers: dict[str, subprocess.Popen], rounds: int, calls: int = 10) -> dict[str, float]:
    """p50 ms of the short sentence per system, over `rounds` turns, one request each to every
    system's process (`worker.answer_rounds`) in rotation: a machine whose speed drifts (other
    tenants, clocks) weighs on every system alike."""
    times: dict[str, list[float]] = {system: [] for system in workers}
    answering = dict(workers)
    for _ in range(rounds):
        for system, proc in list(answering.items()):
            time.sleep(0.05)  # the previous system's threads stop spinning and sleep
            try:
                proc.stdin.write(f"10 {calls}\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except BrokenPipeError:
                line = ""
            if not line:
                del answering[system]
                print(f"{system}: its process ended before the short-sentence rounds did (exit {proc.wait()})")
                continue
            times[system] += json.loads(line)
    return {system: 1e3 * percentile(t, 50) for system, t in times.items() if t}
