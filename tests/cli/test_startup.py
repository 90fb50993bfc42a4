"""`bertkit --help` and every command's `--help` answer without loading the model stack.

The parser imports every command's module (cli/__init__.py), so a module-level import of torch
(or of anything that imports it: the pipeline, the server's app) in any of them would cost
every command, `--help` included, seconds of start-up.

Past the parser, a command that loads a model on the CPU and embeds with it imports no
torch._dynamo: PyTorch's varlen attention (CUDA only) pulls it in, ~2.6 s of every start-up.
"""

from __future__ import annotations

import subprocess
import sys


def test_building_the_parser_imports_no_torch():
    probe = "import sys, bertkit.cli; bertkit.cli.build_parser(); print(sorted(m for m in sys.modules if m == 'torch'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "bertkit", "--help"], capture_output=True, text=True, check=True)
    for command in ("preprocess", "encode", "embed", "finetune", "predict", "pretrain", "distill", "fill-mask",
                    "serve", "bench", "info"):  # fmt: skip
        assert command in result.stdout


def test_embedding_on_the_cpu_imports_no_torch_dynamo():
    probe = (
        "import sys, bertkit; m = bertkit.load(); m.embed(['This is a spam mail']); "
        "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_varlen_kernel_is_imported_on_first_use():
    """PyTorch >= 2.10 has it (this suite pins 2.13); on older ones it is None (tests/inference/test_layer.py)."""
    import torch

    from bertkit.inference import layer

    if torch.__version__ >= (2, 10):
        assert layer.varlen_kernel() is torch.nn.attention.varlen.varlen_attn
    assert not layer.uses_varlen_attention(torch.device("cpu"), torch.bfloat16, 64)
