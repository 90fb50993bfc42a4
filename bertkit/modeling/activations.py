"""The one table of activations: config.json's `hidden_act` -> the function, and its form.

`form` names the computation for the kernels that implement it themselves (the inference
engine's fused C layer and oneDNN's post-ops): "gelu_erf" is the exact erf GELU of the original
BERT, "gelu_tanh" the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, and `gelu_fast`,
equal up to rounding); None where only PyTorch computes it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation written as in some GPT-2 ports; equal to gelu_new up to rounding.
    return 0.5 * x * (1.0 + torch.tanh(x * math.sqrt(2.0 / math.pi) * (1.0 + 0.044715 * x * x)))


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


@dataclasses.dataclass(frozen=True)
class Activation:
    function: Callable[[torch.Tensor], torch.Tensor]
    form: str | None  # "gelu_erf", "gelu_tanh", "relu"; None: PyTorch only


ACTIVATIONS = {
    "gelu": Activation(F.gelu, "gelu_erf"),
    "gelu_new": Activation(_gelu_tanh, "gelu_tanh"),
    "gelu_pytorch_tanh": Activation(_gelu_tanh, "gelu_tanh"),
    "gelu_fast": Activation(_gelu_fast, None),
    "relu": Activation(F.relu, "relu"),
    "silu": Activation(F.silu, None),
    "swish": Activation(F.silu, None),
    "tanh": Activation(torch.tanh, None),
}
