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
measures the rest. The harness is `benchmarks/inference.py` in the repository, which this
command runs; bertkit itself never imports the references.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from bertkit.errors import BertkitError

HELP = "measure the inference engine against transformers, ONNX Runtime, CTranslate2 and OpenVINO (throughput, latency, memory)"

HARNESS = Path(__file__).resolve().parents[2] / "benchmarks" / "inference.py"


def _harness():
    if not HARNESS.is_file():
        raise BertkitError(
            f"{HARNESS}: not found; `bertkit bench` runs the repository's benchmarks/ folder, "
            "so install bertkit from a checkout: pip install -e '.[bench]'"
        )
    spec = importlib.util.spec_from_file_location("bertkit_bench_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bertkit.cli import add_model_argument

    add_model_argument(parser)  # the MiniLM-sized model slot; the BERT-base-sized one is random
    if HARNESS.is_file():
        _harness().add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    harness = _harness()
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items() if _is_option(key, value)]
    harness.main(argv, from_cli=True)
    return 0


def _is_option(key: str, value) -> bool:
    return not key.startswith("_") and key != "command" and value is not None
