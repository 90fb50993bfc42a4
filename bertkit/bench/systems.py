"""Every system the bench knows, which run on which device, and what each needs installed.

`bertkit <precision>` is bertkit's engine (`worker.Bertkit`), the others the optional
references. Standard library only: `bertkit --help` reads these.

The references import the test oracles (transformers, ONNX Runtime, ...), which bertkit itself
never imports, so they are not in the package: they are the repository's
`benchmarks/references.py`, loaded from there (`load_references`). An installed bertkit without
its repository measures its own systems and says where the references are."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

ANCHORS = ("onnxruntime", "onnxruntime int8", "ctranslate2", "ctranslate2 int8", "openvino", "openvino int8")
FP32_ANCHORS = ("onnxruntime", "ctranslate2", "openvino")  # bertkit fp32 against the fastest
ENGINE = ("bertkit fp32", "bertkit bf16", "bertkit int8", "bertkit auto")  # bertkit's, in each precision
SYSTEMS = (*ENGINE, "transformers", "transformers bf16", *ANCHORS)
CPU_ONLY = ("bertkit int8", *ANCHORS)
DEFAULT_SYSTEMS = {  # int8 and the anchors run on the CPU only; "auto" is one of the three (`bertkit info`)
    "cpu": (*ENGINE, "transformers", *ANCHORS),
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
INSTALL_HINT = "pip install 'bertkit[bench]'"
REFERENCES = Path(__file__).resolve().parents[2] / "benchmarks" / "references.py"
REFERENCES_HINT = "its references are the repository's benchmarks/references.py: run `bertkit bench` from a checkout"


@functools.cache
def load_references():
    """The repository's benchmarks/references.py as a module; None without the repository."""
    if not REFERENCES.is_file():
        return None
    spec = importlib.util.spec_from_file_location("bertkit_bench_references", REFERENCES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_references(systems: list[str]) -> list[str]:
    """The reference systems among `systems` when benchmarks/references.py is not there."""
    return [] if REFERENCES.is_file() else [s for s in systems if s not in ENGINE]


def missing_oracles(systems: list[str]) -> dict[str, list[str]]:
    """system -> the modules it needs that are not installed."""
    missing = {s: [m for m in ORACLE_MODULES.get(s, []) if importlib.util.find_spec(m) is None] for s in systems}
    return {system: modules for system, modules in missing.items() if modules}
