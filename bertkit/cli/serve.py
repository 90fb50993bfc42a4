"""`bertkit serve --model DIR`: the model behind an HTTP server (JSON in, JSON out).

    $ bertkit serve --port 8000
    bertkit serve: /path/to/all-MiniLM-L6-v2 on http://127.0.0.1:8000 (embed; Ctrl+C stops)
    $ curl -s localhost:8000/embed -d '{"texts": ["A man is eating food."]}'
    {"vectors": [[0.0332, 0.0044, -0.0063, 0.0484, ...]], "dim": 384}

Routes: GET /health, POST /embed, POST /predict (fine-tuned models), POST /fill-mask (models
with an MLM head); see docs/serving.md. It listens on 127.0.0.1 only unless --host says
otherwise; `--port 0` picks a free port and prints it.
"""

from __future__ import annotations

import argparse

from bertkit.cli import add_loading_arguments, load_model, precision_chosen
from bertkit.errors import InputError
from bertkit.serve.limits import MAX_BODY_BYTES, MAX_TEXTS

HELP = "serve a model over HTTP: /embed, /predict, /fill-mask, /health (127.0.0.1 by default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_loading_arguments(parser)
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    add("--port", type=int, default=8000, help="port (default 8000; 0 = any free port, printed)")
    add("--max-batch", type=int, default=32, help="texts per model call when merging requests (default 32)")
    add("--max-wait-ms", type=float, default=5.0, help="how long to wait for requests to merge (default 5)")
    add("--max-texts", type=int, default=MAX_TEXTS, help=f"texts per request (default {MAX_TEXTS})")
    add(
        "--max-body-bytes", type=int, default=MAX_BODY_BYTES, help=f"request body size limit (default {MAX_BODY_BYTES})"
    )


def run(args: argparse.Namespace) -> int:
    import ipaddress
    import signal
    import sys

    for name in ("max_batch", "max_texts", "max_body_bytes"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")

    from bertkit.serve.app import make_server

    model = load_model(args)
    try:
        server = make_server(
            model, args.host, args.port, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
            max_texts=args.max_texts, max_body_bytes=args.max_body_bytes,
        )  # fmt: skip
    except OSError as e:  # port taken, address not on this machine, ...
        raise InputError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    try:
        if not ipaddress.ip_address(server.server_address[0]).is_loopback:
            print(f"bertkit serve: warning: listening on {args.host}, reachable from other machines", file=sys.stderr)
    except ValueError:  # a host name
        pass
    routes = "predict" if model.task else "embed"
    print(f"bertkit serve: {model.encoder.source} on {server.url} ({routes}, {precision_chosen(args, model)}; Ctrl+C stops)",
          flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, docker stop, systemd: stop as on Ctrl+C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("bertkit serve: stopped", file=sys.stderr)
    finally:
        server.close()
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt
