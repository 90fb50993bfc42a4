"""`GET /metrics`: Prometheus counters and histograms of one server process (its own registry,
so that several apps can live in one process, as in the tests). With `--workers N` each process
answers for itself; `bertkit_worker_info{pid}` and `process_resident_memory_bytes` say which
one answered and its memory.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)


class Metrics:
    def __init__(self):
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, cpu seconds, ...
        Gauge("bertkit_worker_info", "this server process", ["pid"], registry=registry).labels(str(os.getpid())).set(1)
        self.requests = Counter(
            "bertkit_requests", "HTTP requests answered, by route and status", ["route", "status"], registry=registry
        )
        self.in_progress = Gauge(
            "bertkit_requests_in_progress", "HTTP requests begun and not yet answered", registry=registry
        )
        self.queue_depth = Gauge("bertkit_queue_depth", "requests waiting for the model", registry=registry)
        self.batch_tokens = Histogram(
            "bertkit_batch_tokens", "tokens in one model call", buckets=TOKEN_BUCKETS, registry=registry
        )
        self.batch_requests = Histogram(
            "bertkit_batch_requests", "requests sharing one model call", buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=registry,
        )  # fmt: skip
        self.tokenize = self._seconds("tokenize", "counting a request's tokens")
        self.queue = self._seconds("queue", "waiting for the model")
        self.inference = self._seconds("inference", "the model call a request was part of")

    def _seconds(self, stage: str, what: str) -> Histogram:
        return Histogram(
            f"bertkit_{stage}_seconds", f"time {what}", ["route"], buckets=LATENCY_BUCKETS, registry=self.registry
        )
