"""`bertkit.load`: a checkpoint's preprocessor and encoder together, with the calls users make.

    >>> import bertkit
    >>> m = bertkit.load()                      # the bundled all-MiniLM-L6-v2
    >>> vecs = m.embed(["A man is eating food.", "Someone eats."])  # as its own files say: mean, normalised
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

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.sentence_transformers import EmbeddingDefaults, embedding_defaults
from bertkit.errors import InputError
from bertkit.inference import FastEncoder, FastTaskModel
from bertkit.inference.kernels import resolve_precision
from bertkit.pipeline import embedding
from bertkit.pipeline.embedding import LONG_TEXTS, POOLINGS, EmbedSettings  # noqa: F401  (POOLINGS: public here)
from bertkit.preprocessing import Preprocessor
from bertkit.tasks import chunking, compact, prediction
from bertkit.tasks.encoder import Encoder, resolve_device
from bertkit.tasks.fill_mask import FillMask
from bertkit.tasks.rerank import check_pair_model, rerank
from bertkit.tasks.similarity import similarity

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# Precisions whose embed() and predict() run on bertkit.inference's FastEncoder (unpadded,
# packed weights); int8 keeps the reference encoder in fp32.
ENGINE_PRECISIONS = ("fp32", "bf16", "int8")
SEQ_LENGTH = 128  # the preprocessor's, as TF Hub's preprocessing models pack


def load(
    model: str | Path | None = None,
    precision: str = "fp32",
    device: str | torch.device | None = None,
    seq_length: int | None = None,
) -> Pipeline:
    """Preprocessor + encoder of a checkpoint directory (None = the bundled default model).

    `precision` casts the encoder's weights ("fp32", "bf16", "fp16"); outputs of `embed` and
    `predict` are float32 whatever the precision. With "fp32", "bf16" and "int8" (dynamic, CPU),
    `embed` and `predict` run on `bertkit.inference.FastEncoder` (a fine-tuned model's head
    stays fp32 on top of it): same numbers in fp32, no compute on padding (docs/inference.md).
    "auto" picks the fastest of those that keeps its accuracy guard on this machine
    (`bertkit info` says which); `Pipeline.precision` is the one chosen.

    `seq_length` (tokens, special ones included) cuts longer texts. None: 128 for
    `.preprocessor` (TF Hub's contract) and, for `embed`, the `max_seq_length` the model's
    sentence-transformers files declare (capped by its position embeddings; 128 without them).
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
    preprocessor = Preprocessor.from_pretrained(encoder.source, seq_length=seq_length or SEQ_LENGTH)
    defaults = embedding_defaults(directory)
    embed_length = seq_length or min(
        (defaults and defaults.max_seq_length) or SEQ_LENGTH, encoder.config.max_position_embeddings
    )
    engine = task_engine = None
    if engine_precision in ENGINE_PRECISIONS:  # packed from the fp32 weights, before the cast below
        engine = FastEncoder(encoder.backbone, precision=engine_precision, device=encoder.device)
        task_engine = None if task is None else FastTaskModel(engine, task[0])  # its head stays fp32
    encoder.to(PRECISIONS[precision])
    if task is not None:
        task[0].to(PRECISIONS[precision])
    return Pipeline(
        preprocessor, encoder, task, engine, task_engine, precision=engine_precision,
        embedding=defaults, embed_length=embed_length,
    )  # fmt: skip


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
        embedding: EmbeddingDefaults | None = None,
        embed_length: int | None = None,
    ):
        self.preprocessor = preprocessor
        self.embedding = embedding  # the model's own embedding settings (sentence-transformers files), if any
        self.embed_length = embed_length or preprocessor.seq_length  # tokens per text in embed()
        self.precision = precision  # what `load` ran: "auto" resolved to the precision it chose
        self.encoder = encoder
        self.task = task  # (task model, bertkit.checkpoint.TaskSpec) of a fine-tuned checkpoint
        self.engine = engine  # bertkit.inference.FastEncoder that embed() runs on, if any
        self.task_engine = task_engine  # bertkit.inference.FastTaskModel that predict() runs on, if any
        self._fill_mask = None  # bertkit.tasks.fill_mask.FillMask, built on first use

    @torch.inference_mode()
    def predict(
        self,
        texts: Sequence,
        texts_b: Sequence[str] | None = None,
        batch_size: int = 32,
        sigmoid: bool = False,
        offsets: bool = True,
    ) -> list[dict]:
        """Labels and scores from a fine-tuned classifier or tagger, one dict per text.

        Classifier: `{"label", "score", "scores"}` (multi-label: `{"labels", "scores"}`); pairs
        take `texts_b`. A one-output classifier (cross-encoder, regression) gives its raw score,
        or its sigmoid with `sigmoid=True`. Tagger: `{"words", "tags", "scores", "entities"}`, texts split on
        whitespace and at each CJK ideograph (or given as lists of words), with each word's and
        entity's (start, end) character span (`offsets=False` leaves them out). See `bertkit.tasks.prediction.predict`.
        """
        if self.task is None:
            raise InputError(
                f"{self.encoder.source}: not a fine-tuned model, so nothing to predict; "
                "fine-tune one with `bertkit finetune`, or use embed()"
            )
        model, spec = self.task
        if self.task_engine is not None:  # the same head on the engine's backbone outputs
            model = self.task_engine
        return prediction.predict(model, spec, self.preprocessor, texts, texts_b, batch_size, sigmoid, offsets)

    @torch.inference_mode()
    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        batch_size: int = 32,
        sigmoid: bool = False,
        return_documents: bool = False,
    ) -> list[dict]:
        """Documents ordered by a pair model's (cross-encoder's) relevance to `query`, best first:
        `[{"index", "score"}]`; the query is never cut. See `bertkit.tasks.rerank.rerank`."""
        check_pair_model(None if self.task is None else self.task[1])
        model, spec = self.task
        if self.task_engine is not None:
            model = self.task_engine
        return rerank(model, spec, self.preprocessor, query, documents, top_n, batch_size, sigmoid, return_documents)

    def fill_mask(self, text: str, top_k: int = 5) -> list[list[dict]]:
        """Top-k fillers `{token, token_id, score}` for each [MASK] / <mask> of `text`, from the
        checkpoint's MLM head (loaded on first use). See `bertkit.tasks.fill_mask.FillMask`."""
        if self._fill_mask is None:
            model, _, _ = checkpoint.load_pretraining(self.encoder.source, require_heads=True)
            self._fill_mask = FillMask(model.to(self.encoder.device), self.preprocessor)
        return self._fill_mask(text, top_k)

    def similarity(self, a, b) -> np.ndarray:
        """(N, M) similarities of two sets of `embed` vectors, by the function the model declares
        (its `similarity_fn_name`: cosine, dot, euclidean or manhattan; cosine without one)."""
        function = self.embedding.similarity_fn_name if self.embedding is not None else "cosine"
        return similarity(a, b, function)

    def embed_settings(
        self,
        pooling: str | None = None,
        normalize: bool | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
    ) -> EmbedSettings:
        """What `embed` with these arguments does; None = the model's declared default."""
        return embedding.resolve_settings(self, pooling, normalize, prompt, prompt_name)

    @torch.inference_mode()
    def embed(
        self,
        texts: Sequence[str],
        pooling: str | None = None,
        normalize: bool | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
        batch_size: int = 32,
        progress: bool = False,
        dimensions: int | None = None,
        precision: str = "float32",
        ranges: np.ndarray | None = None,
        long: str = "truncate",
        stride: int | None = None,
    ) -> np.ndarray:  # (N, H) float32 (or as `dimensions` and `precision` say), row i for texts[i]
        """One vector per text, made as the model's own sentence-transformers files say.

        Each choice left None comes from those files (`bertkit.checkpoint.sentence_transformers`):
        the pooling, whether to normalise, the longest text (`max_seq_length`), the prompt
        (`default_prompt_name`). A model without them: "cls", not normalised, `seq_length`
        tokens (128), no prompt. An explicit choice wins; one that contradicts the model's
        files warns once.

        `pooling`: "cls" (the first token's final state), "mean" (over real tokens), "max",
        "mean_sqrt_len_tokens", "weightedmean" (weights 1..n by position), "lasttoken" (as
        sentence-transformers' `Pooling`), or "pooled" (the pooler's output). `normalize` scales
        each vector to unit L2 norm. `prompt` (or `prompt_name`, one of the model's `prompts`)
        is put before each text. Texts are batched by length (padding only to each batch's
        longest text) and returned in input order.

        Compact vectors (`bertkit.tasks.compact`, sentence-transformers' numbers): `dimensions`
        keeps the first k of each vector (Matryoshka), re-normalised when the vectors are
        normalised. `precision` is the *output's*, as sentence-transformers' `encode(precision=)`
        ("float32", "int8", "uint8", "binary", "ubinary"), not `Pipeline.precision` (the compute
        precision chosen at `load`): int8 / uint8 bucket each dimension in its range over these
        texts, or in `ranges` ((2, dims): min, then max; `compact.calibration_ranges` of a
        sample); binary / ubinary pack one bit per dimension, (N, dims / 8) int8 / uint8.

        `long`: a text longer than the embedding length (special tokens and prompt included) is
        cut to it with one warning per call ("truncate"), refused with an InputError naming the
        first ("error"), or read whole ("chunk"): split into windows of the model's length that
        share `stride` tokens (default 32), each embedded, the text's vector their token-weighted mean
        (re-normalised when the model normalises; `bertkit.tasks.chunking`). A text that fits
        gets the same vector whatever `long` says.
        """
        if long not in LONG_TEXTS:
            raise InputError(f"unknown long={long!r}; choose one of {', '.join(LONG_TEXTS)}")
        texts, settings, ranges, pre = embedding.prepare(
            self, texts, pooling, normalize, prompt, prompt_name, dimensions, precision, ranges, batch_size
        )
        if long == "chunk":
            windows = chunking.make_windows(pre, texts, settings.prompt, settings.lower_case, None, stride, False)
            found = embedding.embed_rows(self, pre, windows.encoded, settings, batch_size, progress, "window")
            weights = np.asarray([end - start for start, end in windows.token_spans], dtype=np.float64)
            vectors = chunking.weighted_mean(found, windows.owners, weights, len(texts))
            if settings.normalize:
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        else:
            texts = [settings.prompt + text for text in texts]
            if settings.lower_case:
                texts = [text.lower() for text in texts]
            encoded = pre.encode(texts)
            embedding.check_long(pre, texts, encoded.cut, long)
            vectors = embedding.embed_rows(self, pre, encoded, settings, batch_size, progress, "text")
        vectors = compact.truncate(vectors, dimensions, settings.normalize)
        return compact.quantize(vectors, precision, ranges)

    @torch.inference_mode()
    def embed_chunks(
        self, texts: Sequence[str], window: int | None = None, stride: int | None = None, **options
    ) -> list[list[tuple[int, int, np.ndarray]]]:
        """Every text cut into overlapping windows, each with its character span and vector: per
        text, `[(start, end, vector), ...]` in text order, `text[start:end]` the window's
        characters. `embed_windows` gives the same as arrays; `options` as it takes them."""
        return self.embed_windows(texts, window, stride, **options).per_text(len(texts))

    @torch.inference_mode()
    def embed_windows(
        self,
        texts: Sequence[str],
        window: int | None = None,
        stride: int | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        prompt: str | None = None,
        prompt_name: str | None = None,
        batch_size: int = 32,
        progress: bool = False,
        dimensions: int | None = None,
        precision: str = "float32",
        ranges: np.ndarray | None = None,
    ) -> chunking.Chunks:
        """Every text cut into overlapping windows of `window` tokens (default: as many as the
        model reads, less its special tokens and the prompt), neighbours sharing `stride`
        tokens (default 32), each window embedded as `embed` would embed it: what a retrieval
        index stores.

        Returns `bertkit.tasks.chunking.Chunks`: for each window, the text it comes from, its
        (start, end) character span in the original text (`text[start:end]`, from the
        tokenizer's offsets), its token span and its vector. Other arguments as `embed`.
        """
        texts, settings, ranges, pre = embedding.prepare(
            self, texts, pooling, normalize, prompt, prompt_name, dimensions, precision, ranges, batch_size
        )
        windows = chunking.make_windows(pre, texts, settings.prompt, settings.lower_case, window, stride, True)
        vectors = embedding.embed_rows(self, pre, windows.encoded, settings, batch_size, progress, "window")
        vectors = compact.quantize(compact.truncate(vectors, dimensions, settings.normalize), precision, ranges)
        return chunking.Chunks(
            np.asarray(windows.owners, dtype=np.int64).reshape(-1),
            np.asarray(windows.spans, dtype=np.int64).reshape(-1, 2),
            np.asarray(windows.token_spans, dtype=np.int64).reshape(-1, 2),
            vectors,
        )

    def _pool(self, out: dict, mask: torch.Tensor, pooling: str, skip: int) -> torch.Tensor:  # -> (B, H) float32
        return embedding.pool(out, mask, pooling, skip)
