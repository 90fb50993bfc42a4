"""Inference benchmark: bertkit's engine in each precision against transformers, ONNX Runtime, CTranslate2 and OpenVINO.

    python benchmarks/inference.py                 # both sizes, every system, ~10 minutes on 2 cores
    python benchmarks/inference.py --sizes minilm --texts 256 --systems "bertkit fp32,onnxruntime"
    python benchmarks/inference.py --sizes minilm --systems "bertkit fp32,ctranslate2,openvino int8"
    python benchmarks/inference.py --device cuda   # on a GPU: bertkit fp32/bf16, transformers fp32/bf16

Same texts (`tests/corpora.py`'s realistic mix: UI strings in many languages, changelog and
docstring sentences, license paragraphs, long documents cut at 128 tokens), same token ids, same model weights for
every system (`--texts-file`: your own, one per line); each system runs in a fresh process of its own (so its peak memory and load time
are its own) and embeds every text into a mean-pooled vector. Writes `inference.md`,
`inference.json` and `inference.png` into `--out` and prints the table. `bertkit bench` runs
this file. Ratios are against the references measured in the same run.

The references ("anchors", benchmarks/references.py) are each built from the same checkpoint
directory before the systems run: ONNX Runtime optimized (the fused ONNX export) and its int8
quantisation, CTranslate2 in float32 and int8, OpenVINO in fp32 and NNCF's int8 (calibrated on
texts of this run). Each is optional: one whose package is missing is skipped, with the install
hint. Every system's vectors are compared with transformers' (cosine, min and mean over the
texts), so a fast but wrong system shows; bertkit fp32 is also set against the fastest fp32
anchor, and the short sentence's batch-1 p50 of each bertkit precision against every anchor.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Before PyTorch loads: sets the OpenMP spin count (bertkit/__init__.py) in this process's
# environment, which every system's worker process inherits - transformers runs on the same
# PyTorch threads, and ONNX Runtime's own thread pool spins by default.
import bertkit  # noqa: F401

# `bertkit bench` loads this file as a module, not as a script: its folder must still be on the
# import path for `import references`.
sys.path.append(str(Path(__file__).resolve().parent))

ANCHORS = ("onnxruntime", "onnxruntime int8", "ctranslate2", "ctranslate2 int8", "openvino", "openvino int8")
FP32_ANCHORS = ("onnxruntime", "ctranslate2", "openvino")  # bertkit fp32 against the fastest
SYSTEMS = ("bertkit fp32", "bertkit bf16", "bertkit int8", "bertkit auto", "transformers", "transformers bf16", *ANCHORS)
CPU_ONLY = ("bertkit int8", *ANCHORS)
DEFAULT_SYSTEMS = {  # int8 and the anchors run on the CPU only; "auto" is one of the three (`bertkit info`)
    "cpu": ("bertkit fp32", "bertkit bf16", "bertkit int8", "bertkit auto", "transformers", *ANCHORS),
    "cuda": ("bertkit fp32", "bertkit bf16", "transformers", "transformers bf16"),
}
DESCRIPTIONS = {  # for the report's prose
    "transformers": "PyTorch, SDPA, dynamic padding",
    "onnxruntime": "ONNX Runtime optimized: the exported model fused by its transformer optimizer, fp32",
    "onnxruntime int8": "ONNX Runtime optimized, int8 weights (dynamic quantisation, per channel)",
    "ctranslate2": "CTranslate2 Encoder, float32",
    "ctranslate2 int8": "CTranslate2 Encoder, int8",
    "openvino": "OpenVINO, fp32",
    "openvino int8": "OpenVINO, NNCF post-training int8 (calibrated on this run's texts)",
}
SIZES = ("minilm", "base")
ORACLE_MODULES = {
    "transformers": ["transformers"],
    "transformers bf16": ["transformers"],
    "onnxruntime": ["transformers", "onnxruntime", "onnx", "onnxscript"],
    "onnxruntime int8": ["transformers", "onnxruntime", "onnx", "onnxscript"],
    "ctranslate2": ["transformers", "ctranslate2"],
    "ctranslate2 int8": ["transformers", "ctranslate2"],
    "openvino": ["transformers", "openvino"],
    "openvino int8": ["transformers", "openvino", "nncf"],
}
# What each anchor runs, built once per model size before the systems run (`prepare`); a
# build that needs another names it in BUILT_FROM.
ARTIFACTS = {
    "onnxruntime": "onnx",
    "onnxruntime int8": "onnx int8",
    "ctranslate2": "ctranslate2",
    "ctranslate2 int8": "ctranslate2",  # one float32 folder; int8 is chosen when it loads
    "openvino": "openvino",
    "openvino int8": "openvino int8",
}
BUILT_FROM = {"onnx int8": "onnx", "openvino int8": "openvino"}
BUILDS = {"onnx": ".onnx", "onnx int8": ".int8.onnx", "ctranslate2": "-ct2", "openvino": ".xml", "openvino int8": ".int8.xml"}
CALIBRATION_TEXTS = 64  # openvino int8's activation ranges
INSTALL_HINT = "pip install 'bertkit[bench]'"
SHORT_SENTENCE = "This is a spam mail"


# --- preparation (parent process) -----------------------------------------------------------


def missing_oracles(systems: list[str]) -> dict[str, list[str]]:
    """system -> the modules it needs that are not installed."""
    missing = {}
    for system in systems:
        absent = [m for m in ORACLE_MODULES.get(system, []) if importlib.util.find_spec(m) is None]
        if absent:
            missing[system] = absent
    return missing


def model_dir(size: str, workdir: Path, minilm: str | None = None) -> Path:
    """The bundled MiniLM (or `minilm`), or a randomly initialised BERT-base with its vocabulary."""
    from bertkit.bundled import resolve_model_dir

    vocabulary = Path(resolve_model_dir(minilm))
    if size == "minilm":
        return vocabulary
    import torch

    from bertkit.checkpoint import save
    from bertkit.config import BertConfig
    from bertkit.modeling.bert import BertModel

    directory = workdir / "bert-base-random"
    if not (directory / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig()  # BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072
        save(BertModel(config).eval(), config, directory, source=vocabulary)
    return directory


def read_texts(path: Path) -> list[str]:
    """A file's texts, one per line (blank lines skipped), or a JSON list of strings."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("a .json texts file holds one list of strings")
        return [str(t) for t in data]
    return [line for line in raw.splitlines() if line.strip()]


def token_ids(directory: Path, texts: list[str]) -> list[list[int]]:
    """Each text's packed ids ([CLS] ... [SEP], at most 128), by bertkit's preprocessor."""
    from bertkit.preprocess import Preprocessor

    batch = Preprocessor.from_pretrained(directory, seq_length=128)(texts, padding="longest")
    ids, mask = batch["input_word_ids"].tolist(), batch["input_mask"].tolist()
    return [[i for i, m in zip(row, keep) if m] for row, keep in zip(ids, mask)]


def dense_flops_per_token(directory: Path) -> float:
    """FLOPs of the dense layers (QKV, attention output, feed-forward) per token."""
    from bertkit.config import BertConfig

    c = BertConfig.from_json_file(directory / "config.json")
    return 2.0 * c.num_hidden_layers * (4 * c.hidden_size**2 + 2 * c.hidden_size * c.intermediate_size)


# --- one system in its own process ---------------------------------------------------------


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not `ru_maxrss`: Linux carries that one
    over from the parent process across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def worker(job: dict) -> tuple[dict, object, list[int]]:
    """One system's measurements; then its runner and the short sentence, for `answer_rounds`."""
    import numpy as np
    import torch  # noqa: F401  (imported before the memory baseline, like the references below)

    import references  # noqa: F401

    system, threads, batch_size, device = job["system"], job["threads"], job["batch_size"], job["device"]
    cuda = device == "cuda"
    if system.startswith("transformers"):
        import transformers  # noqa: F401  (imported before the memory baseline)
    if system.startswith("onnxruntime"):
        import onnxruntime  # noqa: F401
    if system.startswith("ctranslate2"):
        import ctranslate2  # noqa: F401
    if system.startswith("openvino"):
        import openvino  # noqa: F401
    ids = json.loads(Path(job["ids"]).read_text())
    short = json.loads(Path(job["short"]).read_text())
    if cuda:
        torch.zeros(1, device=device)  # CUDA's context, outside the load time and the memory
    baseline_mb = memory_mb("VmRSS")

    start = time.perf_counter()
    runner = make_runner(system, Path(job["model"]), job["artifact"], threads, device)
    load_s = time.perf_counter() - start

    runner.embed(ids[: 2 * batch_size], batch_size)  # warm-up: kernels, allocator
    best = float("inf")
    for _ in range(job["repeats"]):
        start = time.perf_counter()
        vectors = runner.embed(ids, batch_size)
        best = min(best, time.perf_counter() - start)
    np.save(job["vectors"], vectors)

    latencies = []
    for text_ids in ids[: job["latency_texts"]]:
        start = time.perf_counter()
        runner.embed([text_ids], 1)
        latencies.append(time.perf_counter() - start)
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
        from bertkit.inference.peak import fp32_peak, measure_matmul_peak

        # The peak again, right beside the dense timing: other processes share the cores, and
        # a fraction is only meaningful against a peak measured under the same load.
        fp32_kernels = ["fp32 cuBLAS (no TF32)"] if cuda else ["fp32 F.linear (MKL)", "fp32 oneDNN packed"]
        result["fp32_peak_beside_dense_gflops"] = fp32_peak(
            measure_matmul_peak(m=job["peak_tokens"], seconds=job["peak_seconds"] / 2, kernels=fp32_kernels, device=device)
        )
        result["dense_kernel_gflops"] = dense_kernel_rate(runner, ids, batch_size)
    return result, runner, short


def make_runner(system: str, model: Path, artifact: str | None, threads: int, device: str = "cpu"):
    """The system's `embed`-er: from the checkpoint `model`, or an anchor from its `artifact`
    (`prepare`'s path of what it runs)."""
    import torch

    import references

    precision = system.split()[-1]
    if system.startswith("bertkit"):
        return references.Bertkit(model, precision, threads, device)
    if system.startswith("transformers"):
        return references.Transformers(model, threads, device, torch.bfloat16 if precision == "bf16" else torch.float32)
    if system.startswith("onnxruntime"):
        return references.OnnxRuntime(Path(artifact), threads)
    if system.startswith("ctranslate2"):
        return references.CTranslate2(Path(artifact), "int8" if precision == "int8" else "float32", threads)
    return references.OpenVino(Path(artifact), threads)


def answer_rounds(runner, short: list[int]) -> None:
    """The short sentence at batch 1, `calls` times per request, until the parent says stop.

    Each request is one round of `short_sentence_rounds`: the systems' processes take turns,
    so a machine whose speed drifts (other tenants, clocks) weighs on every system alike.
    """
    for line in sys.stdin:
        if not line.strip():
            break
        warm, calls = map(int, line.split())
        for _ in range(warm):  # the other systems' turns have cooled the caches
            runner.embed([short], 1)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            runner.embed([short], 1)
            times.append(time.perf_counter() - start)
        print(json.dumps(times), flush=True)


def short_sentence_rounds(workers: dict[str, subprocess.Popen], rounds: int, calls: int = 10) -> dict[str, float]:
    """p50 ms of the short sentence per system, over `rounds` turns taken in rotation."""
    times: dict[str, list[float]] = {system: [] for system in workers}
    ended: set[str] = set()
    for _ in range(rounds):
        for system, proc in workers.items():
            if system in ended:
                continue
            time.sleep(0.05)  # the previous system's threads stop spinning and sleep
            try:
                proc.stdin.write(f"10 {calls}\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
            except BrokenPipeError:
                line = ""
            if not line:
                ended.add(system)
                print(f"{system}: its process ended before the short-sentence rounds did (exit {proc.wait()})")
                continue
            times[system] += json.loads(line)
    return {system: 1e3 * percentile(t, 50) for system, t in times.items() if t}


def dense_kernel_rate(runner, ids: list[list[int]], batch_size: int) -> float:
    """GFLOP/s of the engine's dense layers alone, on the token counts of this run's batches."""
    import torch

    from bertkit.inference import length_batches
    from bertkit.inference.peak import time_best

    lengths = [len(i) for i in ids]
    linears = runner.dense_linears()
    dtype, device = runner.engine.dtype, runner.engine.device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else None
    flops = seconds = 0.0
    with torch.inference_mode():
        for batch in length_batches(lengths, max_tokens=batch_size * 128, max_texts=batch_size)[::4]:
            tokens = sum(lengths[i] for i in batch)
            for n_in, n_out, linear in linears:
                x = torch.randn(tokens, n_in).to(device, dtype)
                seconds += time_best(lambda: linear(x), seconds=0.02, repeats=3, synchronize=synchronize)
                flops += 2.0 * tokens * n_in * n_out
    return flops / seconds / 1e9


# --- the whole run --------------------------------------------------------------------------


def run(args) -> dict:
    from tqdm import tqdm

    from bertkit.errors import InputError
    from bertkit.inference.peak import fp32_peak, measure_matmul_peak

    systems = [s.strip() for s in (args.systems or ",".join(DEFAULT_SYSTEMS[args.device])).split(",")]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise InputError(f"unknown system(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(SYSTEMS)}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError("--device cuda: PyTorch sees no CUDA device here")
        cpu_only = [s for s in systems if s in CPU_ONLY]
        for system in cpu_only:
            print(f"skipping {system}: it runs on the CPU only")
        systems = [s for s in systems if s not in cpu_only]
    if args.texts_file:
        try:
            texts = read_texts(Path(args.texts_file))[: args.texts]
        except (OSError, ValueError) as e:  # unreadable, not UTF-8, not a JSON list
            raise InputError(f"{args.texts_file}: cannot read texts ({e})") from None
    else:
        sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
        from corpora import realistic_mix  # the project's shared real-text loader

        texts = realistic_mix(args.texts)
    if not texts:
        raise InputError(f"{args.texts_file}: no texts")
    missing = missing_oracles(systems)
    for system, modules in missing.items():
        print(f"skipping {system}: {', '.join(modules)} not installed; {INSTALL_HINT}")
    systems = [s for s in systems if s not in missing]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bertkit-bench-"))
    load_avg = os.getloadavg()[0]

    print(f"measuring the matmul peak ({args.peak_tokens}x768 . 768x3072) ...", flush=True)
    peaks = measure_matmul_peak(m=args.peak_tokens, seconds=args.peak_seconds, device=args.device)
    report = {
        "command": " ".join(["bertkit bench" if args.from_cli else "python benchmarks/inference.py", *args.argv]),
        "machine": machine_description(args.device),
        "device": args.device,
        "threads": args.threads,
        "load_average_at_start": load_avg,
        "matmul_peak_gflops": peaks,
        "fp32_peak_gflops": fp32_peak(peaks),
        "batch_size": args.batch_size,
        "sizes": {},
    }
    try:
        for size in args.sizes.split(","):
            directory = model_dir(size, workdir, args.model)
            ids = token_ids(directory, texts)
            short = token_ids(directory, [SHORT_SENTENCE])[0]
            (workdir / "ids.json").write_text(json.dumps(ids))
            (workdir / "short.json").write_text(json.dumps(short))
            entry = {"model": str(directory), "texts": len(ids), "mean_tokens": statistics.mean(map(len, ids))}
            artifacts, entry["build_s"] = prepare(systems, directory, workdir, size, ids)
            if "onnx" in entry["build_s"]:
                entry["onnx_export_s"] = entry["build_s"]["onnx"]
            runnable = [s for s in systems if s not in ARTIFACTS or s in artifacts]
            results, workers, logs = {}, {}, []
            for system in tqdm(runnable, desc=f"{size}", unit="system"):
                job = {
                    "system": system,
                    "device": args.device,
                    "model": str(directory),
                    "artifact": artifacts.get(system),
                    "ids": str(workdir / "ids.json"),
                    "short": str(workdir / "short.json"),
                    "vectors": str(workdir / f"{size}-{system.replace(' ', '-')}.npy"),
                    "threads": args.threads,
                    "batch_size": args.batch_size,
                    "repeats": args.repeats,
                    "latency_texts": args.latency_texts,
                    "peak_seconds": args.peak_seconds,
                    "peak_tokens": args.peak_tokens,
                }
                # the process stays, idle, for the short-sentence rounds after the last system
                log = open(workdir / f"{size}-{system.replace(' ', '-')}.log", "w+")
                logs.append(log)
                proc = subprocess.Popen(
                    [sys.executable, __file__, "--worker", json.dumps(job)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                )  # fmt: skip
                line = proc.stdout.readline()
                while line and not line.startswith(RESULT):  # whatever a library printed first
                    line = proc.stdout.readline()
                if not line:
                    proc.wait()
                    log.seek(0)
                    print(f"{size} / {system} failed:\n{log.read()[-2000:]}")
                    continue
                results[system] = json.loads(line[len(RESULT) :])
                results[system]["vectors"] = job["vectors"]
                workers[system] = proc
            try:
                for system, p50 in short_sentence_rounds(workers, args.short_rounds).items():
                    results[system]["short_latency_p50_ms"] = p50
            finally:
                for proc in workers.values():
                    if proc.poll() is None:
                        proc.stdin.close()
                        proc.wait()
                for log in logs:
                    log.close()
            entry["accuracy_reference"] = add_derived(results, dense_flops_per_token(directory), peaks, sum(map(len, ids)))
            entry.update(verdicts(results))
            entry["results"] = results
            report["sizes"][size] = entry
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["load_average_at_end"] = os.getloadavg()[0]
    write_outputs(report, out_dir)
    return report


def export_onnx(directory: Path, path: Path) -> None:
    import references

    references.export_onnx(directory, path)


def build(name: str, directory: Path, path: Path, built: dict[str, Path], ids: list[list[int]]) -> Path:
    """One anchor's model, `name` from ARTIFACTS, written to `path` (a file or a folder)."""
    import references

    if name == "onnx":
        export_onnx(directory, path)
        return path
    if name == "onnx int8":
        return references.quantize_onnx(built["onnx"], path)
    if name == "ctranslate2":
        return references.convert_ctranslate2(directory, path)
    if name == "openvino":
        return references.convert_openvino(directory, path)
    return references.quantize_openvino(built["openvino"], path, calibration(ids))


def calibration(ids: list[list[int]], n: int = CALIBRATION_TEXTS) -> list[list[int]]:
    """`n` texts spread evenly over the run's (whose order mixes short and long ones)."""
    return ids[:: max(1, len(ids) // n)][:n]


def prepare(systems: list[str], directory: Path, workdir: Path, size: str, ids: list[list[int]]):
    """(system -> the path of its model, build name -> seconds), for the anchors in `systems`.

    Conversions run here, before any system is timed, so they count in no system's load time.
    A build that fails is reported and its systems left out (the others still run).
    """
    wanted = {ARTIFACTS[s] for s in systems if s in ARTIFACTS}
    wanted |= {BUILT_FROM[name] for name in wanted if name in BUILT_FROM}
    built, seconds = {}, {}
    for name, suffix in BUILDS.items():  # in order: what a build starts from comes before it
        source = BUILT_FROM.get(name)
        if name not in wanted or (source and source not in built):
            continue
        start = time.perf_counter()
        try:
            built[name] = build(name, directory, workdir / f"{size}{suffix}", built, ids)
        except Exception as e:  # an anchor's converter that cannot take this model
            print(f"{size} / {name}: building failed, its systems are left out: {type(e).__name__}: {e}")
            continue
        seconds[name] = time.perf_counter() - start
    return {s: str(built[ARTIFACTS[s]]) for s in systems if ARTIFACTS.get(s) in built}, seconds


def add_derived(results: dict, flops_per_token: float, peaks: dict[str, float], tokens: int) -> str | None:
    """Ratios, fraction of peak and accuracy against the references of the same run; returns
    the system every other's vectors are compared with (transformers, else bertkit fp32)."""
    import numpy as np

    from bertkit.inference.peak import precision_peak

    reference = next((name for name in ("transformers", "bertkit fp32") if name in results), None)
    ref_vectors = np.load(results[reference]["vectors"]) if reference else None
    best = best_fp32_anchor(results)
    for system, r in results.items():
        for name in ("transformers", "transformers bf16", "onnxruntime"):
            if name in results:
                r[f"x_{name.replace(' ', '_')}"] = r["texts_per_s"] / results[name]["texts_per_s"]
        if best:
            r["x_best_fp32_anchor"] = r["texts_per_s"] / results[best]["texts_per_s"]
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
    anchors = [name for name in FP32_ANCHORS if name in results]
    return max(anchors, key=lambda name: results[name]["texts_per_s"], default=None)


def verdicts(results: dict) -> dict:
    """The run's two questions: bertkit fp32 against the fastest fp32 anchor (texts/s), and
    whether each bertkit precision's short-sentence batch-1 p50 beats every anchor's."""
    out = {}
    best = best_fp32_anchor(results)
    if best and "bertkit fp32" in results:
        out["best_fp32_anchor"] = best
        out["bertkit_fp32_x_best_fp32_anchor"] = results["bertkit fp32"]["x_best_fp32_anchor"]
    if "bertkit auto" in results and "bertkit fp32" in results:
        out["bertkit_auto_x_bertkit_fp32"] = results["bertkit auto"]["texts_per_s"] / results["bertkit fp32"]["texts_per_s"]
    key = "short_latency_p50_ms"
    anchors = {n: r[key] for n, r in results.items() if not n.startswith("bertkit") and key in r}
    if anchors:
        fastest = min(anchors, key=anchors.get)
        out["fastest_anchor_short_p50"] = {"system": fastest, "ms": anchors[fastest]}
        out["short_p50_beats_every_anchor"] = {
            n: r[key] < anchors[fastest] for n, r in results.items() if n.startswith("bertkit") and key in r
        }
    return out


def machine_description(device: str = "cpu") -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, torch {torch.__version__}"
    from bertkit.inference import cpu, few_rows

    if few_rows.library() is None:
        small = f"fused C layer off ({few_rows.unavailable_reason()})"
    else:
        int8 = few_rows.int8_library()
        small = (
            f"fused C layer: {few_rows.library().variant} build (bf16 on {'AMX tiles' if few_rows.amx_supported() else 'FMAs'}, "
            f"int8 {'on the ' + int8.variant + ' build' if int8 else 'off'}); auto = {cpu.detect().auto_precision()}"
        )
    return f"{cpu.detect().isa_line()}, {os.cpu_count()} cores, torch {torch.__version__}; {small}"


COLUMNS = [
    ("system", "system", "{}"),
    ("texts/s", "texts_per_s", "{:.1f}"),
    ("tokens/s", "tokens_per_s", "{:.0f}"),
    ("x transformers", "x_transformers", "{:.2f}"),
    ("x transformers bf16", "x_transformers_bf16", "{:.2f}"),
    ("x ORT optimized", "x_onnxruntime", "{:.2f}"),
    ("x best fp32 anchor", "x_best_fp32_anchor", "{:.2f}"),
    ("b=1 p50 ms", "latency_p50_ms", "{:.1f}"),
    ("b=1 p99 ms", "latency_p99_ms", "{:.1f}"),
    ("short p50 ms", "short_latency_p50_ms", "{:.2f}"),
    ("peak MB", "peak_mb", "{:.0f}"),
    ("load s", "load_s", "{:.2f}"),
    ("% fp32 peak (end to end)", "fraction_of_fp32_peak", "{:.0%}"),
    ("% bf16 peak (end to end)", "fraction_of_bf16_peak", "{:.1%}"),
    ("% fp32 peak (dense kernels)", "dense_kernel_fraction_of_fp32_peak", "{:.0%}"),
    ("dense kernels GFLOP/s", "dense_kernel_gflops", "{:.0f}"),
    ("min cos vs ref", "min_cosine_vs_reference", "{:.5f}"),
    ("mean cos vs ref", "mean_cosine_vs_reference", "{:.5f}"),
    ("max abs diff vs ref", "max_abs_diff_vs_reference", "{:.1e}"),
]


def markdown(report: dict) -> str:
    peaks = ", ".join(f"{name} {rate:.0f}" for name, rate in report["matmul_peak_gflops"].items())
    lines = [
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}, {report['threads']} threads; load average "
        f"{report['load_average_at_start']:.1f} at start, {report['load_average_at_end']:.1f} at end  ",
        f"Measured matmul peak (GFLOP/s, int8 GOP/s): {peaks}  ",
        f"Batches of {report['batch_size']} texts; accuracy: cosine of each system's mean-pooled vector to the "
        "reference's (transformers fp32 where it ran), min and mean over the texts.  ",
    ]
    measured = {name for entry in report["sizes"].values() for name in entry["results"]}
    lines += [f"- {name}: {text}" for name, text in DESCRIPTIONS.items() if name in measured]
    lines.append("")
    for size, entry in report["sizes"].items():
        # only the columns some system of this run has (no "x ORT" in a GPU run, say)
        columns = [c for c in COLUMNS if any(c[1] in r for r in entry["results"].values())]
        lines += [
            f"### {size}: {entry['texts']} texts, mean {entry['mean_tokens']:.1f} tokens",
            "",
            "| " + " | ".join(c[0] for c in columns) + " |",
            "|" + "---|" * len(columns),
        ]
        for r in entry["results"].values():
            cells = [fmt.format(r[key]) if key in r else "" for _, key, fmt in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", *verdict_lines(entry), ""]
    return "\n".join(lines)


def verdict_lines(entry: dict) -> list[str]:
    """`verdicts` in words, below a size's table."""
    lines = []
    if entry.get("accuracy_reference") not in (None, "transformers"):
        lines.append(f"Accuracy reference: {entry['accuracy_reference']} (transformers did not run).  ")
    if "best_fp32_anchor" in entry:
        best = entry["best_fp32_anchor"]
        lines.append(
            f"bertkit fp32 against the fastest fp32 anchor ({best}, "
            f"{entry['results'][best]['texts_per_s']:.1f} texts/s): {entry['bertkit_fp32_x_best_fp32_anchor']:.2f}x  "
        )
    if "bertkit_auto_x_bertkit_fp32" in entry:
        lines.append(f"bertkit auto against bertkit fp32 (texts/s): {entry['bertkit_auto_x_bertkit_fp32']:.2f}x  ")
    if "short_p50_beats_every_anchor" in entry:
        fastest = entry["fastest_anchor_short_p50"]
        for name, beats in entry["short_p50_beats_every_anchor"].items():
            mine = entry["results"][name]["short_latency_p50_ms"]
            lines.append(
                f"Short sentence, batch 1, p50: {name} {mine:.2f} ms {'beats' if beats else 'does not beat'} every anchor "
                f"(fastest: {fastest['system']} {fastest['ms']:.2f} ms)  "
            )
    return lines


def write_outputs(report: dict, out_dir: Path) -> None:
    (out_dir / "inference.json").write_text(json.dumps(report, indent=2) + "\n")
    table = markdown(report)
    (out_dir / "inference.md").write_text(table + "\n")
    print(table)
    chart(report, out_dir / "inference.png")
    print(f"wrote {out_dir / 'inference.md'}, inference.json, inference.png")


def chart(report: dict, path: Path) -> None:
    """Texts/s per system and model size; below, where measured, the short sentence's batch-1 p50."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    sizes = list(report["sizes"])
    latency = any("short_latency_p50_ms" in r for size in sizes for r in report["sizes"][size]["results"].values())
    rows = 2 if latency else 1
    fig, axes = plt.subplots(rows, len(sizes), figsize=(6 * len(sizes), 4 * rows), squeeze=False)
    device = "GPU" if report.get("device") == "cuda" else "CPU"
    for column, size in enumerate(sizes):
        results = report["sizes"][size]["results"]
        panels = [("texts_per_s", "texts / s (higher is better)", "{:,.0f}",
                   f"{size} on {device}: mean {report['sizes'][size]['mean_tokens']:.0f} tokens, batches of {report['batch_size']}")]
        if latency:
            panels.append(("short_latency_p50_ms", "ms (lower is better)", "{:,.2f}",
                           f"{size} on {device}: one short sentence, batch 1, p50"))  # fmt: skip
        for row, (key, label, number, title) in enumerate(panels):
            ax = axes[row][column]
            names = [n for n in results if key in results[n]]
            values = [results[n][key] for n in names]
            colors = ["tab:blue" if n.startswith("bertkit") else "tab:gray" for n in names]
            ax.barh(names, values, color=colors)
            for y, value in enumerate(values):
                ax.text(value, y, " " + number.format(value), va="center")
            ax.xaxis.set_major_locator(MaxNLocator(5))  # GPU rates run to tens of thousands
            ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}" if key == "texts_per_s" else "{x:,.1f}"))
            ax.set_xlim(0, 1.18 * max(values, default=1))  # room for the labels
            ax.set_xlabel(label)
            ax.set_title(title)
            ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of this harness (`bertkit bench` adds `--model` itself)."""
    parser.add_argument("--sizes", default=",".join(SIZES), help="comma-separated: minilm, base")
    parser.add_argument(
        "--systems",
        default=None,
        help="comma-separated, from: " + ", ".join(SYSTEMS) + " (default: all that run on --device)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every system runs")
    parser.add_argument("--texts", type=int, default=512, help="texts per measurement (default 512)")
    parser.add_argument("--texts-file", default=None, help="your texts instead of the built-in real-text mix: one per line, or a .json list")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="timed passes per system; the best counts")
    parser.add_argument("--latency-texts", type=int, default=50, help="texts timed one at a time")
    parser.add_argument(
        "--short-rounds", type=int, default=10, help="turns of 10 timed calls each system takes with the short sentence"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--peak-seconds", type=float, default=1.0, help="time per kernel for the matmul peak")
    parser.add_argument("--peak-tokens", type=int, default=4096, help="rows of the peak's 768x3072 product")
    parser.add_argument("--out", default="benchmarks/results", help="directory for inference.md/.json/.png")


def main(argv: list[str] | None = None, from_cli: bool = False) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the MiniLM-sized model (default: the bundled all-MiniLM-L6-v2)")
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.argv, args.from_cli = argv, from_cli
    return run(args)


RESULT = "RESULT "  # marks the worker's result line on its standard output

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        result, runner, short = worker(json.loads(sys.argv[2]))
        print(RESULT + json.dumps(result), flush=True)
        answer_rounds(runner, short)
    else:
        from bertkit.errors import BertkitError

        try:
            main()
        except BertkitError as e:  # as `bertkit bench` does: one line, exit 1
            sys.exit(f"error: {e}")
