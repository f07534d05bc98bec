"""Dynamic batching: one worker thread per served model.

A request's image, preprocessed in the request's own thread, becomes a `Job`
on its model's bounded queue. The worker takes the first job waiting, then
collects more until it holds `max_batch` of them or `max_wait_ms` has passed
since the first, and hands the batch to `process` (one forward pass for all);
`process` answers every job's future. max_batch=1 is the one-request-at-a-time
server. A full queue refuses the job at once (`QueueFull`: the app answers 503
with Retry-After), so waiting requests never hold more than `queue_size`
images in memory per model.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable

DEFAULT_MAX_BATCH = 8  # on a CPU, bigger batches cost as much per image or more (benchmarks/serve_load.py)
DEFAULT_MAX_WAIT_MS = 5.0
DEFAULT_QUEUE_SIZE = 64


class QueueFull(RuntimeError):
    """A model's queue holds `queue_size` jobs already: come back later."""

    def __init__(self, model: str, size: int, retry_after: int = 1):
        super().__init__(f"{model} is busy: its queue of {size} request(s) is full; retry in {retry_after} s "
                         f"(or start the server with a larger --queue-size)")
        self.retry_after = retry_after


@dataclass
class Job:
    tensor: Any  # the preprocessed image, [C, H, W] (or [V, C, H, W] with tta)
    picture: Any  # the decoded image (Grad-CAM explains it uncropped)
    topk: int
    explain: bool = False
    prep_ms: float = 0.0  # preprocessing of this image, in the request's thread
    future: Future = field(default_factory=Future)


@dataclass(frozen=True)
class BatchSettings:
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    queue_size: int = DEFAULT_QUEUE_SIZE

    def __post_init__(self):
        if self.max_batch < 1 or self.queue_size < 1 or self.max_wait_ms < 0:
            raise ValueError(f"batching: max_batch and queue_size must be 1 or more and max_wait_ms 0 or more, "
                             f"not {self.max_batch}, {self.queue_size}, {self.max_wait_ms}")


class BatchWorker:
    """The queue and the thread of one model; `process(jobs)` must answer each job's future."""

    def __init__(self, model: str, process: Callable[[list[Job]], None], settings: BatchSettings = BatchSettings()):
        self.model, self.process, self.settings = model, process, settings
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=settings.queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting the batch being computed)."""
        return self._queue.qsize()

    def submit(self, job: Job, retry_after: int = 1) -> Future:
        self._start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(self.model, self.settings.queue_size, retry_after) from None
        return job.future

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"convzoo-batch-{self.model}", daemon=True)
                self._thread.start()

    def _collect(self) -> list[Job]:
        jobs = [self._queue.get()]
        deadline = time.perf_counter() + self.settings.max_wait_ms / 1000
        while len(jobs) < self.settings.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                jobs.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _loop(self) -> None:
        while True:
            jobs = self._collect()
            try:
                self.process(jobs)
            except BaseException as exc:  # noqa: BLE001  the batch's requests get the error; the worker goes on
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
