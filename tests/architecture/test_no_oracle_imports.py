"""bertkit never imports a test oracle: transformers, tokenizers, onnxruntime, CTranslate2,
OpenVINO, sentence-transformers and the like are for tests/ and benchmarks/ only (the bench's
references are benchmarks/references.py, which `bertkit bench` loads from the checkout)."""

from __future__ import annotations

import re
from pathlib import Path

import bertkit

ORACLES = ("transformers", "tokenizers", "onnxruntime", "onnx", "onnxscript", "ctranslate2", "openvino", "nncf",
           "sentence_transformers", "openai", "tensorflow", "tensorflow_hub", "tensorflow_text", "tf_keras", "official")  # fmt: skip
IMPORT = re.compile(r"^\s*(?:from|import)\s+(" + "|".join(ORACLES) + r")\b", re.M)


def test_no_module_of_bertkit_imports_an_oracle():
    found = [
        f"{path.relative_to(Path(bertkit.__file__).parent)}: {match.group(0).strip()}"
        for path in sorted(Path(bertkit.__file__).parent.rglob("*.py"))
        for match in IMPORT.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
