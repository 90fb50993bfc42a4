"""The HTTP app of `bertkit serve`: a model behind JSON routes, standard library only.

    >>> import bertkit, json, threading, urllib.request
    >>> server = make_server(bertkit.load(), port=0)            # port 0: any free port
    >>> thread = threading.Thread(target=server.serve_forever); thread.start()
    >>> request = urllib.request.Request(server.url + "/embed", data=json.dumps({"texts": ["hello"]}).encode())
    >>> answer = json.load(urllib.request.urlopen(request))
    >>> answer["dim"], len(answer["vectors"][0])
    (384, 384)
    >>> server.shutdown(); thread.join(); server.close()

Routes (every answer is JSON; errors are `{"error": "..."}` with a 4xx/5xx status):

    GET  /health      {"status": "ok", "model", "dim", "task", "batching": {requests, calls, merged}}
    POST /embed       {"texts": [...], "pooling"?, "normalize"?} -> {"vectors": [[...]], "dim": H}   (default: the model's own)
    POST /predict     {"texts": [...], "texts_b": [...]?} -> {"predictions": [...]}   (fine-tuned models)
    POST /fill-mask   {"texts": [...], "top_k": 5} -> {"masks": [[[{token, token_id, score}]]]} (MLM models)

/embed requests go through a `MicroBatcher` (requests arriving within a few ms share one model
call); /predict and /fill-mask run one at a time. Texts longer than the model's sequence length
are truncated by the preprocessor, as everywhere in bertkit.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bertkit.errors import BertkitError
from bertkit.pipeline import POOLINGS
from bertkit.serve.batching import MicroBatcher, Overloaded
from bertkit.serve.limits import MAX_BODY_BYTES, MAX_TEXTS

log = logging.getLogger(__name__)


class RequestError(Exception):
    """A request the client must change; `status` is the HTTP status to answer with."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def make_server(
    pipeline,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = 32,
    max_wait_ms: float = 5.0,
    max_queue: int = 256,
    max_texts: int = MAX_TEXTS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Server:
    """A `Server` bound to host:port (0 = a free port; see `.url`), not yet serving."""
    return Server((host, port), pipeline, max_batch, max_wait_ms, max_queue, max_texts, max_body_bytes)


class Server(ThreadingHTTPServer):
    """A thread per connection; the model runs on the batcher's worker (embed) or under a lock."""

    daemon_threads = True

    def __init__(self, address, pipeline, max_batch, max_wait_ms, max_queue, max_texts, max_body_bytes):
        super().__init__(address, Handler)
        self.pipeline = pipeline
        self.max_texts = max_texts
        self.max_body_bytes = max_body_bytes
        self.model_lock = threading.Lock()  # /predict and /fill-mask: one at a time
        self.batcher = MicroBatcher(
            self._embed, max_batch=max_batch, max_wait_s=max_wait_ms / 1000, max_queue=max_queue
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def _embed(self, texts: list[str], options: tuple) -> list[list[float]]:
        pooling, normalize = options
        with self.model_lock:
            vectors = self.pipeline.embed(
                texts, pooling=pooling, normalize=normalize, batch_size=self.batcher.max_batch
            )
        return vectors.tolist()

    def handle_error(self, request, client_address) -> None:
        # socketserver prints a traceback here; a dropped connection is worth one line at most
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)

    def close(self) -> None:
        """Stop the batcher and release the socket (after `shutdown()` if it was serving)."""
        self.batcher.close()
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection
    # A response goes out as two writes (headers, then the body). With Nagle's algorithm on,
    # the body waits for the client's ACK of the headers, which a keep-alive client delays
    # ~40 ms: one client's request took 56 ms at p50 against 9 ms for the library call.
    disable_nagle_algorithm = True
    server_version = "bertkit"

    # path -> (method, route); a POST route reads a JSON body
    routes = {
        "/health": ("GET", "_health"),
        "/embed": ("POST", "_embed"),
        "/predict": ("POST", "_predict"),
        "/fill-mask": ("POST", "_fill_mask"),
    }

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format, *args) -> None:  # the default writes every request to stderr
        log.debug("%s %s", self.address_string(), format % args)

    # routes

    def _health(self, _) -> dict:
        pipeline = self.server.pipeline
        return {
            "status": "ok",
            "model": str(pipeline.encoder.source),
            "dim": pipeline.encoder.config.hidden_size,
            "task": pipeline.task[1].kind if pipeline.task else None,
            "batching": dict(self.server.batcher.stats),
        }

    def _embed(self, body: dict) -> dict:
        texts = self._texts(body)
        pooling = body.get("pooling")  # None: the model's own (Pipeline.embed)
        if pooling is not None and pooling not in POOLINGS:
            raise RequestError(
                HTTPStatus.BAD_REQUEST, f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}"
            )
        normalize = body.get("normalize")
        if normalize is not None and not isinstance(normalize, bool):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"normalize must be true or false, got {normalize!r}")
        try:
            future = self.server.batcher.submit(texts, options=(pooling, normalize))
        except Overloaded as e:
            raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(e)) from None
        vectors = future.result()
        return {"vectors": vectors, "dim": self.server.pipeline.encoder.config.hidden_size}

    def _predict(self, body: dict) -> dict:
        words = self.server.pipeline.task is not None and self.server.pipeline.task[1].kind == "tagging"
        texts = self._texts(body, words_allowed=words)
        texts_b = self._texts(body, "texts_b") if body.get("texts_b") is not None else None
        with self.server.model_lock:
            return {"predictions": self.server.pipeline.predict(texts, texts_b)}

    def _fill_mask(self, body: dict) -> dict:
        texts = self._texts(body)
        top_k = body.get("top_k", 5)
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"top_k must be a positive integer, got {top_k!r}")
        with self.server.model_lock:
            return {"masks": [self.server.pipeline.fill_mask(text, top_k) for text in texts]}

    # plumbing

    def _texts(self, body: dict, key: str = "texts", words_allowed: bool = False) -> list:
        """body[key] checked: a non-empty list of strings (or of word lists, for a tagger)."""
        if key not in body:
            raise RequestError(HTTPStatus.BAD_REQUEST, f'missing field "{key}" (a list of strings)')
        texts = body[key]
        if not isinstance(texts, list):
            raise RequestError(HTTPStatus.BAD_REQUEST, f'"{key}" must be a list of strings, got {type(texts).__name__}')
        if not texts:
            raise RequestError(HTTPStatus.BAD_REQUEST, f'"{key}" is empty; send at least one text')
        if len(texts) > self.server.max_texts:
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{len(texts)} texts in one request; the limit is {self.server.max_texts}, split them",
            )
        for i, text in enumerate(texts):
            is_words = words_allowed and isinstance(text, list) and all(isinstance(w, str) for w in text)
            if not isinstance(text, str) and not is_words:
                raise RequestError(HTTPStatus.BAD_REQUEST, f'"{key}"[{i}] is {_json_type(text)}, not a string')
        return texts

    def _answer(self) -> None:
        """Run the route for self.path and write its JSON; every failure becomes {"error": ...}."""
        try:
            path = self.path.split("?", 1)[0]
            method, route = self.routes.get(path, (None, None))
            if method != self.command:
                self._reject_unknown_route(path)
            answer = getattr(self, route)(self._read_json() if method == "POST" else None)
            self._send(HTTPStatus.OK, answer)
        except RequestError as e:
            self._send(e.status, {"error": str(e)})
        except BertkitError as e:  # the model's own one-line message (not a fine-tuned model, ...)
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except Exception as e:  # a bug or a resource problem: one log line, no traceback to anyone
            log.error("%s %s failed: %s: %s", self.command, self.path, type(e).__name__, e)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(e).__name__})"})

    def _reject_unknown_route(self, path: str) -> None:
        self.close_connection = True  # an unread body would be taken for the next request
        if path in self.routes:
            method = self.routes[path][0]
            raise RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {method}, not {self.command}")
        raise RequestError(HTTPStatus.NOT_FOUND, f"no route {path}; routes: {', '.join(self.routes)}")

    def _read_json(self) -> dict:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "send a JSON body with a Content-Length header")
        if int(length) > self.server.max_body_bytes:
            self.close_connection = True  # the body stays unread
            raise RequestError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes; the limit is {self.server.max_body_bytes}, send fewer texts per request",
            )
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body must be a JSON object, got {_json_type(body)}")
        return body

    def _send(self, status: HTTPStatus, answer: dict) -> None:
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def _json_type(value) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
