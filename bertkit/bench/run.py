"""Inference benchmark: bertkit's engine in each precision against transformers, ONNX Runtime, CTranslate2 and OpenVINO.

The whole run (`run`), each model size (`measure_size`), each system in a worker process (`measure_systems`)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

from bertkit.bench import add_arguments
from bertkit.bench.compare import add_derived, verdicts
from bertkit.bench.measure import dense_flops_per_token, short_sentence_rounds
from bertkit.bench.report import machine_description, write_outputs
from bertkit.bench.systems import (
    CPU_ONLY,
    DEFAULT_SYSTEMS,
    INSTALL_HINT,
    REFERENCES_HINT,
    SYSTEMS,
    load_references,
    missing_oracles,
    missing_references,
)
from bertkit.bench.texts import read_texts, realistic_mix
from bertkit.bench.worker import RESULT
from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint import save
from bertkit.errors import BertkitError, InputError
from bertkit.inference.peak import fp32_peak, measure_matmul_peak
from bertkit.modeling.bert import BertModel
from bertkit.modeling.config import BertConfig
from bertkit.preprocessing import Preprocessor

SHORT_SENTENCE = "This is a spam mail"
WORKER_OPTIONS = ("device", "threads", "batch_size", "repeats", "latency_texts", "peak_seconds", "peak_tokens")


def main(argv: list[str], command: str) -> int:
    """`python benchmarks/inference.py ARGS` (`command`: how the report names the script); an
    error ends with one line and exit 1, as `bertkit bench` does."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="the MiniLM-sized model (default: the bundled all-MiniLM-L6-v2)")
    add_arguments(parser)
    try:
        run(parser.parse_args(argv), " ".join([command, *argv]))
    except BertkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace, command: str) -> None:
    """The whole run, for each size: build the anchors, measure every system, compare, report."""
    systems = choose_systems(args)
    texts = run_texts(args)
    missing = missing_oracles(systems)
    for system, modules in missing.items():
        print(f"skipping {system}: {', '.join(modules)} not installed; {INSTALL_HINT}")
    for system in missing_references(systems):
        missing[system] = []
        print(f"skipping {system}: {REFERENCES_HINT}")
    systems = [s for s in systems if s not in missing]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    load_avg = os.getloadavg()[0]

    print(f"measuring the matmul peak ({args.peak_tokens}x768 . 768x3072) ...", flush=True)
    peaks = measure_matmul_peak(m=args.peak_tokens, seconds=args.peak_seconds, device=args.device)
    report = {
        "command": command,
        "machine": machine_description(args.device),
        "device": args.device,
        "threads": args.threads,
        "load_average_at_start": load_avg,
        "matmul_peak_gflops": peaks,
        "fp32_peak_gflops": fp32_peak(peaks),
        "batch_size": args.batch_size,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-", ignore_cleanup_errors=True) as workdir:
        for size in args.sizes.split(","):
            report["sizes"][size] = measure_size(args, systems, texts, Path(workdir), size, peaks)
    report["load_average_at_end"] = os.getloadavg()[0]
    write_outputs(report, Path(args.out))


def choose_systems(args: argparse.Namespace) -> list[str]:
    """`--systems` (or the device's defaults), less those that run on the CPU only in a GPU run."""
    systems = [s.strip() for s in (args.systems or ",".join(DEFAULT_SYSTEMS[args.device])).split(",")]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise InputError(f"unknown system(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(SYSTEMS)}")
    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda: PyTorch sees no CUDA device here")
        for system in [s for s in systems if s in CPU_ONLY]:
            print(f"skipping {system}: it runs on the CPU only")
        systems = [s for s in systems if s not in CPU_ONLY]
    return systems


def run_texts(args: argparse.Namespace) -> list[str]:
    """`--texts` of `--texts-file`, or of the built-in real-text mix."""
    if not args.texts_file:  # ~10 s: tokenizing the standard library's sources is most of it
        print(
            "reading the built-in real-text mix (catalogs, licenses, changelogs, the standard library) ...", flush=True
        )
        return realistic_mix(args.texts)
    try:
        texts = read_texts(Path(args.texts_file))[: args.texts]
    except (OSError, ValueError) as e:  # unreadable, not UTF-8, not a JSON list
        raise InputError(f"{args.texts_file}: cannot read texts ({e})") from None
    if not texts:
        raise InputError(f"{args.texts_file}: no texts")
    return texts


def model_dir(size: str, workdir: Path, minilm: str | None) -> Path:
    """The bundled MiniLM (or `minilm`), or a randomly initialised BERT-base with its vocabulary."""
    vocabulary = Path(resolve_model_dir(minilm))
    if size == "minilm":
        return vocabulary
    directory = workdir / "bert-base-random"
    if not (directory / "config.json").exists():
        torch.manual_seed(0)
        config = BertConfig()  # BERT-base: 12 layers, hidden 768, 12 heads, intermediate 3072
        save(BertModel(config).eval(), config, directory, source=vocabulary)
    return directory


def token_ids(directory: Path, texts: list[str]) -> list[list[int]]:
    """Each text's packed ids ([CLS] ... [SEP], at most 128), by bertkit's preprocessor."""
    batch = Preprocessor.from_pretrained(directory, seq_length=128)(texts, padding="longest")
    ids, mask = batch["input_word_ids"].tolist(), batch["input_mask"].tolist()
    return [[i for i, m in zip(row, keep) if m] for row, keep in zip(ids, mask)]


def measure_size(args, systems: list[str], texts: list[str], workdir: Path, size: str, peaks: dict) -> dict:
    """One model size's entry of the report: every system measured, then compared."""
    directory = model_dir(size, workdir, args.model)
    ids = token_ids(directory, texts)
    (workdir / "ids.json").write_text(json.dumps(ids))
    entry = {"model": str(directory), "texts": len(ids), "mean_tokens": statistics.mean(map(len, ids))}
    references = load_references()
    artifacts, entry["build_s"] = references.prepare(systems, directory, workdir, size, ids) if references else ({}, {})
    if "onnx" in entry["build_s"]:
        entry["onnx_export_s"] = entry["build_s"]["onnx"]
    runnable = [s for s in systems if s not in getattr(references, "ARTIFACTS", ()) or s in artifacts]
    results = measure_systems(args, runnable, directory, artifacts, workdir, size)
    entry["accuracy_reference"] = add_derived(results, dense_flops_per_token(directory), peaks, sum(map(len, ids)))
    entry.update(verdicts(results))
    entry["results"] = results
    return entry


def measure_systems(args, systems: list[str], directory: Path, artifacts: dict, workdir: Path, size: str) -> dict:
    """system -> its worker's measurements, with the short sentence's p50 from rounds that every
    worker, kept loaded after its own measurements, takes in turn."""
    results, workers = {}, {}
    short = token_ids(directory, [SHORT_SENTENCE])[0]
    try:
        for system in tqdm(systems, desc=f"{size}", unit="system"):
            stem = workdir / f"{size}-{system.replace(' ', '-')}"
            job = {
                **{key: getattr(args, key) for key in WORKER_OPTIONS}, "system": system, "model": str(directory),
                "artifact": artifacts.get(system), "ids": str(workdir / "ids.json"), "short": short,
                "vectors": f"{stem}.npy",
            }  # fmt: skip
            # the process stays, idle, for the short-sentence rounds after the last system
            with open(f"{stem}.log", "w") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bertkit.bench.worker", json.dumps(job)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                )  # fmt: skip
            line = proc.stdout.readline()
            while line and not line.startswith(RESULT):  # whatever a library printed first
                line = proc.stdout.readline()
            if not line:
                proc.wait()
                print(f"{size} / {system} failed:\n{Path(f'{stem}.log').read_text()[-2000:]}")
                continue
            results[system] = {**json.loads(line[len(RESULT) :]), "vectors": job["vectors"]}
            workers[system] = proc
        for system, p50 in short_sentence_rounds(workers, args.short_rounds).items():
            results[system]["short_latency_p50_ms"] = p50
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.stdin.close()
                proc.wait()
    return results
