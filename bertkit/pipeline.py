"""`bertkit.load`: a checkpoint's preprocessor and encoder together, with the calls users make.

    >>> import bertkit
    >>> m = bertkit.load()                      # the bundled all-MiniLM-L6-v2
    >>> vecs = m.embed(["A man is eating food.", "Someone eats."], pooling="mean", normalize=True)
    >>> vecs.shape, vecs.dtype
    ((2, 384), dtype('float32'))
    >>> round(float(vecs[0] @ vecs[1]), 2) > 0.5
    True

Task calls join `Pipeline` as their features arrive (`predict` for a fine-tuned classifier or
tagger, `fill_mask` for a model with an MLM head); each is a method built on `preprocessor`
and `encoder` (or the task model) like `embed` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.errors import InputError, InputTypeError
from bertkit.inference import FastEncoder, FastTaskModel
from bertkit.inference.kernels import resolve_precision
from bertkit.preprocessing import Preprocessor
from bertkit.tasks import prediction
from bertkit.tasks.encoder import Encoder, resolve_device
from bertkit.tasks.fill_mask import FillMask

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Precisions whose embed() and predict() run on bertkit.inference's FastEncoder (unpadded,
# packed weights); int8 keeps the reference encoder in fp32.
ENGINE_PRECISIONS = ("fp32", "bf16", "int8")
POOLINGS = ("cls", "mean", "pooled")


def load(
    model: str | Path | None = None,
    precision: str = "fp32",
    device: str | torch.device | None = None,
    seq_length: int = 128,
) -> Pipeline:
    """Preprocessor + encoder of a checkpoint directory (None = the bundled default model).

    `precision` casts the encoder's weights ("fp32", "bf16", "fp16"); outputs of `embed` and
    `predict` are float32 whatever the precision. With "fp32", "bf16" and "int8" (dynamic, CPU),
    `embed` and `predict` run on `bertkit.inference.FastEncoder` (a fine-tuned model's head
    stays fp32 on top of it): same numbers in fp32, no compute on padding (docs/inference.md).
    "auto" picks the fastest of those that keeps its accuracy guard on this machine
    (`bertkit info` says which); `Pipeline.precision` is the one chosen.
    """
    if precision not in PRECISIONS and precision not in ENGINE_PRECISIONS and precision != "auto":
        choices = ", ".join(dict.fromkeys([*PRECISIONS, *ENGINE_PRECISIONS, "auto"]))
        raise InputError(f"unknown precision {precision!r}; choose one of {choices}")
    if precision == "auto":
        precision = resolve_precision(precision, resolve_device(device))
    engine_precision, precision = precision, "fp32" if precision == "int8" else precision
    directory = resolve_model_dir(model)
    task = None
    if checkpoint.task_of(directory) is not None:  # a fine-tuned model
        task_model, _, spec, _ = checkpoint.load_task(directory)
        task = (task_model.to(resolve_device(device)).eval(), spec)
        encoder = Encoder(task_model.backbone, source=directory).eval()  # shares the task model's weights
    else:
        encoder = Encoder.from_pretrained(directory, device=device)
    preprocessor = Preprocessor.from_pretrained(encoder.source, seq_length=seq_length)
    engine = task_engine = None
    if engine_precision in ENGINE_PRECISIONS:  # packed from the fp32 weights, before the cast below
        engine = FastEncoder(encoder.backbone, precision=engine_precision, device=encoder.device)
        task_engine = None if task is None else FastTaskModel(engine, task[0])  # its head stays fp32
    encoder.to(PRECISIONS[precision])
    if task is not None:
        task[0].to(PRECISIONS[precision])
    return Pipeline(preprocessor, encoder, task, engine, task_engine, precision=engine_precision)


class Pipeline:
    """The high-level model object: `.preprocessor`, `.encoder`, and `embed`."""

    def __init__(
        self,
        preprocessor,
        encoder: Encoder,
        task: tuple | None = None,
        engine=None,
        task_engine=None,
        precision: str = "fp32",
    ):
        self.preprocessor = preprocessor
        self.precision = precision  # what `load` ran: "auto" resolved to the precision it chose
        self.encoder = encoder
        self.task = task  # (task model, bertkit.checkpoint.TaskSpec) of a fine-tuned checkpoint
        self.engine = engine  # bertkit.inference.FastEncoder that embed() runs on, if any
        self.task_engine = task_engine  # bertkit.inference.FastTaskModel that predict() runs on, if any
        self._fill_mask = None  # bertkit.tasks.fill_mask.FillMask, built on first use

    @torch.inference_mode()
    def predict(
        self, texts: Sequence, texts_b: Sequence[str] | None = None, batch_size: int = 32, sigmoid: bool = False
    ) -> list[dict]:
        """Labels and scores from a fine-tuned classifier or tagger, one dict per text.

        Classifier: `{"label", "score", "scores"}` (multi-label: `{"labels", "scores"}`); pairs
        take `texts_b`. A one-output classifier (cross-encoder, regression) gives its raw score,
        or its sigmoid with `sigmoid=True`. Tagger: `{"words", "tags", "scores", "entities"}`, texts split on
        whitespace (or given as lists of words). See `bertkit.tasks.prediction.predict`.
        """
        if self.task is None:
            raise InputError(
                f"{self.encoder.source}: not a fine-tuned model, so nothing to predict; "
                "fine-tune one with `bertkit finetune`, or use embed()"
            )
        model, spec = self.task
        if self.task_engine is not None:  # the same head on the engine's backbone outputs
            model = self.task_engine
        return prediction.predict(model, spec, self.preprocessor, texts, texts_b, batch_size, sigmoid)

    def fill_mask(self, text: str, top_k: int = 5) -> list[list[dict]]:
        """Top-k fillers `{token, token_id, score}` for each [MASK] / <mask> of `text`, from the
        checkpoint's MLM head (loaded on first use). See `bertkit.tasks.fill_mask.FillMask`."""
        if self._fill_mask is None:
            model, _, _ = checkpoint.load_pretraining(self.encoder.source, require_heads=True)
            self._fill_mask = FillMask(model.to(self.encoder.device), self.preprocessor)
        return self._fill_mask(text, top_k)

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str],
        pooling: str = "cls",
        normalize: bool = False,
        batch_size: int = 32,
        progress: bool = False,
    ) -> np.ndarray:  # (N, H) float32, row i for texts[i]
        """One vector per text.

        `pooling`: "cls" (the first token's final state), "mean" (over real tokens, as
        sentence-transformers does) or "pooled" (the pooler's output). `normalize` scales each
        vector to unit L2 norm. Texts are batched by length (padding only to each batch's
        longest text) and returned in input order.
        """
        texts = _check_texts(texts)
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        pre = self.preprocessor
        vectors = np.zeros((len(texts), self.encoder.config.hidden_size), dtype=np.float32)
        with tqdm(total=len(texts), unit="text", disable=not progress, desc="embed") as bar:
            for batch, inputs in pre.batches(pre.encode(texts), batch_size):  # padded to each batch's longest
                if self.engine is not None:  # same vectors, no compute on padding
                    found = self.engine.embed(
                        inputs["input_word_ids"], inputs["input_mask"], inputs["input_type_ids"], pooling
                    )
                    vectors[batch] = (
                        (torch.nn.functional.normalize(found, dim=-1) if normalize else found).cpu().numpy()
                    )
                else:
                    vectors[batch] = self._pool(self.encoder(inputs), inputs["input_mask"], pooling, normalize)
                bar.update(len(batch))
        return vectors

    def _pool(self, out: dict, mask: torch.Tensor, pooling: str, normalize: bool) -> np.ndarray:
        if pooling == "cls":
            vectors = out["sequence_output"][:, 0]  # (B, S, H) -> (B, H)
        elif pooling == "mean":
            weights = mask.to(out["sequence_output"].device, torch.float32).unsqueeze(-1)  # (B, S, 1)
            total = (out["sequence_output"].float() * weights).sum(dim=1)  # (B, H)
            vectors = total / weights.sum(dim=1).clamp(min=1e-9)
        else:
            if out["pooled_output"] is None:
                raise InputError("this model has no pooler; use pooling 'cls' or 'mean'")
            vectors = out["pooled_output"]
        vectors = vectors.float()
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, p=2.0, dim=-1)
        return vectors.cpu().numpy()


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InputTypeError("embed takes a list of texts, not one string; wrap it: embed([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"text {i} is {type(text).__name__}, not a string")
    return texts
