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

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bertkit import checkpoint
from bertkit.bundled import resolve_model_dir
from bertkit.checkpoint.sentence_transformers import EmbeddingDefaults, embedding_defaults
from bertkit.errors import CheckpointError, InputError, InputTypeError, TruncationWarning
from bertkit.inference import FastEncoder, FastTaskModel
from bertkit.inference.kernels import resolve_precision
from bertkit.inference.layout import TOKEN_POOLINGS, TokenLayout
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
POOLINGS = (*TOKEN_POOLINGS, "pooled")
SEQ_LENGTH = 128  # the preprocessor's, as TF Hub's preprocessing models pack
LONG_TEXTS = ("truncate", "chunk", "error")  # what embed does with a text longer than it reads


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


@dataclasses.dataclass(frozen=True)
class EmbedSettings:
    """What one `Pipeline.embed` call does: the caller's choices, the rest from the model."""

    pooling: str
    normalize: bool
    max_length: int  # tokens per text, special tokens included
    prompt: str = ""  # put before each text
    skip: int = 0  # leading tokens ([CLS] + prompt) left out of the pooling (include_prompt false)
    lower_case: bool = False
    declared: bool = False  # the model has sentence-transformers files
    conflict: str | None = None  # the warning when an explicit choice contradicts the model's files

    def describe(self) -> str:
        """ "pooling mean, normalised, max 256 tokens (from the model's sentence-transformers files)" """
        text = f"pooling {self.pooling}, {'normalised' if self.normalize else 'not normalised'}, "
        text += f"max {self.max_length} tokens"
        if self.prompt:
            text += f", prompt {self.prompt!r}"
        source = (
            "the model's sentence-transformers files"
            if self.declared
            else "bertkit's defaults: no sentence-transformers files"
        )
        return f"{text} ({source})"


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
        declared = self.embedding
        if pooling is not None and pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if declared is None:  # no sentence-transformers files: bertkit's defaults
            if prompt_name is not None:
                raise InputError(f"prompt_name {prompt_name!r}: this model declares no prompts")
            return EmbedSettings(pooling or "cls", bool(normalize), self.embed_length, prompt or "")
        if pooling is None and declared.unsupported:
            raise CheckpointError(
                f"{self.encoder.source}/modules.json: its embedding ends in {', '.join(declared.unsupported)}, "
                "which bertkit does not apply; pass pooling= to embed the encoder's outputs yourself"
            )
        if prompt is not None and prompt_name is not None:
            raise InputError("give prompt or prompt_name, not both")
        name = declared.default_prompt_name if prompt_name is None else prompt_name
        if name is not None and name not in declared.prompts:
            known = ", ".join(declared.prompts) or "none"
            raise InputError(f"unknown prompt_name {name!r}; this model's prompts: {known}")
        prompt = declared.prompts.get(name, "") if prompt is None else prompt
        chosen = (
            declared.pooling if pooling is None else pooling,
            declared.normalize if normalize is None else normalize,
        )
        conflict = None
        if chosen != (declared.pooling, declared.normalize):
            said = f"{chosen[0]} pooling, {'normalised' if chosen[1] else 'not normalised'}"
            conflict = (
                f"{self.encoder.source} declares {declared.pooling} pooling, "
                f"{'normalised' if declared.normalize else 'not normalised'} (its sentence-transformers files); "
                f"embedding with {said} as asked"
            )
        skip = 0
        if (
            prompt and not declared.include_prompt
        ):  # [CLS] and the prompt's tokens, as sentence-transformers counts them
            skip = len(self.preprocessor.tokenize([prompt])[0]) + 1
        return EmbedSettings(
            *chosen, self.embed_length, prompt, skip, declared.do_lower_case, declared=True, conflict=conflict
        )

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
        stride: int = chunking.STRIDE,
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
        share `stride` tokens, each embedded, the text's vector their token-weighted mean
        (re-normalised when the model normalises; `bertkit.tasks.chunking`). A text that fits
        gets the same vector whatever `long` says.
        """
        texts = _check_texts(texts)
        settings = self.embed_settings(pooling, normalize, prompt, prompt_name)
        ranges = compact.check(dimensions, precision, ranges, self.encoder.config.hidden_size)
        if long not in LONG_TEXTS:
            raise InputError(f"unknown long={long!r}; choose one of {', '.join(LONG_TEXTS)}")
        if settings.conflict:
            warnings.warn(settings.conflict, stacklevel=3)  # past inference_mode's wrapper: the caller
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        pre = self._embed_preprocessor(settings)
        if long == "chunk":
            windows = self._windows(texts, settings, pre, None, stride)
            found = self._embed_encoded(pre, windows.encoded, settings, batch_size, progress, "window")
            weights = np.asarray([end - start for start, end in windows.token_spans], dtype=np.float64)
            vectors = chunking.weighted_mean(found, windows.owners, weights, len(texts))
            if settings.normalize:
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        else:
            texts = [settings.prompt + text for text in texts]
            if settings.lower_case:
                texts = [text.lower() for text in texts]
            encoded = pre.encode(texts)
            self._check_long(pre, texts, encoded.cut, long)
            vectors = self._embed_encoded(pre, encoded, settings, batch_size, progress, "text")
        vectors = compact.truncate(vectors, dimensions, settings.normalize)
        return compact.quantize(vectors, precision, ranges)

    @torch.inference_mode()
    def embed_chunks(
        self,
        texts: Sequence[str],
        window: int | None = None,
        stride: int = chunking.STRIDE,
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
        tokens, each window embedded as `embed` would embed it: what a retrieval index stores.

        Returns `bertkit.tasks.chunking.Chunks`: for each window, the text it comes from, its
        (start, end) character span in the original text (`text[start:end]`, from the
        tokenizer's offsets), its token span and its vector. Other arguments as `embed`.
        """
        texts = _check_texts(texts)
        settings = self.embed_settings(pooling, normalize, prompt, prompt_name)
        ranges = compact.check(dimensions, precision, ranges, self.encoder.config.hidden_size)
        if settings.conflict:
            warnings.warn(settings.conflict, stacklevel=3)
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        pre = self._embed_preprocessor(settings)
        windows = self._windows(texts, settings, pre, window, stride, spans=True)
        vectors = self._embed_encoded(pre, windows.encoded, settings, batch_size, progress, "window")
        vectors = compact.quantize(compact.truncate(vectors, dimensions, settings.normalize), precision, ranges)
        return chunking.Chunks(
            np.asarray(windows.owners, dtype=np.int64).reshape(-1),
            np.asarray(windows.spans, dtype=np.int64).reshape(-1, 2),
            np.asarray(windows.token_spans, dtype=np.int64).reshape(-1, 2),
            vectors,
        )

    def _embed_preprocessor(self, settings: EmbedSettings) -> Preprocessor:
        pre = self.preprocessor
        if settings.max_length != pre.seq_length:  # the same stages, cut at the embedding's length
            pre = Preprocessor(pre.tokenizer, pre.layout, settings.max_length)
        return pre

    def _windows(self, texts, settings, pre, window, stride, spans=False) -> chunking.Windows:
        """The windows of `texts`, each packed as [prompt] + its tokens, for `_embed_encoded`."""
        return chunking.make_windows(
            self.preprocessor.tokenizer, pre, texts, settings.prompt, settings.lower_case, window, stride, spans
        )

    def _embed_encoded(self, pre, encoded, settings, batch_size, progress, unit) -> np.ndarray:
        """(N, H) float32 vectors of encoded rows, in their order, pooled and normalised as `settings` say."""
        vectors = np.zeros((len(encoded.ids), self.encoder.config.hidden_size), dtype=np.float32)
        with tqdm(total=len(encoded.ids), unit=unit, disable=not progress, desc="embed") as bar:
            for batch, inputs in pre.batches(encoded, batch_size):  # padded to each batch's longest
                mask = inputs["input_mask"]
                if self.engine is not None:  # same vectors, no compute on padding
                    found = self.engine.embed(
                        inputs["input_word_ids"], mask, inputs["input_type_ids"], settings.pooling, settings.skip
                    )
                else:
                    found = self._pool(self.encoder(inputs), mask, settings.pooling, settings.skip)
                if settings.normalize:
                    found = torch.nn.functional.normalize(found, p=2.0, dim=-1)
                vectors[batch] = found.cpu().numpy()
                bar.update(len(batch))
        return vectors

    @staticmethod
    def _check_long(pre: Preprocessor, texts: list[str], cut: list[int], long: str) -> None:
        if not cut:
            return
        if long == "error":
            first = cut[0]
            length = len(pre.tokenize([texts[first]])[0]) + pre.layout.num_special_tokens(1)
            raise InputError(
                f"text {first} is {length} tokens long (special tokens included), more than the model's "
                f"{pre.seq_length}; shorten it, or let long='truncate' cut it"
            )
        hint = "pass long='error' to refuse such texts"
        warnings.warn(TruncationWarning(len(cut), len(texts), pre.seq_length, hint), stacklevel=4)

    def _pool(self, out: dict, mask: torch.Tensor, pooling: str, skip: int) -> torch.Tensor:  # -> (B, H) float32
        if pooling == "pooled":
            if out["pooled_output"] is None:
                raise InputError("this model has no pooler; pool its tokens instead (pooling='cls' or 'mean')")
            return out["pooled_output"].float()
        sequence = out["sequence_output"]  # (B, S, H)
        layout = TokenLayout.from_mask(mask, sequence.device)  # the engine's pooling, on the padded batch
        return layout.pool(layout.gather(sequence.float()), pooling, skip)


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise InputTypeError("embed takes a list of texts, not one string; wrap it: embed([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(f"text {i} is {type(text).__name__}, not a string")
    return texts
