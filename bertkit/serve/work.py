"""What the server asks of the model: token counts for the limits (in the request's thread),
and the batched calls the batcher's worker makes (`ModelWork.run`). Every number comes from
`bertkit.Pipeline`: texts are embedded by `Pipeline.embed` with the model's declared defaults,
classified by `predict`, ranked by `rerank`.

    >>> import bertkit
    >>> work = ModelWork(bertkit.load())
    >>> request = work.embed_request(["A man is eating food."], normalize=None, prompt_name=None, dimensions=None)
    >>> request.tokens, request.too_long
    ([8], [])
    >>> work.run(request.texts, request.options)[0].shape
    (384,)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bertkit.bundled import default_model_dir
from bertkit.errors import InputError
from bertkit.pipeline import embedding
from bertkit.preprocessing.encoding import EncodedTexts
from bertkit.tasks import compact
from bertkit.tasks.rerank import check_pair_model


@dataclasses.dataclass
class Request:
    """Items for the batcher, their token counts, and which ones are longer than the model reads."""

    texts: list
    tokens: list[int]
    options: tuple
    too_long: list[int]  # indices
    longest: Callable[[], int]  # tokens of the first too-long item, special tokens included (counted when asked)
    limit: int = 0  # the model's tokens per item


class ModelWork:
    """The pipeline's calls, shaped for serving."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        source = Path(str(pipeline.encoder.source))
        self.name = "all-MiniLM-L6-v2" if source == default_model_dir() else source.name  # what clients call it
        self.dim = pipeline.encoder.config.hidden_size
        self.vocab_size = pipeline.encoder.config.vocab_size
        spec = pipeline.task[1] if pipeline.task else None
        self.task = spec.kind if spec else None
        self.pair_model = True
        try:
            check_pair_model(spec)
        except InputError:
            self.pair_model = False

    # token counts (the request's thread)

    def embed_request(self, texts, normalize, prompt_name, dimensions, long="truncate") -> Request:
        settings = self.pipeline.embed_settings(normalize=normalize, prompt_name=prompt_name)
        if dimensions is not None and not 1 <= dimensions <= self.dim:
            raise InputError(f"dimensions must be between 1 and {self.dim} (the model's), got {dimensions}")
        shown = [settings.prompt + text for text in texts]
        if settings.lower_case:
            shown = [text.lower() for text in shown]
        request = self._count(shown, None, settings.max_length)
        request.texts = list(texts)
        request.options = ("embed", normalize, prompt_name, dimensions, long)
        return request

    def ids_request(self, rows: list[list[int]], normalize, dimensions) -> Request:
        """Token ids as given (no prompt, no special tokens: those are added)."""
        for i, row in enumerate(rows):
            if not row:
                raise InputError(f"token list {i} is empty")
            bad = next((t for t in row if not 0 <= t < self.vocab_size), None)
            if bad is not None:
                raise InputError(
                    f"token list {i} holds id {bad}, outside the model's vocabulary (0 to {self.vocab_size - 1})"
                )
        if dimensions is not None and not 1 <= dimensions <= self.dim:
            raise InputError(f"dimensions must be between 1 and {self.dim} (the model's), got {dimensions}")
        settings = self.pipeline.embed_settings(normalize=normalize)
        special = self.pipeline.preprocessor.layout.num_special_tokens(1)
        budget = settings.max_length - special
        too_long = [i for i, row in enumerate(rows) if len(row) > budget]
        return Request(
            [list(row) for row in rows], [min(len(row), budget) + special for row in rows],
            ("ids", normalize, dimensions), too_long, lambda: len(rows[too_long[0]]) + special, settings.max_length,
        )  # fmt: skip

    def pair_request(self, texts: list[str], texts_b: list[str] | None, options: tuple) -> Request:
        request = self._count(texts, texts_b, self.pipeline.preprocessor.seq_length)
        request.texts = list(texts) if texts_b is None else list(zip(texts, texts_b))
        request.options = options
        return request

    def _count(self, texts, texts_b, length: int) -> Request:
        pre = self.pipeline.preprocessor
        segments = 1 if texts_b is None else 2
        special = pre.layout.num_special_tokens(segments)
        budget = length - special
        ids = pre.tokenizer.encode_batch(texts, max_tokens=budget + 1)
        totals = [len(a) for a in ids]
        if texts_b is not None:
            totals = [t + len(b) for t, b in zip(totals, pre.tokenizer.encode_batch(texts_b, max_tokens=budget + 1))]
        too_long = [i for i, total in enumerate(totals) if total > budget]

        def longest() -> int:  # the first too-long item's whole length, for a refusal's message
            first = too_long[0]
            whole = len(pre.tokenizer.encode_batch([texts[first]])[0]) + special
            return whole + (0 if texts_b is None else len(pre.tokenizer.encode_batch([texts_b[first]])[0]))

        return Request([], [min(t, budget) + special for t in totals], (), too_long, longest, length)

    def tokenize(self, texts: list[str], add_special_tokens: bool, prompt_name) -> list[list[dict]]:
        """TEI's /tokenize: each token's id, text, whether it is special, and its character span."""
        settings = self.pipeline.embed_settings(prompt_name=prompt_name)
        pre = self.pipeline.preprocessor
        shown = [settings.prompt + text for text in texts]
        tokenized = pre.tokenize(shown, offsets=True)  # [(ids, [(start, stop)])]; the tfhub flavour refuses
        out = []
        for text, (ids, spans) in zip(shown, tokenized):
            tokens = [
                {"id": int(i), "text": text[a:b], "special": False, "start": int(a), "stop": int(b)}
                for i, (a, b) in zip(ids, spans)
            ]
            if add_special_tokens:
                tokens = tokens[: settings.max_length - pre.layout.num_special_tokens(1)]
                packed = pre.pack_inputs([[ids[: len(tokens)]]], seq_length=settings.max_length, padding="longest")
                row = packed["input_word_ids"][0].tolist()  # [CLS] ids [SEP], <s> ids </s>: one token before
                tokens = [_special(pre, row[0]), *tokens, *(_special(pre, t) for t in row[1 + len(tokens) :])]
            out.append(tokens)
        return out

    # model calls (the batcher's worker)

    def run(self, items: list, options: tuple) -> list:
        kind = options[0]
        with warnings.catch_warnings():  # truncation and conflicts were decided per request
            warnings.simplefilter("ignore")
            if kind == "embed":
                _, normalize, prompt_name, dimensions, long = options
                return list(
                    self.pipeline.embed(
                        items, normalize=normalize, prompt_name=prompt_name, dimensions=dimensions, long=long,
                        batch_size=len(items),
                    )
                )  # fmt: skip
            if kind == "ids":
                return list(self.embed_ids(items, normalize=options[1], dimensions=options[2]))
            if kind == "predict":
                _, pairs, sigmoid = options
                texts = [item[0] for item in items] if pairs else items
                texts_b = [item[1] for item in items] if pairs else None
                return self.pipeline.predict(texts, texts_b, batch_size=len(items), sigmoid=sigmoid)
            if kind == "rerank":
                _, query, sigmoid = options
                ranked = self.pipeline.rerank(query, items, batch_size=len(items), sigmoid=sigmoid)
                scores = [0.0] * len(items)
                for entry in ranked:
                    scores[entry["index"]] = entry["score"]
                return scores
            if kind == "fill_mask":
                return [self.pipeline.fill_mask(text, options[1]) for text in items]
        raise ValueError(f"unknown work {kind!r}")

    @torch.inference_mode()
    def embed_ids(self, rows: list[list[int]], normalize=None, dimensions=None) -> np.ndarray:
        """`Pipeline.embed` on token ids instead of texts (no prompt: the ids are the whole
        input): packed with the special tokens, cut to the embedding length, pooled and
        normalised as the model declares, through the same loop (`embedding.embed_rows`)."""
        pipeline = self.pipeline
        settings = dataclasses.replace(pipeline.embed_settings(normalize=normalize), prompt="", skip=0)
        pre = embedding.embedding_preprocessor(pipeline.preprocessor, settings)
        budget, special = pre.budget(1), pre.layout.num_special_tokens(1)
        ids = [row[:budget] for row in rows]
        encoded = EncodedTexts(ids, None, [len(row) + special for row in ids])
        vectors = embedding.embed_rows(pipeline, pre, encoded, settings, max(1, len(rows)), False, "text")
        return compact.truncate(vectors, dimensions, settings.normalize)


def _special(pre, token_id: int) -> dict:
    return {
        "id": int(token_id),
        "text": pre.tokenizer.decode_token(int(token_id)),
        "special": True,
        "start": None,
        "stop": None,
    }
