"""`bertkit serve --model DIR`: the model behind OpenAI- and text-embeddings-inference-compatible
HTTP routes (FastAPI on uvicorn).

    $ bertkit serve --port 8000
    bertkit serve: /path/to/all-MiniLM-L6-v2 on http://127.0.0.1:8000 (embed, precision fp32 (auto); Ctrl+C stops)
    $ curl -s localhost:8000/v1/embeddings -H 'Content-Type: application/json' \\
          -d '{"input": "A man is eating food.", "model": "all-MiniLM-L6-v2"}'
    {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.0332, ...]}], ...}

Routes: POST /v1/embeddings, /embed, /rerank, /predict, /tokenize, /fill-mask; GET /health,
/ready, /info, /metrics, /docs (see docs/serving.md). It listens on 127.0.0.1 only unless
--host says otherwise; `--port 0` picks a free port and prints it. SIGTERM or Ctrl+C: requests
in flight are answered, then it exits 0.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_loading_arguments, load_model, precision_chosen
from bertkit.errors import InputError
from bertkit.serve import limits

HELP = "serve a model over HTTP: OpenAI /v1/embeddings, TEI /embed /rerank /predict /tokenize, /metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_loading_arguments(parser)
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    add("--port", type=int, default=8000, help="port (default 8000; 0 = any free port, printed)")
    add("--workers", type=int, default=1, help="server processes sharing the port, each with the model (default 1)")
    add("--api-key", default=None,
        help=f"require `Authorization: Bearer KEY` on every route but /health (default: ${limits.API_KEY_ENV}, else none)")  # fmt: skip
    add("--max-batch-tokens", type=int, default=limits.MAX_BATCH_TOKENS,
        help=f"tokens per model call, over the requests it merges; a larger request: 413 (default {limits.MAX_BATCH_TOKENS})")  # fmt: skip
    add("--max-client-batch-size", "--max-texts", type=int, default=limits.MAX_CLIENT_BATCH_SIZE,
        help=f"texts per request; more: 413 (default {limits.MAX_CLIENT_BATCH_SIZE})")  # fmt: skip
    add("--max-batch", type=int, default=limits.MAX_BATCH, help=f"texts per model call (default {limits.MAX_BATCH})")
    add("--max-wait-ms", type=float, default=0.0,
        help="wait this long for more requests once the model is free (default 0: merge what is queued)")  # fmt: skip
    add("--max-queue", type=int, default=limits.MAX_QUEUE,
        help=f"requests waiting for the model; more: 429 with Retry-After (default {limits.MAX_QUEUE})")  # fmt: skip
    add("--max-body-bytes", type=int, default=limits.MAX_BODY_BYTES,
        help=f"request body size; more: 413, refused before it is read (default {limits.MAX_BODY_BYTES})")  # fmt: skip
    add("--request-timeout", type=float, default=limits.REQUEST_TIMEOUT_S,
        help=f"seconds from a request's arrival to its answer; later: 503 (default {limits.REQUEST_TIMEOUT_S:g})")  # fmt: skip
    add("--read-timeout", type=float, default=limits.READ_TIMEOUT_S,
        help=f"seconds to receive a request's body; later: 408 (default {limits.READ_TIMEOUT_S:g})")  # fmt: skip
    add("--auto-truncate", action="store_true",
        help='cut texts longer than the model reads unless a request says "truncate": false (default: 422)')  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and not hasattr(os, "fork"):
        raise InputError("--workers forks its workers, which this system cannot; run one server per port instead")
    if args.workers > 1 and args.device is not None and args.device.startswith("cuda"):
        raise InputError("--workers forks its workers, and CUDA does not survive a fork; run one server per GPU")
    settings = limits.ServeSettings(
        model=None if args.model is None else str(args.model), precision=args.precision, device=args.device,
        seq_length=args.seq_length, max_batch_tokens=args.max_batch_tokens,
        max_client_batch_size=args.max_client_batch_size, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
        max_body_bytes=args.max_body_bytes, max_queue=args.max_queue, request_timeout_s=args.request_timeout,
        read_timeout_s=args.read_timeout, auto_truncate=args.auto_truncate,
        api_key=args.api_key if args.api_key is not None else os.environ.get(limits.API_KEY_ENV),
    ).check()  # fmt: skip
    sock = _listen(args.host, args.port)
    url = f"http://{args.host if ':' not in args.host else f'[{args.host}]'}:{sock.getsockname()[1]}"
    if not _loopback(sock.getsockname()[0]):
        print(f"bertkit serve: warning: listening on {args.host}, reachable from other machines", file=sys.stderr)

    import uvicorn

    options = dict(log_level="warning", access_log=False, timeout_graceful_shutdown=int(settings.request_timeout_s) + 1)
    if args.workers == 1:
        from bertkit.serve.app import create_app

        model = load_model(args)
        server = uvicorn.Server(uvicorn.Config(create_app(model, settings), **options))
        routes = "predict" if model.task else "embed"
        print(f"bertkit serve: {model.encoder.source} on {url} ({routes}, {precision_chosen(args, model)}; Ctrl+C stops)",
              flush=True)  # fmt: skip
        _serve(lambda: server.run(sockets=[sock]))
    else:
        import torch

        from bertkit.serve.app import create_app
        from bertkit.serve.workers import run_workers, threads_per_worker

        torch.set_num_threads(1)  # no OpenMP pool before the fork: one would not survive it
        model = load_model(args)  # once: the workers are forked from here and share its weights' pages
        print(f"bertkit serve: {model.encoder.source} on {url} ({args.workers} workers, "
              f"{threads_per_worker(args.workers)} thread(s) each, {precision_chosen(args, model)}; Ctrl+C stops)",
              flush=True)  # fmt: skip
        run_workers(lambda: create_app(model, settings), sock, args.workers, options)
    print("bertkit serve: stopped", file=sys.stderr)
    return 0


def _serve(serve) -> None:
    """Run `serve()` until SIGTERM or Ctrl+C have drained it. uvicorn answers the requests in
    flight, then raises the signal again with the handlers from before it started: SIGTERM's
    is set here to do nothing more, so that the process exits 0."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        serve()
    except KeyboardInterrupt:
        pass


def _listen(host: str, port: int):
    """A socket bound to host:port, or one clear line (port taken, address not on this machine)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)  # from here, connections wait in the backlog until the app takes them
    except OSError as e:
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock


def _loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
