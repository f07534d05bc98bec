"""Peak memory of running a model, measured where nothing else has run.

On the CPU a process's resident memory only tells the truth in a fresh
process: memory freed by an earlier model stays in the allocator's free lists
and is reused without growing the RSS, so measuring model after model in one
process under-counts all but the first. Each measurement therefore runs in a
child forked from a "forkserver" process that has imported convzoo and torch
but never run a model; the child's peak RSS (`ru_maxrss`, which starts at the
RSS it was forked with) less its RSS at the start is the model's cost:
weights, activations and workspace. On a GPU, torch's allocator keeps the
count itself (`torch.cuda.max_memory_allocated`), in this process.
"""
from __future__ import annotations

import multiprocessing
import resource
import sys
from dataclasses import dataclass

import torch

from ...factory import get_model
from ..deploy.optimize import optimize


@dataclass(frozen=True)
class MemoryJob:
    """What to build and run: picklable, to cross into the child process."""

    name: str
    model_kwargs: dict
    image_size: int
    batch_size: int
    runtime: str = "torch"
    precision: str | None = None
    threads: int | None = None


def peak_memory_mb(job: MemoryJob, device: torch.device | str = "cpu") -> float | None:
    """MiB that building the model and running one batch of `job.batch_size`
    images through it takes at its peak; None where it cannot be measured."""
    if torch.device(device).type == "cuda":
        return _cuda_peak_mb(job, torch.device(device))
    if sys.platform == "win32" or "forkserver" not in multiprocessing.get_all_start_methods():
        return None  # no fork there: a fresh interpreter per model would cost more than it tells
    context = multiprocessing.get_context("forkserver")
    # The server imports these once; every child forked from it starts with them loaded.
    context.set_forkserver_preload([__name__])
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_measure_in_child, args=(job, send), daemon=True)
    child.start()
    send.close()
    try:
        outcome = receive.recv()
    except EOFError:  # the child died (killed for memory, a crash in a runtime)
        outcome = ("error", f"the measuring process ended with exit code {child.exitcode}")
    finally:
        child.join()
    kind, value = outcome
    if kind == "error":
        raise RuntimeError(f"measuring the memory of {job.name}: {value}")
    return value


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


def _peak_rss_kib() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB on Linux


def _run_job(job: MemoryJob, device: torch.device):
    model = get_model(job.name, **job.model_kwargs).eval().to(device)
    run = optimize(model, runtime=job.runtime, precision=job.precision, input_size=job.image_size,
                   progress=False)
    run(torch.randn(job.batch_size, 3, job.image_size, job.image_size, device=device))
    return run


def _measure_in_child(job: MemoryJob, send) -> None:
    try:
        if job.threads:
            torch.set_num_threads(job.threads)
        # /proc/self/statm is Linux's; elsewhere the fork's starting peak is the baseline.
        start = _rss_kib() if sys.platform.startswith("linux") else _peak_rss_kib()
        _run_job(job, torch.device("cpu"))
        send.send(("ok", (_peak_rss_kib() - start) / 1024))
    except Exception as exc:  # noqa: BLE001  (reported to the parent, which raises it)
        send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def _cuda_peak_mb(job: MemoryJob, device: torch.device) -> float:
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    start = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    run = _run_job(job, device)
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device)
    del run
    torch.cuda.empty_cache()
    return (peak - start) / 2**20
