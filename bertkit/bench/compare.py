"""What a run's raw measurements mean: ratios between systems, the fraction of the machine's
measured peak, each system's accuracy against the reference, and the run's two questions."""

from __future__ import annotations

import numpy as np

from bertkit.bench.systems import FP32_ANCHORS
from bertkit.inference.peak import precision_peak


def add_derived(results: dict, flops_per_token: float, peaks: dict[str, float], tokens: int) -> str | None:
    """Ratios, fraction of peak and accuracy against the references of the same run; returns
    the system every other's vectors are compared with (transformers, else bertkit fp32)."""
    reference = next((name for name in ("transformers", "bertkit fp32") if name in results), None)
    ref_vectors = np.load(results[reference]["vectors"]) if reference else None
    baselines = {f"x_{name.replace(' ', '_')}": name for name in ("transformers", "transformers bf16", "onnxruntime")}
    baselines["x_best_fp32_anchor"] = best_fp32_anchor(results)  # None without one: no ratio
    for system, r in results.items():
        for key, name in baselines.items():
            if name in results:
                r[key] = r["texts_per_s"] / results[name]["texts_per_s"]
        r["dense_gflops_end_to_end"] = flops_per_token * tokens / r["seconds"] / 1e9
        r["fraction_of_fp32_peak"] = r["dense_gflops_end_to_end"] / precision_peak(peaks, "fp32")
        if system.endswith("bf16") and precision_peak(peaks, "bf16"):
            r["fraction_of_bf16_peak"] = r["dense_gflops_end_to_end"] / precision_peak(peaks, "bf16")
        if "dense_kernel_gflops" in r and system.endswith("fp32"):  # other precisions: GFLOP/s only
            r["dense_kernel_fraction_of_fp32_peak"] = r["dense_kernel_gflops"] / r["fp32_peak_beside_dense_gflops"]
        vectors = np.load(r.pop("vectors"))
        if ref_vectors is not None:
            cos = (vectors * ref_vectors).sum(1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(ref_vectors, axis=1)
            r["max_abs_diff_vs_reference"] = float(np.abs(vectors - ref_vectors).max())
            r["min_cosine_vs_reference"] = float(cos.min())
            r["mean_cosine_vs_reference"] = float(cos.mean())
    return reference


def best_fp32_anchor(results: dict) -> str | None:
    """The fp32 anchor of the run with the most texts/s (None without one)."""
    return max((n for n in FP32_ANCHORS if n in results), key=lambda name: results[name]["texts_per_s"], default=None)


def verdicts(results: dict) -> dict:
    """The run's two questions: bertkit fp32 against the fastest fp32 anchor (texts/s), and
    whether each bertkit precision's short-sentence batch-1 p50 beats every anchor's."""
    out = {}
    best, fp32 = best_fp32_anchor(results), results.get("bertkit fp32")
    if best and fp32:
        out["best_fp32_anchor"] = best
        out["bertkit_fp32_x_best_fp32_anchor"] = fp32["x_best_fp32_anchor"]
    if fp32 and "bertkit auto" in results:
        out["bertkit_auto_x_bertkit_fp32"] = results["bertkit auto"]["texts_per_s"] / fp32["texts_per_s"]
    key = "short_latency_p50_ms"
    anchors = {n: r[key] for n, r in results.items() if not n.startswith("bertkit") and key in r}
    if anchors:
        fastest = min(anchors, key=anchors.get)
        out["fastest_anchor_short_p50"] = {"system": fastest, "ms": anchors[fastest]}
        out["short_p50_beats_every_anchor"] = {
            n: r[key] < anchors[fastest] for n, r in results.items() if n.startswith("bertkit") and key in r
        }
    return out
