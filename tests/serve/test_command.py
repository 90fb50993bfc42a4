"""`bertkit serve` as a process: it prints where it listens, drains requests in flight on
SIGTERM and exits 0, explains a port in use in one line, and with `--workers 2` serves from
two processes on one port, forked from one loaded model (the API key from BERTKIT_API_KEY;
Ctrl+C stops both)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest

SERVE = [sys.executable, "-m", "bertkit", "serve", "--port", "0"]


def start(*flags: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([*SERVE, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert line.startswith("bertkit serve: ") and "http://127.0.0.1:" in line, (line, process.stderr.read())
    return process, re.search(r"http://127\.0\.0\.1:\d+", line).group(0)


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> str:
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr and "stopped" in stderr, stderr
    return stderr


def test_sigterm_answers_the_request_in_flight_then_exits_0(model):
    process, url = start("--precision", "fp32")
    port = int(url.rsplit(":", 1)[1])
    try:
        assert httpx.get(url + "/ready").json() == {"status": "ready"}  # serving
        body = json.dumps({"inputs": ["A man is eating food."]}).encode()
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            f"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body[:10])  # a request in flight: half its body sent
        deadline = time.monotonic() + 30
        while "bertkit_requests_in_progress 2.0" not in httpx.get(url + "/metrics").text:  # it and this one
            assert time.monotonic() < deadline, "the server never began the request"
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while True:  # the server stops accepting connections: it is draining
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
        sock.sendall(body[10:])
        answer = b""
        while not answer.endswith(b"]]"):
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        sock.close()
        assert answer.startswith(b"HTTP/1.1 200")
        vector = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        np.testing.assert_allclose(vector, model.embed(["A man is eating food."]), atol=1e-6, rtol=0)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0 and "Traceback" not in stderr and "stopped" in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()


def test_the_command_explains_a_port_in_use():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        result = subprocess.run([*SERVE[:-1], str(taken.getsockname()[1])], capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "cannot listen on 127.0.0.1" in result.stderr


def test_two_workers_share_the_port_and_both_serve(monkeypatch):
    monkeypatch.setenv("BERTKIT_API_KEY", "from-env")  # the key from the environment, in every worker
    process, url = start("--workers", "2", "--precision", "fp32")
    key = {"Authorization": "Bearer from-env"}
    try:
        deadline = time.monotonic() + 120
        served_by: dict[str, float] = {}
        while len(served_by) < 2:  # fresh connections land on either process
            assert time.monotonic() < deadline, served_by
            try:
                with httpx.Client(headers=key) as client:
                    assert (
                        client.post(url + "/embed", json={"inputs": "hi"}, headers={"Authorization": ""}).status_code
                        == 401
                    )
                    assert client.post(url + "/embed", json={"inputs": "hello"}).status_code == 200
                    metrics = client.get(url + "/metrics").text
            except httpx.TransportError:
                continue  # a worker still loading its model
            pid = re.search(r'bertkit_worker_info\{pid="(\d+)"\}', metrics).group(1)
            served = re.search(r'bertkit_requests_total\{route="/embed",status="200"\} (\S+)', metrics)
            if served:
                served_by[pid] = float(served.group(1))
        assert all(count >= 1 for count in served_by.values())
        # Forked from the process that loaded the model: most of each worker's pages are the
        # parent's, shared, so its proportional share (PSS) is well under its resident size.
        workers = [int(pid) for pid in open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()]
        assert sorted(workers) == sorted(int(pid) for pid in served_by)
        for pid in workers:
            rss, pss = _memory(pid)
            assert pss < 0.6 * rss, (pid, rss, pss)
        os.kill(workers[0], signal.SIGKILL)  # a worker that dies is replaced by a new fork
        deadline = time.monotonic() + 60
        while True:
            now = [int(pid) for pid in open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()]
            if len(now) == 2 and workers[0] not in now:
                break
            assert time.monotonic() < deadline, now
            time.sleep(0.05)
        for _ in range(4):
            assert httpx.post(url + "/embed", json={"inputs": "hello"}, headers=key).status_code == 200
    finally:
        stop(process, signal.SIGINT)  # Ctrl+C: the workers drain, the parent exits 0


def _memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in kB, from /proc/PID/smaps_rollup."""
    fields = dict(line.split()[:2] for line in open(f"/proc/{pid}/smaps_rollup") if line.split()[1:2] != [])
    return float(fields["Rss:"]), float(fields["Pss:"])


def test_workers_refuse_a_gpu_in_one_line():
    result = subprocess.run([*SERVE, "--workers", "2", "--device", "cuda"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "run one server per GPU" in result.stderr


@pytest.mark.parametrize("flag,value", [("--workers", "0"), ("--max-batch-tokens", "0"), ("--request-timeout", "0")])
def test_bad_flags_are_one_line(flag, value):
    result = subprocess.run([*SERVE, flag, value], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and flag in result.stderr
