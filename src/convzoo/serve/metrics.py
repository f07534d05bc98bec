"""GET /metrics: the server's counters in Prometheus' text format.

Each app has its own registry (not prometheus_client's global one), so several
apps in one process (tests) count apart:

    convzoo_requests_total{model, status}    POST /v1/predict answers, per model named
                                             (status: the HTTP code; a name not served: model="unknown")
    convzoo_request_seconds{model}           their latency (histogram)
    convzoo_batch_size{model}                images per forward pass (histogram)
    convzoo_queue_depth{model}               requests waiting for their model (gauge)

Errors that never reach the route (413 from the upload bound, 422 from FastAPI's
field checks) are not counted here.

With `--workers N` (workers.py), PROMETHEUS_MULTIPROC_DIR is set: each process
writes its counts to files there and /metrics sums every process's (the queue
depth too: each process sets its own, and they are added up).
"""
from __future__ import annotations

import os
from typing import Callable

METRICS_MISSING = "convzoo serve's /metrics needs prometheus-client: pip install 'convzoo[serve]'"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    def __init__(self, models: list[str], queue_depth: Callable[[str], int]):
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:
            raise ValueError(METRICS_MISSING) from None
        self.registry = CollectorRegistry(auto_describe=True)
        self.models = set(models)
        self.requests = Counter("convzoo_requests", "POST /v1/predict answers, per model named and HTTP status",
                                ["model", "status"], registry=self.registry)
        self.latency = Histogram("convzoo_request_seconds", "POST /v1/predict latency, per model named",
                                 ["model"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("convzoo_batch_size", "images per forward pass", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.queue_depth = queue_depth
        # One process reads its queues when scraped; several each write theirs as it changes ("livesum").
        self.depth = Gauge("convzoo_queue_depth", "requests waiting for their model's worker", ["model"],
                           registry=self.registry, multiprocess_mode="livesum")
        if not self.multiprocess:
            for name in models:
                self.depth.labels(model=name).set_function(lambda name=name: queue_depth(name))

    def request(self, names: list[str], status: int, seconds: float) -> None:
        for name in names:
            label = name if name in self.models else "unknown"
            self.requests.labels(model=label, status=str(status)).inc()
            self.latency.labels(model=label).observe(seconds)

    def batch(self, model: str, size: int) -> None:
        self.batch_size.labels(model=model).observe(size)
        self.depth_changed(model)

    def depth_changed(self, model: str) -> None:
        """A job joined or left `model`'s queue: in multiprocess mode, write the depth now."""
        if self.multiprocess and model in self.models:
            self.depth.labels(model=model).set(self.queue_depth(model))

    def text(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        every_process = CollectorRegistry()
        multiprocess.MultiProcessCollector(every_process)
        return generate_latest(every_process), CONTENT_TYPE_LATEST
