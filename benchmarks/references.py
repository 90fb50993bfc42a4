"""The references the bench measures bertkit against (what each is: `systems.DESCRIPTIONS`):
how the anchors, all but `transformers`, are built from the checkpoint (`prepare`), and how each
embeds the packed token ids: `batch_size` texts in input order, each batch padded to its longest
text (dynamic padding), mean-pooled."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

# What each anchor runs, built once per model size before the systems run (`prepare`)
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


class PaddedBatches:
    """A reference's `embed`, over batches padded to their longest text: `hidden_states(batch,
    word, mask)` gives a batch's (B, S, H) output from its ids and mask, (B, S) int64 on `device`."""

    device = torch.device("cpu")

    @torch.inference_mode()
    def embed(self, token_ids: list[list[int]], batch_size: int) -> np.ndarray:
        out = []
        for start in range(0, len(token_ids), batch_size):
            batch = token_ids[start : start + batch_size]
            word, mask = (torch.from_numpy(array).to(self.device) for array in padded(batch))
            out.append(mean_pool(torch.as_tensor(self.hidden_states(batch, word, mask)), mask))
        return np.concatenate(out)


class LastHiddenState(torch.nn.Module):
    """`transformers`' model of `model_dir` (SDPA attention) with one output, the last hidden
    state: what `Transformers` runs and the exporters trace."""

    def __init__(self, model_dir: Path):
        from transformers import AutoModel

        super().__init__()
        self.model = AutoModel.from_pretrained(model_dir, attn_implementation="sdpa").eval()

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state


class Transformers(PaddedBatches):
    def __init__(self, model_dir: Path, threads: int, device: str = "cpu", dtype: torch.dtype = torch.float32):
        torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.model = LastHiddenState(model_dir).to(self.device, dtype)

    def hidden_states(self, batch, word, mask):
        return self.model(word, mask)


INPUT_NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def example_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids, mask and token types of two texts, one padded: what exporters trace the model with."""
    word = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones_like(word)
    mask[1, 9:] = 0
    return word, mask, torch.zeros_like(word)


def feed(word, mask) -> dict[str, np.ndarray]:
    """The exported models' inputs from (B, S) ids and mask (arrays or CPU tensors), one segment."""
    return {"input_ids": np.asarray(word), "attention_mask": np.asarray(mask), "token_type_ids": np.zeros_like(word)}


def export_onnx(model_dir: Path, path: Path) -> Path:
    """Export `model_dir` with dynamic (batch, length) by the dynamo exporter, and fuse it for
    ONNX Runtime on CPU (its transformer optimizer: SkipLayerNorm, BiasGelu)."""
    import warnings

    from onnxruntime.transformers import optimizer
    from transformers import AutoConfig

    raw = path.with_suffix(".raw.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHiddenState(model_dir),
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


class OnnxRuntime(PaddedBatches):
    def __init__(self, onnx_path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def hidden_states(self, batch, word, mask):
        return self.session.run(None, feed(word, mask))[0]


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


class CTranslate2(PaddedBatches):
    """CTranslate2's `Encoder` with its own choice of kernels for this CPU (oneDNN on AMD;
    forcing Intel MKL with CT2_USE_MKL=1 made int8 several times slower on a Zen 3)."""

    def __init__(self, path: Path, compute_type: str, threads: int):
        import ctranslate2

        self.encoder = ctranslate2.Encoder(
            str(path), device="cpu", compute_type=compute_type, intra_threads=threads, inter_threads=1
        )

    def hidden_states(self, batch, word, mask):  # it pads each batch to its longest text itself
        return np.array(self.encoder.forward_batch(batch).last_hidden_state)


def convert_openvino(model_dir: Path, path: Path) -> Path:
    """`model_dir` as an OpenVINO model (`path`: .xml, weights beside it in .bin), dynamic
    batch and length, weights kept in fp32 (`save_model` would halve them to fp16 by default)."""
    import warnings

    import openvino as ov

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's, on branches that hold for every input here
        converted = ov.convert_model(LastHiddenState(model_dir), example_input=example_inputs())
    converted.reshape({name: ov.PartialShape([-1, -1]) for name in INPUT_NAMES})
    ov.save_model(converted, str(path), compress_to_fp16=False)
    return path


def quantize_openvino(fp32: Path, path: Path, ids: list[list[int]]) -> Path:
    """The OpenVINO model `fp32` with int8 weights and activations by NNCF's preset for
    transformers (SmoothQuant first), activation ranges from CALIBRATION_TEXTS of `ids` spread
    evenly over the run (whose order mixes short and long ones), at batch 1: no padding in them.

    On all-MiniLM-L6-v2 (128 texts of the mix, 64 of them for calibration) the cosine to
    transformers was 0.971 min / 0.994 mean; int8 weights alone (`nncf.compress_weights`, no
    calibration, activations left in fp32) gave 0.998 / 0.999 but are not an int8 engine.
    """
    import contextlib
    import io
    import logging

    import nncf
    import openvino as ov

    calibration = ids[:: max(1, len(ids) // CALIBRATION_TEXTS)][:CALIBRATION_TEXTS]
    nncf.set_log_level(logging.WARNING)
    model = ov.Core().read_model(str(fp32))
    dataset = nncf.Dataset(calibration, lambda text_ids: feed(*padded([text_ids])))
    with contextlib.redirect_stdout(io.StringIO()):  # its progress bars
        quantized = nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration))
    ov.save_model(quantized, str(path), compress_to_fp16=False)
    return path


class OpenVino(PaddedBatches):
    def __init__(self, path: Path, threads: int):
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        self.request = ov.Core().compile_model(str(path), "CPU", config).create_infer_request()

    def hidden_states(self, batch, word, mask):
        return self.request.infer(feed(word, mask))[0]


def build(name: str, directory: Path, path: Path, built: dict[str, Path], ids: list[list[int]]) -> Path:
    """One anchor's model, `name` from BUILDS, written to `path` (a file or a folder)."""
    if name == "onnx":
        return export_onnx(directory, path)
    if name == "onnx int8":
        return quantize_onnx(built["onnx"], path)
    if name == "ctranslate2":
        return convert_ctranslate2(directory, path)
    if name == "openvino":
        return convert_openvino(directory, path)
    return quantize_openvino(built["openvino"], path, ids)


def prepare(systems: list[str], directory: Path, workdir: Path, size: str, ids: list[list[int]]):
    """(system -> the path of its model, build name -> seconds), for the anchors in `systems`.
    Conversions run here, before any system is timed, so they count in no system's load time.
    A build that fails is reported and its systems left out (the others still run)."""
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
