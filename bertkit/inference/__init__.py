"""Fast inference: unpadded execution, packed weights, fp32 / bf16 / int8, CPU and CUDA.

    engine.py    FastEncoder: a backbone's forward pass on real tokens only
    heads.py     FastTaskModel: a fine-tuned model's head on a FastEncoder (predict)
    kernels.py   PackedLinear: dense layers with weights packed once per precision and device
    batching.py  length-bucketed batches under a token budget
    threads.py   intra-op threads capped at the CPUs the process may use (affinity, cgroup quota)
    peak.py      this machine's measured matmul peak, the limit the engine is measured against

See docs/inference.md.
"""

from bertkit.inference.batching import length_batches
from bertkit.inference.engine import FastEncoder
from bertkit.inference.heads import FastTaskModel
from bertkit.inference.kernels import PRECISIONS

__all__ = ["FastEncoder", "FastTaskModel", "length_batches", "PRECISIONS"]
