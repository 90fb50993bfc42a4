"""Fast inference: unpadded execution, packed weights, fp32 / bf16 / int8, CPU and CUDA.

    engine.py       FastEncoder: a backbone's forward pass on real tokens only
    layout.py       where the real tokens of a padded batch sit once gathered into (T, H)
    layer.py        one transformer layer: its weights packed for each path, its PyTorch forward
    fused_layer.py  a whole layer in one C call (csrc/) for passes of few token rows
    kernels.py      PackedLinear: dense layers with weights packed once per precision and device
    smoothing.py    SmoothQuant's calibration for int8
    heads.py        FastTaskModel: a fine-tuned model's head on a FastEncoder (predict)
    cpu.py          what this CPU can run; every kernel choice asks it
    threads.py      intra-op threads capped at the CPUs the process may use (affinity, cgroup quota)
    peak.py         this machine's measured matmul peak, the limit the engine is measured against

See docs/inference.md.
"""

from bertkit.inference.engine import FastEncoder
from bertkit.inference.heads import FastTaskModel
from bertkit.inference.kernels import PRECISIONS

__all__ = ["FastEncoder", "FastTaskModel", "PRECISIONS"]
