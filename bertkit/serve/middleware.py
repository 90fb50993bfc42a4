"""`Guard`: the checks every HTTP request passes before any route sees it, as one ASGI layer.

- the API key (`Authorization: Bearer <key>`, compared in constant time; `/health` stays open),
- the body size cap: a declared `Content-Length` over it is refused before a byte is read, and
  a body without one (chunked) is refused as soon as it passes the cap,
- the read timeout: a body that has not fully arrived `read_timeout_s` after the request began
  (a slow client, a slow-loris attack) is refused with 408,
- and the request counters of `/metrics`: in progress, and answered by route and status.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time

from starlette.exceptions import HTTPException

from bertkit.serve.errors import error_response

log = logging.getLogger("bertkit.serve")
OPEN_PATHS = ("/health",)


class Guard:
    def __init__(self, app, settings, metrics, routes: set[str]):
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.routes = routes
        self.key = None if settings.api_key is None else f"Bearer {settings.api_key}".encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        status = [0]

        async def send_recorded(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send_recorded)
            else:
                await self.app(scope, self._limited(receive), send_recorded)
        except Exception as e:  # a bug: one log line; the client learns the exception's type, no traceback
            log.error("%s %s failed: %s: %s", scope["method"], path, type(e).__name__, e)
            if status[0] == 0:
                await error_response(path, 500, f"internal error ({type(e).__name__})")(scope, receive, send_recorded)
        finally:
            self.metrics.in_progress.dec()
            route = path if path in self.routes else "other"
            self.metrics.requests.labels(route, str(status[0])).inc()

    def _refusal(self, scope):
        """The response that refuses this request before its body is read, or None."""
        path = scope["path"]
        headers = dict(scope["headers"])
        if self.key is not None and path not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.key):
                message = "missing API key: send the header Authorization: Bearer <key>"
                if given:
                    message = "wrong API key"
                return error_response(path, 401, message, {"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return error_response(path, 400, "Content-Length is not a number", {"Connection": "close"})
            if int(length) > self.settings.max_body_bytes:
                return error_response(path, 413, self._too_large(int(length)), {"Connection": "close"})
        return None

    def _too_large(self, size: int | None) -> str:
        got = "more" if size is None else f"{size} bytes"
        return f"request body of {got}; the limit is {self.settings.max_body_bytes} bytes, send fewer or shorter texts"

    def _limited(self, receive):
        """`receive`, refusing a body over the cap (413) or slower than the read timeout (408)."""
        deadline = time.monotonic() + self.settings.read_timeout_s
        received = [0]
        done = [False]  # the whole body is in: later calls (a disconnect) wait without a deadline
        cap = self.settings.max_body_bytes

        async def limited():
            if done[0]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise HTTPException(
                    408, f"the request body did not arrive within {self.settings.read_timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None  # fmt: skip
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > cap:
                    raise HTTPException(413, self._too_large(None), headers={"Connection": "close"})
                done[0] = not message.get("more_body", False)
            return message

        return limited
