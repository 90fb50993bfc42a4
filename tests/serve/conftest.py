"""Fixtures of the serving tests: the bundled model, and `live(app)`: the app served by uvicorn
on a free loopback port, in a thread, stopped (drained) at the end of the test."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

import bertkit


@pytest.fixture(scope="session")
def model():
    return bertkit.load(precision="fp32")


class Live:
    """`app` on http://127.0.0.1:<free port> (`.url`), in a thread until `stop()`."""

    def __init__(self, app):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=10))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # uvicorn's own flag: listening, lifespan started
            assert self.thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


@pytest.fixture
def live():
    servers = []

    def start(app) -> Live:
        servers.append(Live(app))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
