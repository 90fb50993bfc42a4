"""`bertkit serve --workers N`: the model loaded once, then N server processes forked from it.

Each worker is a copy-on-write child of the process that loaded (and packed) the weights, so
their pages are shared between all workers instead of copied N times; each worker builds its
own app (batcher thread, metrics) after the fork, and they all accept from the one listening
socket. The parent loads with one intra-op thread, so no OpenMP thread pool exists at the fork
(a pool does not survive one); each worker then takes its share of the cores.

The parent supervises: SIGTERM or Ctrl+C (SIGINT) is passed on to every worker once as SIGTERM
— each drains its requests in flight, as a single server does — and the parent exits 0 when
they have; a worker that dies on its own is replaced by a new fork.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores this process may use (at least one)."""
    from bertkit.inference.threads import usable_cpus

    return max(1, usable_cpus() // workers)


def run_workers(make_app, sock, workers: int, options: dict) -> int:
    """Fork `workers` processes serving `make_app()` on `sock`; return 0 once stopped by a signal."""
    children: set[int] = set()
    stopping = False
    threads = threads_per_worker(workers)

    def start_one() -> None:
        pid = os.fork()
        if pid:
            children.add(pid)
            return
        code = 1
        try:  # the child: never returns into the parent's code
            code = _serve_one(make_app, sock, options, threads)
        except BaseException as e:  # noqa: BLE001  (a worker reports and exits; the parent carries on)
            print(f"bertkit serve: worker {os.getpid()} failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)

    def stop(signum, frame) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for _ in range(workers):
        start_one()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if not stopping:
            print(f"bertkit serve: worker {pid} exited ({_describe(status)}); starting another", file=sys.stderr)
            start_one()
    return 0


def _serve_one(make_app, sock, options: dict, threads: int) -> int:
    import torch
    import uvicorn

    class Worker(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            # SIGTERM (from the parent) drains; Ctrl+C reaches the whole process group, and the
            # parent passes it on as SIGTERM, so the worker itself ignores SIGINT: one signal,
            # one graceful stop, never uvicorn's "second signal: exit now".
            previous = signal.signal(signal.SIGTERM, self.handle_exit)
            try:
                yield
            finally:
                signal.signal(signal.SIGTERM, previous)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(threads)
    Worker(uvicorn.Config(make_app(), **options)).run(sockets=[sock])
    return 0


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"
