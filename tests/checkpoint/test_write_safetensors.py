"""`write_safetensors` writes the safetensors format one tensor at a time: safetensors reads back
every dtype bertkit saves, views (transposed kernels, slices) included, with the metadata."""

from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from bertkit.checkpoint.files import write_safetensors


def test_every_dtype_and_view_reads_back_equal(tmp_path):
    weights = torch.randn(4, 6)
    tensors = {
        "kernel.T": weights.T,  # a transposed view, as TensorFlow's kernels arrive
        "slice": weights[1:3, ::2],
        "scalar": torch.tensor(7, dtype=torch.int64),
        "bf16": torch.randn(3, 5).to(torch.bfloat16),
        "fp16": torch.randn(2).half(),
        "fp64": torch.randn(2, dtype=torch.float64),
        "int32": torch.arange(5, dtype=torch.int32),
        "int8": torch.arange(-3, 3, dtype=torch.int8),
        "uint8": torch.arange(4, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "empty": torch.empty(0, 3),
    }
    path = tmp_path / "model.safetensors"
    write_safetensors(tensors, path, metadata={"format": "pt"})
    back = load_file(path)
    assert back.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert back[name].dtype == tensor.dtype and torch.equal(back[name], tensor), name
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
    assert int.from_bytes(path.read_bytes()[:8], "little") % 8 == 0  # the header keeps data 8-byte aligned
