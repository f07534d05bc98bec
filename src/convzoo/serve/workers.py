"""`convzoo serve --workers N`: N server processes on one port.

uvicorn starts the processes (its own supervisor, with the socket shared) and
each builds its app from `ServeSettings`, handed over as JSON in an
environment variable: a spawned process cannot be given Python objects, and
an app must be importable by name for uvicorn to start it in a child.

Why processes help on a CPU: one process decodes uploads under the GIL and
runs each forward pass on every core, where small batches use the cores
poorly. N processes each take cores // N torch threads (unless
OMP_NUM_THREADS says otherwise), so their forward passes and decoding run
side by side. Each process holds its own copy of the models.

/metrics across processes: prometheus-client's multiprocess mode. The parent
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start;
each worker's counters are files there, and whichever worker answers
/metrics adds them all up (metrics.py).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

from ..utils.cpu import available_cores

SETTINGS_VARIABLE = "CONVZOO_SERVE_SETTINGS"
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass
class ServeSettings:
    """What a server process needs to build its app: the command line's choices."""

    patterns: list[str] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    device: str = "auto"
    runtime: dict = field(default_factory=dict)  # RuntimeOptions' fields
    max_batch: int = 16
    max_wait_ms: float = 5.0
    queue_size: int = 64
    bench: str | None = None
    max_upload_mb: float = 10.0
    max_pixels: int | None = None
    workers: int = 1

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ServeSettings":
        return cls(**json.loads(text))


def build_app(settings: ServeSettings):
    """The FastAPI app for `settings`: its pool (checkpoints loaded now), its chart data."""
    from ..tasks.deploy.optimize import RuntimeOptions
    from .app import create_app
    from .batching import BatchSettings
    from .chart import read_bench_results
    from .pool import ModelPool

    batching = BatchSettings(settings.max_batch, settings.max_wait_ms, settings.queue_size)
    pool = ModelPool.matching(settings.patterns, device=settings.device, checkpoints=settings.checkpoints,
                              runtime_options=RuntimeOptions(**settings.runtime), batching=batching)
    bench = read_bench_results(settings.bench) if settings.bench else None
    return create_app(pool, bench=bench, max_upload_mb=settings.max_upload_mb, max_pixels=settings.max_pixels)


def threads_per_worker(workers: int) -> int:
    """The cores this process may use, shared out between `workers` processes (at least 1 each)."""
    return max(1, available_cores() // max(1, workers))


# How often (seconds) a Python thread holding the GIL is asked to hand it over: CPython's
# default is 5 ms. An eager forward pass takes the GIL back between every two operators, so
# while the event loop parses an upload it waited up to 5 ms each time: measured on a 2-core
# Zen 4 (benchmarks/gil_contention.py), a batch of 8 through efficientnet_lite0 in bf16 took
# about 9x longer beside one busy Python thread at 5 ms, 3x at 0.5 ms; under the load test
# (benchmarks/serve_load.py) bf16 batching went from 1.97x to 2.10x the one-at-a-time server.
GIL_SWITCH_INTERVAL_S = 0.0005


def prepare_server_process() -> None:
    """What a serving process sets before it answers: a short GIL switch interval (above)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def app_from_environment():
    """uvicorn's factory in each worker process: the app that SETTINGS_VARIABLE describes."""
    settings = ServeSettings.from_json(os.environ[SETTINGS_VARIABLE])
    prepare_server_process()
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(threads_per_worker(settings.workers))
    return build_app(settings)


def run_workers(settings: ServeSettings, host: str, port: int) -> None:
    """Serve with `settings.workers` processes until interrupted; the metrics folder is removed after."""
    import uvicorn

    metrics_dir = tempfile.mkdtemp(prefix="convzoo-serve-metrics-")
    os.environ[SETTINGS_VARIABLE] = settings.to_json()
    os.environ[MULTIPROC_VARIABLE] = metrics_dir
    try:
        uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=settings.workers,
                    host=host, port=port, log_level="warning")
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
