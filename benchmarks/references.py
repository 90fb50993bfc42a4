"""The systems the benchmark compares, behind one interface.

Every system embeds the same packed token ids (with [CLS]/[SEP], produced once by bertkit's
preprocessor, which matches HuggingFace's tokenizer id for id) into mean-pooled float32
vectors, so tokenisation is outside every measurement and every system does the same work:

- `bertkit <precision>`: `FastEncoder`, texts batched by length, no compute on padding;
- `transformers` (and `transformers bf16`): `BertModel` in PyTorch with SDPA attention, batches
  of `batch_size` texts in input order, padded to each batch's longest text (dynamic padding),
  mean-pooled where the model runs (on a GPU, only the vectors come back);
- `onnxruntime`: the same `transformers` model exported with `torch.onnx.export` (dynamo
  exporter, dynamic batch and length), fused by ONNX Runtime's transformer optimizer
  (SkipLayerNorm, BiasGelu), run with all graph optimisations on the same batches as
  `transformers`.

`transformers`, `onnxruntime`, `onnx` and `onnxscript` are imported here only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def padded(token_ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(B, S) int64 ids and mask, padded with 0 to the longest text of the batch."""
    longest = max(len(ids) for ids in token_ids)
    word = np.zeros((len(token_ids), longest), dtype=np.int64)
    mask = np.zeros_like(word)
    for row, ids in enumerate(token_ids):
        word[row, : len(ids)] = ids
        mask[row, : len(ids)] = 1
    return word, mask


def mean_pool(sequence: torch.Tensor, mask: torch.Tensor) -> np.ndarray:  # (B, S, H), (B, S) -> (B, H)
    """Mean over the real tokens, computed where `sequence` is (on a GPU, only (B, H) comes back)."""
    weights = mask[..., None].float()
    return ((sequence.float() * weights).sum(1) / weights.sum(1)).cpu().numpy()


class Bertkit:
    def __init__(self, model_dir: Path, precision: str, threads: int, device: str = "cpu"):
        from bertkit.checkpoint import load_backbone
        from bertkit.inference import FastEncoder

        torch.set_num_threads(threads)
        backbone, _, _ = load_backbone(model_dir)
        self.engine = FastEncoder(backbone, precision=precision, device=device)

    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        return self.engine.embed_many(token_ids, pooling="mean", batch_size=batch_size).numpy()

    def dense_linears(self):
        """(in, out, PackedLinear) of one layer, for timing the dense work alone."""
        layer = self.engine.layers[0]
        return [(lin.in_features, lin.out_features, lin) for lin in (layer.qkv, layer.attention_output, layer.inner, layer.outer)]


class Transformers:
    def __init__(self, model_dir: Path, threads: int, device: str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoModel

        torch.set_num_threads(threads)
        self.device = torch.device(device)
        model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa")
        self.model = model.to(self.device, dtype).eval()

    @torch.inference_mode()
    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(token_ids), batch_size):
            word, mask = padded(token_ids[start : start + batch_size])
            word, mask = torch.from_numpy(word).to(self.device), torch.from_numpy(mask).to(self.device)
            out.append(mean_pool(self.model(input_ids=word, attention_mask=mask).last_hidden_state, mask))
        return np.concatenate(out)


class _LastHiddenState(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


def export_onnx(model_dir: Path, path: Path) -> Path:
    """Export `model_dir` with dynamic (batch, length) and fuse it for ONNX Runtime on CPU."""
    import warnings

    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig, AutoModel

    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    word = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones_like(word)
    mask[1, 9:] = 0
    names = ["input_ids", "attention_mask", "token_type_ids"]
    raw = path.with_suffix(".raw.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model),
            (word, mask, torch.zeros_like(word)),
            str(raw),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "length"} for name in [*names, "last_hidden_state"]},
            dynamo=True,
        )
    config = AutoConfig.from_pretrained(model_dir)
    fused = optimizer.optimize_model(
        str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    fused.save_model_to_file(str(path))
    return path


class OnnxRuntime:
    def __init__(self, onnx_path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(token_ids), batch_size):
            word, mask = padded(token_ids[start : start + batch_size])
            feed = {"input_ids": word, "attention_mask": mask, "token_type_ids": np.zeros_like(word)}
            out.append(mean_pool(torch.from_numpy(self.session.run(None, feed)[0]), torch.from_numpy(mask)))
        return np.concatenate(out)
