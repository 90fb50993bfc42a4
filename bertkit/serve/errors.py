"""Errors as the API a route copies writes them: OpenAI's `{"error": {"message", "type", "param",
"code"}}` under /v1, text-embeddings-inference's `{"error", "error_type"}` elsewhere. A message
names what to change; no traceback and no server path ever reaches a client.

    >>> error_body("/v1/embeddings", 413, "too big")["error"]["type"]
    'invalid_request_error'
    >>> error_body("/fill-mask", 400, "/srv/models/x: no MLM head")["error"]
    '<server path>: no MLM head'
    >>> error_body("/predict", 400, "/check/ci/main/model (a folder) is not a classifier")["error"]
    '<server path> (a folder) is not a classifier'
    >>> error_body("/embed", 404, "no route /v1/embedding; see /docs")["error"]  # the API's own paths stay
    'no route /v1/embedding; see /docs'
    >>> error_body("/embed", 400, r"~/.cache/bertkit/x and C:\\models\\x are not models")["error"]
    '<server path> and <server path> are not models'
    >>> error_body("/embed", 429, "busy")
    {'error': 'busy', 'error_type': 'Overloaded'}
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse

# an absolute path of two or more parts (a model's folder, a package's file) wherever a message names one, under
# any root: a server's folders are its own business. The API's paths (/v1/...) are the client's and stay.
SERVER_PATH = re.compile(r"(?<![\w/.])~?(?!/v1/)(?:/[^\s'\",;:/()\[\]]+){2,}/?")
# a Windows one: C:\models\x
WINDOWS_PATH = re.compile(r"\b[A-Za-z]:\\[^\s'\",;:]*")

TEI_TYPES = {401: "Unauthorized", 404: "NotFound", 405: "NotFound", 429: "Overloaded", 500: "Backend", 503: "Unhealthy"}
OPENAI_TYPES = {401: "authentication_error", 404: "not_found_error", 429: "rate_limit_error", 500: "server_error",
                503: "server_error"}  # fmt: skip


class ApiError(Exception):
    """A request answered with `status` and `message` (and `headers`, e.g. Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(path: str, status: int, message: str) -> dict:
    message = WINDOWS_PATH.sub("<server path>", SERVER_PATH.sub("<server path>", message))
    if path.startswith("/v1/"):
        kind = OPENAI_TYPES.get(status, "invalid_request_error")
        code = "invalid_api_key" if status == 401 else None
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return {"error": message, "error_type": TEI_TYPES.get(status, "Validation")}


def error_response(path: str, status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(path, status, message), status_code=status, headers=headers)
