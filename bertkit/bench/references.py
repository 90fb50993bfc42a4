"""The references the bench measures bertkit against: how each is built and run.

Every reference is built from the same local checkpoint directory (HuggingFace format) and
embeds the packed token ids in the same batches: `batch_size` texts in input order, each
batch padded to its longest text (dynamic padding), mean-pooled.

- `transformers` (and `transformers bf16`): `BertModel` in PyTorch with SDPA attention,
  mean-pooled where the model runs (on a GPU, only the vectors come back);
- `onnxruntime` ("ONNX Runtime optimized"): the same `transformers` model exported with
  `torch.onnx.export` (dynamo exporter, dynamic batch and length), fused by ONNX Runtime's
  transformer optimizer (SkipLayerNorm, BiasGelu), run with all graph optimisations on;
- `onnxruntime int8`: that fused model with int8 weights (ONNX Runtime's dynamic quantisation:
  per-output-channel weight scales, activations quantised per call), run the same way;
- `ctranslate2` / `ctranslate2 int8`: CTranslate2's `Encoder` on the checkpoint converted by its
  `TransformersConverter`, float32 or int8 compute (weights quantised per channel at load);
- `openvino` / `openvino int8`: the `transformers` model converted by `openvino.convert_model`
  (dynamic batch and length) and compiled for the CPU in fp32 (even where the CPU has bf16);
  int8 is NNCF's post-training quantisation (int8 weights and activations), calibrated on
  texts of the run itself.

The anchors (all but `transformers`) are built by `prepare`, once per model size, before any
system is timed. `transformers`, `onnxruntime`, `onnx`, `onnxscript`, `ctranslate2`,
`openvino` and `nncf` are optional: each is imported here only, inside the function that
needs it, so `import bertkit.bench` never imports them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

# What each anchor runs, built once per model size before the systems run (`prepare`); a
# build that needs another names it in BUILT_FROM.
ARTIFACTS = {
    "onnxruntime": "onnx",
    "onnxruntime int8": "onnx int8",
    "ctranslate2": "ctranslate2",
    "ctranslate2 int8": "ctranslate2",  # one float32 folder; int8 is chosen when it loads
    "openvino": "openvino",
    "openvino int8": "openvino int8",
}
BUILT_FROM = {"onnx int8": "onnx", "openvino int8": "openvino"}
BUILDS = {
    "onnx": ".onnx",
    "onnx int8": ".int8.onnx",
    "ctranslate2": "-ct2",
    "openvino": ".xml",
    "openvino int8": ".int8.xml",
}
CALIBRATION_TEXTS = 64  # openvino int8's activation ranges


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


def embed_in_batches(
    token_ids: list[list[int]], batch_size: int, hidden_states, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Mean-pooled vectors of `token_ids` in input-order batches of `batch_size`, each padded to
    its longest text; `hidden_states(batch, word, mask)` gives a batch's (B, S, H) output from
    its ids and mask, (B, S) int64 tensors on `device`."""
    out = []
    for start in range(0, len(token_ids), batch_size):
        batch = token_ids[start : start + batch_size]
        word, mask = (torch.from_numpy(array).to(device) for array in padded(batch))
        out.append(mean_pool(torch.as_tensor(hidden_states(batch, word, mask)), mask))
    return np.concatenate(out)


class Transformers:
    def __init__(self, model_dir: Path, threads: int, device: str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoModel

        torch.set_num_threads(threads)
        self.device = torch.device(device)
        model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa")
        self.model = model.to(self.device, dtype).eval()

    @torch.inference_mode()
    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        return embed_in_batches(
            token_ids,
            batch_size,
            lambda _, word, mask: self.model(input_ids=word, attention_mask=mask).last_hidden_state,
            self.device,
        )


class _LastHiddenState(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state


INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def example_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids, mask and token types of two texts, one padded: what exporters trace the model with."""
    word = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones_like(word)
    mask[1, 9:] = 0
    return word, mask, torch.zeros_like(word)


def feed(word, mask) -> dict[str, np.ndarray]:
    """The exported models' inputs from (B, S) ids and mask (arrays or CPU tensors): one
    segment, so token types are all 0."""
    word, mask = np.asarray(word), np.asarray(mask)
    return {"input_ids": word, "attention_mask": mask, "token_type_ids": np.zeros_like(word)}


def export_onnx(model_dir: Path, path: Path) -> Path:
    """Export `model_dir` with dynamic (batch, length) and fuse it for ONNX Runtime on CPU."""
    import warnings

    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig, AutoModel

    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    raw = path.with_suffix(".raw.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(model),
            example_inputs(),
            str(raw),
            input_names=INPUT_NAMES,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "length"} for name in [*INPUT_NAMES, "last_hidden_state"]},
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
        return embed_in_batches(
            token_ids, batch_size, lambda _, word, mask: self.session.run(None, feed(word, mask))[0]
        )


def quantize_onnx(fused: Path, path: Path) -> Path:
    """`fused` with int8 weights, for `OnnxRuntime`: ONNX Runtime's dynamic quantisation.

    Per output channel: on all-MiniLM-L6-v2 (128 texts of the benchmark's mix) one scale per
    weight matrix gave cosines to transformers of 0.880 min / 0.950 mean, one per channel
    0.971 / 0.990; `reduce_range` (7-bit weights, for CPUs without VNNI) gained nothing.
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to run its pre-processing: the model is fused already
    try:
        quantize_dynamic(str(fused), str(path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    return path


def convert_ctranslate2(model_dir: Path, path: Path) -> Path:
    """`model_dir` as a CTranslate2 model folder (float32 weights; int8 is chosen at load).

    CTranslate2's BERT converter checks `config.position_embedding_type == "absolute"`, an
    attribute `transformers` 5 dropped with relative positions: absolute is then the only kind,
    so it is filled in where missing. The pooler it converts is never used (mean pooling).
    """
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):
        def load_model(self, model_class, model_name_or_path, **kwargs):
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            if not hasattr(model.config, "position_embedding_type"):
                model.config.position_embedding_type = "absolute"
            return model

    Converter(str(model_dir)).convert(str(path), force=True)
    return path


class CTranslate2:
    """CTranslate2's `Encoder` with its own choice of kernels for this CPU (oneDNN on AMD;
    forcing Intel MKL with CT2_USE_MKL=1 made int8 several times slower on a Zen 3)."""

    def __init__(self, path: Path, compute_type: str, threads: int):
        import ctranslate2

        self.encoder = ctranslate2.Encoder(
            str(path), device="cpu", compute_type=compute_type, intra_threads=threads, inter_threads=1
        )

    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        # the encoder pads each batch to its longest text itself, as `padded` does
        return embed_in_batches(
            token_ids, batch_size, lambda batch, *_: np.array(self.encoder.forward_batch(batch).last_hidden_state)
        )


def convert_openvino(model_dir: Path, path: Path) -> Path:
    """`model_dir` as an OpenVINO model (`path`: .xml, weights beside it in .bin), dynamic
    batch and length, weights kept in fp32 (`save_model` would halve them to fp16 by default)."""
    import warnings

    import openvino as ov
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's, on branches that hold for every input here
        converted = ov.convert_model(_LastHiddenState(model), example_input=example_inputs())
    converted.reshape({name: ov.PartialShape([-1, -1]) for name in INPUT_NAMES})
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


def quantize_openvino(fp32: Path, path: Path, calibration: list[list[int]]) -> Path:
    """The OpenVINO model `fp32` quantised to int8 weights and activations by NNCF, with
    activation ranges from `calibration` (texts at batch 1, so no padding enters them).

    NNCF's preset for transformers (`ModelType.TRANSFORMER`: SmoothQuant first). On
    all-MiniLM-L6-v2 (128 texts of the mix, 64 of them for calibration) the cosine to
    transformers was 0.971 min / 0.994 mean; int8 weights alone (`nncf.compress_weights`, no
    calibration, activations left in fp32) gave 0.998 / 0.999 but are not an int8 engine.
    """
    import contextlib
    import io
    import logging

    import nncf
    import openvino as ov

    nncf.set_log_level(logging.WARNING)
    model = ov.Core().read_model(str(fp32))
    dataset = nncf.Dataset(calibration, lambda ids: feed(*padded([ids])))
    with contextlib.redirect_stdout(io.StringIO()):  # its progress bars
        quantized = nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    ov.save_model(quantized, str(path), compress_to_fp16=False)
    return path


class OpenVino:
    def __init__(self, path: Path, threads: int):
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()

    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        return embed_in_batches(token_ids, batch_size, lambda _, word, mask: self.request.infer(feed(word, mask))[0])


def build(name: str, directory: Path, path: Path, built: dict[str, Path], ids: list[list[int]]) -> Path:
    """One anchor's model, `name` from ARTIFACTS, written to `path` (a file or a folder)."""
    if name == "onnx":
        return export_onnx(directory, path)
    if name == "onnx int8":
        return quantize_onnx(built["onnx"], path)
    if name == "ctranslate2":
        return convert_ctranslate2(directory, path)
    if name == "openvino":
        return convert_openvino(directory, path)
    return quantize_openvino(built["openvino"], path, calibration(ids))


def calibration(ids: list[list[int]], n: int = CALIBRATION_TEXTS) -> list[list[int]]:
    """`n` texts spread evenly over the run's (whose order mixes short and long ones)."""
    return ids[:: max(1, len(ids) // n)][:n]


def prepare(systems: list[str], directory: Path, workdir: Path, size: str, ids: list[list[int]]):
    """(system -> the path of its model, build name -> seconds), for the anchors in `systems`.

    Conversions run here, before any system is timed, so they count in no system's load time.
    A build that fails is reported and its systems left out (the others still run).
    """
    wanted = {ARTIFACTS[s] for s in systems if s in ARTIFACTS}
    wanted |= {BUILT_FROM[name] for name in wanted if name in BUILT_FROM}
    built, seconds = {}, {}
    for name, suffix in BUILDS.items():  # in order: what a build starts from comes before it
        source = BUILT_FROM.get(name)
        if name not in wanted or (source and source not in built):
            continue
        start = time.perf_counter()
        try:
            built[name] = build(name, directory, workdir / f"{size}{suffix}", built, ids)
        except Exception as e:  # an anchor's converter that cannot take this model
            print(f"{size} / {name}: building failed, its systems are left out: {type(e).__name__}: {e}")
            continue
        seconds[name] = time.perf_counter() - start
    return {s: str(built[ARTIFACTS[s]]) for s in systems if ARTIFACTS.get(s) in built}, seconds
