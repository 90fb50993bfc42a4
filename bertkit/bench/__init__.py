"""`bertkit bench`'s harness: bertkit's engine against transformers, ONNX Runtime, CTranslate2
and OpenVINO, on the same texts, token ids and weights, each system in a process of its own.

    run.py         the whole run: systems and texts chosen, model sizes set up, workers started
    systems.py     every system's name, device and required packages; where the references are
                   (the repository's benchmarks/references.py: they import the test oracles)
    worker.py      one system in its own process: its runner, throughput, latency, memory
    measure.py     clocks, memory, the dense layers' rate, the short-sentence rounds
    compare.py     ratios, fraction of the measured peak, accuracy, the run's verdicts
    report.py      inference.md, inference.json and inference.png
    texts.py       `--texts-file`, or the built-in mix of real text

This module holds the options only, so that `bertkit --help` loads neither torch nor a
reference.
"""

from __future__ import annotations

import argparse
import os

from bertkit.bench.systems import SYSTEMS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the harness (`bertkit bench` and `run.main` add `--model` themselves)."""
    parser.add_argument("--sizes", default="minilm,base", help="comma-separated: minilm, base")
    parser.add_argument(
        "--systems", help="comma-separated, from: " + ", ".join(SYSTEMS) + " (default: all that run on --device)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every system runs")
    parser.add_argument("--texts", type=int, default=512, help="texts per measurement (default 512)")
    parser.add_argument(
        "--texts-file", help="your texts instead of the built-in real-text mix: one per line, or a .json list"
    )
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
