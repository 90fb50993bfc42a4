"""One system in a process of its own (`python -m bertkit.bench.worker JOB_JSON`, one per system,
started by `run.measure_systems`), so that its peak memory and load time are its own. Its runner
embeds packed token ids (tokenisation is outside every measurement) into mean-pooled vectors; it
prints `RESULT <json>`, then answers the short-sentence rounds on its standard input until that closes.
"""

from __future__ import annotations

import importlib
import json
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

from bertkit.bench.measure import dense_kernel_rate, memory_mb, percentile, timed
from bertkit.bench.systems import load_references

RESULT = "RESULT "  # marks the worker's result line on its standard output


class Bertkit:
    def __init__(self, model_dir: Path, precision: str, threads: int, device: str = "cpu"):
        # imported here, after the memory baseline: their import counts in bertkit's load, as
        # `from transformers import AutoModel` counts in the reference's
        from bertkit.checkpoint import load_backbone
        from bertkit.inference import FastEncoder

        torch.set_num_threads(threads)
        backbone, _, _ = load_backbone(model_dir)
        self.engine = FastEncoder(backbone, precision=precision, device=device)

    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        return self.engine.embed_many(token_ids, pooling="mean", batch_size=batch_size).numpy()


def make_runner(system: str, model: Path, artifact: str | None, threads: int, device: str = "cpu"):
    """The system's `embed`-er: from the checkpoint `model`, or an anchor from its `artifact`
    (the path `references.prepare` built)."""
    precision = system.split()[-1]
    if system.startswith("bertkit"):
        return Bertkit(model, precision, threads, device)
    references = load_references()  # the repository's benchmarks/references.py
    if system.startswith("transformers"):
        return references.Transformers(model, threads, device, torch.bfloat16 if precision == "bf16" else torch.float32)
    if system.startswith("onnxruntime"):
        return references.OnnxRuntime(Path(artifact), threads)
    if system.startswith("ctranslate2"):
        return references.CTranslate2(Path(artifact), "int8" if precision == "int8" else "float32", threads)
    return references.OpenVino(Path(artifact), threads)


def worker(job: dict) -> tuple[dict, object, list[int]]:
    """One system's measurements; then its runner and the short sentence, for `answer_rounds`."""
    system, threads, batch_size, device = job["system"], job["threads"], job["batch_size"], job["device"]
    cuda = device == "cuda"
    if not system.startswith("bertkit"):  # before the memory baseline: a library's import is not its model
        importlib.import_module(system.split()[0])
        load_references()
    ids = json.loads(Path(job["ids"]).read_text())
    if cuda:
        torch.zeros(1, device=device)  # CUDA's context, outside the load time and the memory
    baseline_mb = memory_mb("VmRSS")

    load_s, runner = timed(lambda: make_runner(system, Path(job["model"]), job["artifact"], threads, device))
    runner.embed(ids[: 2 * batch_size], batch_size)  # warm-up: kernels, allocator
    best = float("inf")
    for _ in range(job["repeats"]):
        seconds, vectors = timed(partial(runner.embed, ids, batch_size))
        best = min(best, seconds)
    np.save(job["vectors"], vectors)
    latencies = [timed(partial(runner.embed, [text_ids], 1))[0] for text_ids in ids[: job["latency_texts"]]]
    result = {
        "system": system,
        "seconds": best,
        "texts_per_s": len(ids) / best,
        "tokens_per_s": sum(map(len, ids)) / best,
        "latency_p50_ms": 1e3 * percentile(latencies, 50),
        "latency_p99_ms": 1e3 * percentile(latencies, 99),
        "load_s": load_s,
        # model + activations, imports excluded; on a GPU, the device memory PyTorch allocated
        "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else memory_mb("VmHWM") - baseline_mb,
    }
    if system.startswith("bertkit"):
        from bertkit.inference.peak import fp32_peak, measure_matmul_peak  # loaded with bertkit's runner

        # The peak again, right beside the dense timing: other processes share the cores, and
        # a fraction is only meaningful against a peak measured under the same load.
        kernels = ["fp32 cuBLAS (no TF32)"] if cuda else ["fp32 F.linear (MKL)", "fp32 oneDNN packed"]
        peaks = measure_matmul_peak(
            m=job["peak_tokens"], seconds=job["peak_seconds"] / 2, kernels=kernels, device=device
        )
        result["fp32_peak_beside_dense_gflops"] = fp32_peak(peaks)
        result["dense_kernel_gflops"] = dense_kernel_rate(runner, ids, batch_size)
    return result, runner, job["short"]


def answer_rounds(runner, short: list[int]) -> None:
    """The short sentence at batch 1, `calls` times per request, until standard input closes:
    each request is one round of `measure.short_sentence_rounds`."""
    for line in sys.stdin:
        warm, calls = map(int, line.split())
        for _ in range(warm):  # the other systems' turns have cooled the caches
            runner.embed([short], 1)
        print(json.dumps([timed(partial(runner.embed, [short], 1))[0] for _ in range(calls)]), flush=True)


if __name__ == "__main__":
    result, runner, short = worker(json.loads(sys.argv[1]))
    print(RESULT + json.dumps(result), flush=True)
    answer_rounds(runner, short)
