"""Bodies an attacker or a broken client sends get their 4xx (never a 5xx, a traceback or a
server path), and the server keeps serving; `schemathesis` finds no 5xx and no answer outside
the OpenAPI schema the app publishes."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import response_schema_conformance

from bertkit.serve.app import create_app
from bertkit.serve.limits import ServeSettings

from .conftest import Live

SETTINGS = ServeSettings(max_body_bytes=1 << 20, read_timeout_s=0.5, auto_truncate=True)


@pytest.fixture(scope="module")
def served(model):
    server = Live(create_app(model, SETTINGS))
    yield server
    server.stop()


def raw_request(served, head: bytes, body_parts=(), timeout: float = 10) -> tuple[int, bytes]:
    """Send `head` and the body parts on one socket; the status and body of the answer."""
    port = int(served.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


HOSTILE = [
    ("invalid UTF-8", b'{"inputs": "\xff\xfe\xfd"}', 400),
    ("not JSON", b"{inputs: ", 422),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, 400),
    ("nested object", b'{"inputs": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}", 400),
    ("wrong type", b'{"inputs": 3}', 422),
    ("list of numbers", b'{"inputs": [1, 2]}', 422),
    ("null", b"null", 422),
    ("10,000 texts", json.dumps({"inputs": ["a text"] * 10_000}).encode(), 413),
    ("a 5 MB text", json.dumps({"inputs": "word " * 1_000_000}).encode(), 413),
]


@pytest.mark.parametrize("name,body,status", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_get_their_4xx_and_the_server_goes_on(served, name, body, status):
    answer = httpx.post(served.url + "/embed", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == status, answer.text[:300]
    error = answer.json()["error"]
    assert "Traceback" not in error and str(Path.cwd()) not in error and "site-packages" not in error
    assert len(answer.content) < 2000  # the input is never echoed back
    assert httpx.post(served.url + "/embed", json={"inputs": "still serving"}).status_code == 200


def test_a_body_over_the_cap_is_refused_before_it_is_read(served):
    head = b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    status, body = raw_request(served, head)  # not one byte of the 50 MB sent
    assert status == 413 and b"the limit is 1048576 bytes" in body


def test_a_chunked_body_is_cut_off_at_the_cap(served):
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 65536
    parts = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 20  # 1.3 MB, no Content-Length
    status, body = raw_request(served, head, parts)
    assert status == 413 and json.loads(body)["error"]["type"] == "invalid_request_error"


def test_a_slow_loris_body_times_out_with_408(served):
    head = b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    status, body = raw_request(served, head, [b'{"inputs": "a'])  # and then nothing: the read timeout ends it
    assert status == 408 and b"did not arrive within 0.5 s" in body
    assert httpx.post(served.url + "/embed", json={"inputs": "still serving"}).status_code == 200


def test_schemathesis_finds_no_5xx_and_no_schema_violation(model):
    from hypothesis import HealthCheck, settings

    app = create_app(model, SETTINGS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures, checked = [], []
    for operation in schema.get_all_operations():
        operation = operation.ok()
        strategy = operation.as_strategy()

        @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given_case(strategy)
        def check(case):
            response = case.call()
            if response.status_code >= 500:
                failures.append((case.path, response.status_code, response.text[:200]))
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except Exception as e:  # noqa: BLE001 - collected, reported below
                failures.append((case.path, response.status_code, str(e)[:300]))

        check()
        checked.append(operation.path)
    assert not failures, failures[:5]
    assert {"/v1/embeddings", "/embed", "/rerank", "/predict", "/tokenize", "/fill-mask", "/metrics"} <= set(checked)


def given_case(strategy):
    from hypothesis import given

    return given(case=strategy)
