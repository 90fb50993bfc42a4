"""The HTTP app of `bertkit serve`: FastAPI routes (`routes`) over one model, run by uvicorn.

    >>> import bertkit
    >>> from fastapi.testclient import TestClient
    >>> with TestClient(create_app(bertkit.load())) as client:
    ...     answer = client.post("/v1/embeddings", json={"input": "hello", "model": "any"}).json()
    ...     vectors = client.post("/embed", json={"inputs": ["hello", "world"]}).json()
    >>> answer["object"], len(answer["data"][0]["embedding"]), answer["usage"]
    ('list', 384, {'prompt_tokens': 3, 'total_tokens': 3})
    >>> len(vectors), len(vectors[0])
    (2, 384)

`create_app(pipeline, settings)` builds the app around a loaded model (`bertkit serve`, and
each `--workers` process after its fork: `workers.py`); `app_from_env()` builds it from
`BERTKIT_SERVE_*` variables, a factory for running the app under an ASGI server of your own
(`uvicorn --factory bertkit.serve.app:app_from_env`). Model work
goes through one `TokenBatcher` (one worker thread); the event loop only parses, counts tokens
(in a thread) and waits. Errors are the copied API's shapes (`errors`); anything unexpected is
a 500 with its exception's type and one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from bertkit.errors import BertkitError, InputError
from bertkit.serve.batching import Overloaded, TokenBatcher
from bertkit.serve.errors import ApiError, error_response
from bertkit.serve.limits import ServeSettings
from bertkit.serve.metrics import Metrics
from bertkit.serve.middleware import Guard
from bertkit.serve.routes import router
from bertkit.serve.work import ModelWork, Request


class Served:
    """One model behind the routes: its work, batcher, metrics and limits (`app.state.served`)."""

    def __init__(self, pipeline, settings: ServeSettings):
        self.settings = settings
        self.work = ModelWork(pipeline)
        self.metrics = Metrics()
        self.batcher = TokenBatcher(
            self.work.run, max_batch_tokens=settings.max_batch_tokens, max_batch=settings.max_batch,
            max_wait_s=settings.max_wait_ms / 1000, max_queue=settings.max_queue, on_call=self._on_call,
        )  # fmt: skip
        self.ready = True

    def _on_call(self, jobs, tokens: int) -> None:
        self.metrics.batch_tokens.observe(tokens)
        self.metrics.batch_requests.observe(len(jobs))
        self.metrics.queue_depth.set(self.batcher.depth)

    def check_count(self, count: int) -> None:
        """413 for a request with more texts than --max-client-batch-size (checked before tokenizing)."""
        if count == 0:
            raise ApiError(422, "`inputs` cannot be empty")
        limit = self.settings.max_client_batch_size
        if count > limit:
            raise ApiError(413, f"batch size {count} > maximum allowed batch size {limit} (--max-client-batch-size)")

    async def count(self, route: str, fn, *args) -> Request:
        """`fn(*args)` (a ModelWork request: tokens counted) in a thread, timed."""
        started = time.monotonic()
        try:
            request = await run_in_threadpool(fn, *args)
        except InputError as e:
            raise ApiError(422, str(e)) from None
        self.metrics.tokenize.labels(route).observe(time.monotonic() - started)
        return request

    async def run(self, route: str, request: Request, truncate: bool | None, started: float) -> list:
        """The request's rows from the model, within the limits and the request timeout."""
        settings = self.settings
        truncate = settings.auto_truncate if truncate is None else truncate
        if request.too_long and not truncate:
            raise ApiError(
                422,
                f"Input validation error: `inputs` must have less than {request.limit} tokens. "
                f'Given: {request.longest()} (input {request.too_long[0]}); shorten it, or send "truncate": true',
            )
        total = sum(request.tokens)
        if total > settings.max_batch_tokens:
            raise ApiError(
                413, f"{total} tokens in this request; the limit is {settings.max_batch_tokens} tokens "
                "(--max-batch-tokens), send fewer or shorter texts per request",
            )  # fmt: skip
        try:
            job = self.batcher.submit(request.texts, request.tokens, request.options)
        except Overloaded as e:
            raise ApiError(429, f"Model is overloaded: {e}", {"Retry-After": "1"}) from None
        self.metrics.queue_depth.set(self.batcher.depth)
        remaining = settings.request_timeout_s - (time.monotonic() - started)
        try:
            rows = await asyncio.wait_for(asyncio.wrap_future(job.future), timeout=max(remaining, 0.001))
        except TimeoutError:
            raise ApiError(
                503, f"request timed out after {settings.request_timeout_s:g} s (--request-timeout): "
                "the server is overloaded, retry later", {"Retry-After": "1"},
            ) from None  # fmt: skip
        except InputError as e:
            raise ApiError(422, str(e)) from None
        except BertkitError as e:  # what the model cannot do (no MLM head, ...)
            raise ApiError(400, str(e)) from None
        self.metrics.queue.labels(route).observe(job.started_at - job.queued_at)
        self.metrics.inference.labels(route).observe(job.finished_at - job.started_at)
        return rows


def create_app(pipeline, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving `pipeline` (a `bertkit.load()` result) with `settings`' limits."""
    settings = (settings or ServeSettings()).check()
    served = Served(pipeline, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        served.ready = False  # draining: /ready answers 503 while in-flight requests finish
        await run_in_threadpool(served.batcher.close)

    app = FastAPI(
        title="bertkit serve",
        summary="OpenAI- and text-embeddings-inference-compatible routes over one bertkit model",
        version="1",
        lifespan=lifespan,
    )
    app.state.served = served
    app.include_router(router)
    routes = {route.path for route in router.routes} | {"/docs", "/openapi.json"}
    app.add_middleware(Guard, settings=settings, metrics=served.metrics, routes=routes)

    @app.exception_handler(ApiError)
    async def api_error(request, e: ApiError):
        path = request.url.path
        status = 400 if e.status == 422 and path.startswith("/v1/") else e.status  # OpenAI: 400 for a bad input
        return error_response(path, status, e.message, e.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, e: HTTPException):
        message = str(e.detail)
        if e.status_code == 404:
            message = f"no route {request.url.path}; see /docs for the routes"
        elif e.status_code == 400 and message == "There was an error parsing the body":
            message = "the body cannot be read as JSON: not UTF-8, or nested too deeply"
        elif e.status_code == 405:
            message = f"{request.url.path} does not take {request.method}; see /docs"
        return error_response(request.url.path, e.status_code, message, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, e: RequestValidationError):
        path = request.url.path
        return error_response(path, 400 if path.startswith("/v1/") else 422, _describe(e.errors()))

    return app


def app_from_env() -> FastAPI:
    """An app with the model and limits from BERTKIT_SERVE_* variables (`ServeSettings.to_env`)."""
    import bertkit

    settings = ServeSettings.from_env()
    pipeline = bertkit.load(settings.model, precision=settings.precision, device=settings.device,
                            seq_length=settings.seq_length)  # fmt: skip
    return create_app(pipeline, settings)


def _describe(errors) -> str:
    """Pydantic's errors as one line, without echoing the input (it may be megabytes)."""
    parts = []
    for error in list(errors)[:3]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        message = error.get("msg", "invalid")
        if error.get("type") == "json_invalid":
            where, message = "body", "not valid JSON"
        parts.append(f"{where}: {message}")
    return "; ".join(parts) + ("; ..." if len(list(errors)) > 3 else "")
