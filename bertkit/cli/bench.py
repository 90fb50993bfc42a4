"""`bertkit bench`: the inference engine against transformers, ONNX Runtime, CTranslate2 and OpenVINO, in one run.

    $ bertkit bench                                   # MiniLM- and BERT-base-sized, every system
    $ bertkit bench --sizes minilm --texts 128 --systems "bertkit fp32,bertkit int8,onnxruntime"

Measures, on the same real texts and the same model, bertkit's engine in fp32, bf16, int8 and
auto, `transformers` (PyTorch, SDPA, dynamic padding) and the anchors: ONNX Runtime optimized
(the model exported from `transformers`, fused; fp32 and int8), CTranslate2 and OpenVINO (fp32
and int8), each with its cosine to `transformers`: texts/s, tokens/s, batch-1 latency (p50/p99), peak memory, load time and the
fraction of this machine's measured matmul peak; writes `inference.md`, `inference.json` and
`inference.png` into `--out` (default `benchmarks/results`). The references are optional:
without them the command says how to install them (`pip install 'bertkit[bench]'`) and
measures the rest. The harness is the package `bertkit.bench` (`python benchmarks/inference.py`
runs the same); the references themselves, which import those test oracles, are the
repository's `benchmarks/references.py`, loaded from the checkout (bertkit never imports them).
"""

from __future__ import annotations

import argparse

from bertkit import bench
from bertkit.cli import add_model_argument

HELP = "measure the inference engine against transformers, ONNX Runtime, CTranslate2 and OpenVINO (throughput, latency, memory)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_argument(parser)  # the MiniLM-sized model slot; the BERT-base-sized one is random
    bench.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bertkit.bench.run import run as run_bench  # loads torch: not at every command's start-up

    options = [f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items() if _is_option(key, value)]
    run_bench(args, " ".join(["bertkit bench", *options]))
    return 0


def _is_option(key: str, value) -> bool:
    return not key.startswith("_") and key != "command" and value is not None
