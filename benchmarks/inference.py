"""Inference benchmark: bertkit's engine in each precision against transformers, ONNX Runtime, CTranslate2 and OpenVINO.

    python benchmarks/inference.py                 # both sizes, every system, ~10 minutes on 2 cores
    python benchmarks/inference.py --sizes minilm --texts 256 --systems "bertkit fp32,onnxruntime"
    python benchmarks/inference.py --sizes minilm --systems "bertkit fp32,ctranslate2,openvino int8"
    python benchmarks/inference.py --device cuda   # on a GPU: bertkit fp32/bf16, transformers fp32/bf16

The same run as `bertkit bench` (the harness is the package `bertkit.bench`; see its `run.py`),
named `python benchmarks/inference.py` in the report.
"""

import sys

from bertkit.bench.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], command="python benchmarks/inference.py"))
