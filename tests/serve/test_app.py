"""`bertkit.serve.app` over real loopback HTTP: each route, vectors equal to `bertkit.load().embed`,
bad requests answered with JSON errors, a concurrent load whose requests get merged, and the
command line starting, answering and stopping."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
import transformers
from tiny_models import TOKENIZER_FILES

import bertkit
from bertkit.bundled import default_model_dir
from bertkit.serve import app as app_module
from bertkit.serve.app import make_server

TEXTS = ["A man is eating food.", "Someone eats.", "Ünïcödé and 中文 text", "word " * 400]  # the last is truncated


@pytest.fixture(scope="module")
def model():
    return bertkit.load()


def serving(pipeline, **options):
    server = make_server(pipeline, "127.0.0.1", 0, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture(scope="module")
def server(model):
    server, thread = serving(model, max_body_bytes=20_000, max_texts=64)
    yield server
    server.shutdown()
    thread.join(timeout=10)
    server.close()
    assert not thread.is_alive()


def call(server, method: str, path: str, body=None, raw: bytes | None = None):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def test_health(server):
    status, answer = call(server, "GET", "/health")
    assert status == 200 and answer["status"] == "ok" and answer["dim"] == 384 and answer["task"] is None


@pytest.mark.parametrize("pooling,normalize", [("mean", True), ("cls", False)])
def test_embed_equals_the_library(server, model, pooling, normalize):
    status, answer = call(server, "POST", "/embed", {"texts": TEXTS, "pooling": pooling, "normalize": normalize})
    assert status == 200 and answer["dim"] == 384
    expected = model.embed(TEXTS, pooling=pooling, normalize=normalize)
    np.testing.assert_allclose(np.array(answer["vectors"]), expected, atol=1e-5, rtol=0)


def test_embed_defaults_to_normalised_mean_pooling(server, model):
    _, answer = call(server, "POST", "/embed", {"texts": TEXTS[:2]})
    np.testing.assert_allclose(answer["vectors"], model.embed(TEXTS[:2], "mean", True), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "raw,status,message",
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (b'["a"]', 400, "JSON object"),
        (b"{}", 400, 'missing field "texts"'),
        (b'{"texts": "one string"}', 400, "must be a list"),
        (b'{"texts": []}', 400, "empty"),
        (b'{"texts": ["ok", 3]}', 400, '"texts"[1] is a number'),
        (b'{"texts": ["ok", null]}', 400, '"texts"[1] is null'),
        (b'{"texts": ["ok"], "pooling": "maximum"}', 400, "unknown pooling"),
        (b'{"texts": ["ok"], "normalize": "yes"}', 400, "normalize"),
        (json.dumps({"texts": ["x"] * 65}).encode(), 413, "limit is 64"),
        (json.dumps({"texts": ["word " * 5000]}).encode(), 413, "limit is 20000"),
    ],
)
def test_bad_requests_get_a_json_error(server, raw, status, message):
    got, answer = call(server, "POST", "/embed", raw=raw)
    assert got == status and message in answer["error"] and "Traceback" not in answer["error"]


def test_answers_leave_without_waiting_for_the_clients_ack(server, monkeypatch):
    """Nagle's algorithm is off on every connection the server accepts: a response is two
    writes (headers, body), and with it on the body waits for a keep-alive client's delayed
    ACK (~40 ms a request, measured with benchmarks/serve.py)."""
    import socket

    seen = []
    setup = app_module.Handler.setup

    def recording(handler):
        setup(handler)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(app_module.Handler, "setup", recording)
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    for _ in range(3):  # one kept-alive connection, several requests
        connection.request("GET", "/health")
        assert connection.getresponse().read()
    connection.close()
    assert len(seen) == 1 and seen[0] != 0


def test_unknown_routes_and_methods(server, model):
    assert call(server, "GET", "/nothing")[0] == 404
    assert call(server, "GET", "/embed")[0] == 405
    status, answer = call(server, "POST", "/health", {})
    assert status == 405 and "GET" in answer["error"]
    # the bundled model is neither fine-tuned nor has an MLM head: one-line 400s
    status, answer = call(server, "POST", "/predict", {"texts": ["a"]})
    assert status == 400 and "not a fine-tuned model" in answer["error"]
    status, answer = call(server, "POST", "/fill-mask", {"texts": ["a [MASK]"]})
    assert status == 400 and answer["error"]


def test_concurrent_requests_are_merged_and_all_answered(model):
    server, thread = serving(model, max_wait_ms=10)
    clients, per_client = 8, 20
    sentences = [
        f"request {i}: the {['cat', 'dog', 'bird'][i % 3]} sat on mat number {i}" for i in range(clients * per_client)
    ]
    expected = model.embed(sentences, "mean", True)
    failures, answered = [], [0]

    def client(c: int) -> None:
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(host, port, timeout=60)  # keep-alive, one per client
        for r in range(per_client):
            i = c * per_client + r
            connection.request("POST", "/embed", json.dumps({"texts": [sentences[i]]}))
            response = connection.getresponse()
            vector = json.loads(response.read())["vectors"][0]
            if response.status != 200 or np.abs(np.array(vector) - expected[i]).max() > 1e-5:
                failures.append(i)
            answered[0] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stats = server.batcher.stats
    server.shutdown()
    thread.join(timeout=10)
    server.close()
    assert not failures and answered[0] == clients * per_client
    assert stats["requests"] == clients * per_client
    assert stats["merged"] > 0 and stats["calls"] < stats["requests"]  # micro-batching merged some
    assert not thread.is_alive() and not server.batcher._worker.is_alive()


def test_a_full_queue_answers_503(model):
    server, thread = serving(model, max_queue=1)
    release = threading.Event()
    server.batcher.fn = lambda texts, options: (release.wait(10), [[0.0]] * len(texts))[1]  # a stuck model
    try:
        first = threading.Thread(target=call, args=(server, "POST", "/embed", {"texts": ["a"]}))
        first.start()  # taken by the worker, which now blocks
        time.sleep(0.3)
        second = threading.Thread(target=call, args=(server, "POST", "/embed", {"texts": ["b"]}))
        second.start()  # fills the one-place queue
        time.sleep(0.3)
        status, answer = call(server, "POST", "/embed", {"texts": ["c"]})
        assert status == 503 and "busy" in answer["error"]
    finally:
        release.set()
        first.join(10), second.join(10)
        server.shutdown(), thread.join(10), server.close()


def test_a_bug_is_a_500_with_one_log_line_and_no_traceback(model, caplog):
    server, thread = serving(model)
    server.batcher.fn = lambda texts, options: 1 / 0
    try:
        status, answer = call(server, "POST", "/embed", {"texts": ["a"]})
    finally:
        server.shutdown(), thread.join(10), server.close()
    assert status == 500 and answer == {"error": "internal error (ZeroDivisionError)"}
    assert "ZeroDivisionError" in caplog.text and "Traceback" not in caplog.text


def _tiny(directory, cls, **config):
    config = transformers.BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, **config
    )  # fmt: skip
    torch.manual_seed(0)
    cls(config).save_pretrained(str(directory))
    for name in TOKENIZER_FILES:
        if (default_model_dir() / name).is_file():
            shutil.copyfile(default_model_dir() / name, directory / name)
    return directory


def test_predict_and_fill_mask_routes(tmp_path):
    classifier = _tiny(tmp_path / "clf", transformers.BertForSequenceClassification, id2label={0: "ham", 1: "spam"})
    pipeline = bertkit.load(classifier)
    server, thread = serving(pipeline)
    try:
        status, answer = call(server, "POST", "/predict", {"texts": ["free prize", "see you"]})
        assert status == 200 and answer["predictions"] == json.loads(
            json.dumps(pipeline.predict(["free prize", "see you"]))
        )
        assert call(server, "GET", "/health")[1]["task"] == "classification"
    finally:
        server.shutdown(), thread.join(10), server.close()

    tagger = bertkit.load(
        _tiny(tmp_path / "ner", transformers.BertForTokenClassification, id2label={0: "O", 1: "B-PER"})
    )
    server, thread = serving(tagger)
    try:
        sentences = [["alice", "went", "home"], "bob in lima"]  # word lists or whitespace-split texts
        status, answer = call(server, "POST", "/predict", {"texts": sentences})
        assert status == 200 and answer["predictions"] == json.loads(json.dumps(tagger.predict(sentences)))
        assert answer["predictions"][1]["words"] == ["bob", "in", "lima"]
        assert call(server, "POST", "/predict", {"texts": [["alice", 3]]})[0] == 400
    finally:
        server.shutdown(), thread.join(10), server.close()

    masked = bertkit.load(_tiny(tmp_path / "mlm", transformers.BertForMaskedLM))
    server, thread = serving(masked)
    try:
        status, answer = call(server, "POST", "/fill-mask", {"texts": ["a [MASK] and a dog."], "top_k": 2})
        assert status == 200 and answer["masks"] == json.loads(json.dumps([masked.fill_mask("a [MASK] and a dog.", 2)]))
        assert call(server, "POST", "/fill-mask", {"texts": ["a [MASK]"], "top_k": 0})[0] == 400
    finally:
        server.shutdown(), thread.join(10), server.close()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_the_command_serves_and_stops_cleanly(stop):
    process = subprocess.Popen(
        [sys.executable, "-m", "bertkit", "serve", "--port", "0", "--precision", "int8" if stop == signal.SIGINT else "fp32"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith("bertkit serve: ") and "http://127.0.0.1:" in line, line
        assert f"precision {'int8' if stop == signal.SIGINT else 'fp32'};" in line, line  # the one it runs, named
        port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/embed", json.dumps({"texts": ["hello"]}))
        assert json.loads(connection.getresponse().read())["dim"] == 384
        connection.close()
    finally:
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in stderr and "stopped" in stderr


def test_the_command_explains_a_port_in_use(model):
    server, thread = serving(model)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bertkit", "serve", "--port", str(server.server_address[1])],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        server.shutdown(), thread.join(10), server.close()
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1" in result.stderr


def test_docstring_examples_run():
    import doctest

    from bertkit.serve import batching

    for module in (app_module, batching):
        assert doctest.testmod(module).failed == 0, module.__name__
