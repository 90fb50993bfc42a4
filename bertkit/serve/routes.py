"""The routes of `bertkit serve`, each with the request and response shapes of the API it copies.

POST /v1/embeddings   OpenAI embeddings: input text(s) or token ids, float or base64, dimensions
POST /embed           text-embeddings-inference (TEI): [[floats]] per input
POST /rerank          TEI: documents ranked by a cross-encoder   (needs a pair classifier)
POST /predict         TEI: labels and scores                     (needs a fine-tuned model)
POST /tokenize        TEI: tokens with their character spans
POST /fill-mask       fillers of each [MASK] / <mask>            (needs an MLM head)
GET  /health /ready /info /metrics
"""

from __future__ import annotations

import base64
import time

import numpy as np
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from bertkit.errors import BertkitError, InputError
from bertkit.serve import schemas
from bertkit.serve.errors import ApiError

TEI_ERRORS = {status: {"model": schemas.TeiError} for status in (400, 401, 408, 413, 422, 429, 503)}
OPENAI_ERRORS = {status: {"model": schemas.OpenAIError} for status in (400, 401, 408, 413, 429, 503)}

router = APIRouter()


@router.post("/v1/embeddings", response_model=schemas.EmbeddingsResponse, responses=OPENAI_ERRORS)
async def openai_embeddings(body: schemas.EmbeddingsRequest, request: Request):
    """OpenAI's embeddings: a text, a list of texts, or token ids (no prompt is added to ids)."""
    started, served = time.monotonic(), request.app.state.served
    given = body.input
    if isinstance(given, str):
        given = [given]
    ids = bool(given) and not isinstance(given[0], str)
    if ids and isinstance(given[0], int):
        given = [given]  # one list of token ids
    served.check_count(len(given))
    if not ids and any(text == "" for text in given):
        raise ApiError(400, f"input[{given.index('')}] is an empty string; send text")
    work = served.work
    if ids:
        counted = await served.count("/v1/embeddings", work.ids_request, given, None, body.dimensions)
    else:
        counted = await served.count("/v1/embeddings", work.embed_request, given, None, None, body.dimensions)
    rows = await served.run("/v1/embeddings", counted, None, started)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _b64(row) if body.encoding_format == "base64" else row.tolist(),
        }
        for i, row in enumerate(rows)
    ]
    tokens = sum(counted.tokens)
    return JSONResponse({"object": "list", "data": data, "model": work.name,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip


@router.post("/embed", response_model=list[list[float]], responses=TEI_ERRORS)
async def embed(body: schemas.EmbedRequest, request: Request):
    """TEI's /embed: one vector per input, pooled and normalised as the model declares unless asked."""
    started, served = time.monotonic(), request.app.state.served
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    served.check_count(len(texts))
    counted = await served.count(
        "/embed", served.work.embed_request, texts, body.normalize, body.prompt_name, body.dimensions
    )
    rows = await served.run("/embed", counted, body.truncate, started)
    return JSONResponse([row.tolist() for row in rows])


@router.post("/rerank", response_model=list[schemas.Rank], response_model_exclude_none=True, responses=TEI_ERRORS)
async def rerank(body: schemas.RerankRequest, request: Request):
    """TEI's /rerank: `texts` by relevance to `query`, best first (a cross-encoder's scores)."""
    started, served = time.monotonic(), request.app.state.served
    if not served.work.pair_model:
        raise ApiError(
            400, _needs("/rerank", "a cross-encoder (a classifier fine-tuned on pairs: one output, or two labels)")
        )
    served.check_count(len(body.texts))
    options = ("rerank", body.query, not body.raw_scores)
    counted = await served.count(
        "/rerank", served.work.pair_request, [body.query] * len(body.texts), body.texts, options
    )
    counted.texts = list(body.texts)
    scores = await served.run("/rerank", counted, body.truncate, started)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[: body.top_n]
    ranks = [{"index": int(i), "score": float(scores[i])} for i in order]
    if body.return_text:
        for rank in ranks:
            rank["text"] = body.texts[rank["index"]]
    return JSONResponse(ranks)


@router.post("/predict", responses=TEI_ERRORS)
async def predict(body: schemas.PredictRequest, request: Request):
    """TEI's /predict: for one input, its labels by score; for a list, one such list each.
    A pair is a list of two texts. A tagger takes texts only (a list of two is two texts) and answers
    bertkit's `predict` dicts: words, tags, entities and their character spans."""
    started, served = time.monotonic(), request.app.state.served
    work = served.work
    if work.task is None:
        raise ApiError(400, _needs("/predict", "a fine-tuned classifier or tagger (`bertkit finetune`)"))
    inputs, tagger = body.inputs, work.task == "tagging"
    # TEI reads ["a", "b"] as one pair; a tagger has no pairs, so for it that is two texts
    single = isinstance(inputs, str) or (not tagger and len(inputs) == 2 and all(isinstance(x, str) for x in inputs))
    rows = [inputs] if single else inputs
    rows = [[row] if isinstance(row, str) else row for row in rows]
    served.check_count(len(rows))
    if any(len(row) not in (1, 2) for row in rows):
        raise ApiError(422, "each input is a text or a pair of two texts")
    pairs = len(rows[0]) == 2
    if pairs and tagger:
        raise ApiError(422, "a tagger tags single texts, not pairs; send a text or a list of texts")
    if any(len(row) != len(rows[0]) for row in rows):
        raise ApiError(422, "inputs mix single texts and pairs; send one kind per request")
    labels = work.pipeline.task[1].labels
    if body.raw_scores and (len(labels) != 1 or tagger):
        raise ApiError(422, "raw_scores needs a one-output model (a score, not probabilities over labels)")
    texts = [row[0] for row in rows]
    counted = await served.count("/predict", work.pair_request, texts, [row[1] for row in rows] if pairs else None,
                                 ("predict", pairs, not body.raw_scores))  # fmt: skip
    results = await served.run("/predict", counted, body.truncate, started)
    if not tagger:
        results = [[{"label": label, "score": float(score)} for label, score in
                    sorted(result["scores"].items(), key=lambda item: -item[1])] for result in results]  # fmt: skip
    return JSONResponse(results[0] if single else results)


@router.post("/tokenize", response_model=list[list[schemas.Token]], responses=TEI_ERRORS)
async def tokenize(body: schemas.TokenizeRequest, request: Request):
    """TEI's /tokenize: each input's tokens with their character spans in the text (`start`, `stop`)."""
    served = request.app.state.served
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    served.check_count(len(texts))
    started = time.monotonic()
    try:
        tokens = await run_in_threadpool(served.work.tokenize, texts, body.add_special_tokens, body.prompt_name)
    except InputError as e:
        raise ApiError(422, str(e)) from None
    except BertkitError as e:  # a tokenizer without character offsets (the tfhub flavour of WordPiece)
        raise ApiError(501, str(e)) from None
    served.metrics.tokenize.labels("/tokenize").observe(time.monotonic() - started)
    return JSONResponse(tokens)


@router.post("/fill-mask", response_model=list[list[list[schemas.Filler]]], responses=TEI_ERRORS)
async def fill_mask(body: schemas.FillMaskRequest, request: Request):
    """For each input, for each mask token in it, the `top_k` fillers (from the model's MLM head)."""
    started, served = time.monotonic(), request.app.state.served
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    served.check_count(len(texts))
    counted = await served.count("/fill-mask", served.work.pair_request, texts, None, ("fill_mask", body.top_k))
    return JSONResponse(await served.run("/fill-mask", counted, True, started))


@router.get("/health", response_model=schemas.Status)
async def health():
    """The process is alive (open without the API key: for load balancers)."""
    return {"status": "ok"}


@router.get("/ready", response_model=schemas.Status, responses={503: {"model": schemas.TeiError}})
async def ready(request: Request):
    """The model is loaded and requests are taken (503 while shutting down)."""
    if not request.app.state.served.ready:
        raise ApiError(503, "shutting down")
    return {"status": "ready"}


@router.get("/info", response_model=schemas.Info)
async def info(request: Request):
    """The model and the limits, as TEI's /info."""
    served = request.app.state.served
    work, settings = served.work, served.settings
    kind = {None: "embedding", "tagging": "tagger"}.get(work.task, "reranker" if work.pair_model else "classifier")
    return {
        "model_id": work.name, "model_type": kind, "dim": work.dim, "max_input_length": work.pipeline.embed_length,
        "precision": work.pipeline.precision, "max_batch_tokens": settings.max_batch_tokens,
        "max_client_batch_size": settings.max_client_batch_size, "max_body_bytes": settings.max_body_bytes,
        "max_queue": settings.max_queue, "request_timeout_s": settings.request_timeout_s,
        "auto_truncate": settings.auto_truncate,
    }  # fmt: skip


@router.get("/metrics", response_class=Response)
async def metrics(request: Request):
    """Prometheus' text format: requests by route and status, queue depth, batch tokens, latencies."""
    return Response(generate_latest(request.app.state.served.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _b64(row: np.ndarray) -> str:
    return base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")


def _needs(route: str, what: str) -> str:
    return f"{route} needs {what}; this server's model cannot serve it"
