"""Timing that survives a busy machine: rotated rounds, ratios within a round,
median and interquartile range.

Each round times every contender once, the order rotating from round to round
so that none always runs first (cold caches) or last (after a neighbour warmed
the CPU up). A ratio between two contenders is taken within one round, where
both saw the same machine load; slow drift then cancels out. The median over
rounds is reported with the IQR, which a single slow round does not move.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Mapping

import torch


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work: CUDA calls return before the kernels finish."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seconds_per_call(call: Callable[[], object], iters: int = 1, device: torch.device | str = "cpu") -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        call()
    synchronize(device)
    return (time.perf_counter() - start) / iters


def timed_rounds(calls: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 2,
                 min_sample_seconds: float = 0.02, max_iters: int = 50,
                 device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Seconds per call of each contender, one sample per round, the order
    rotating each round. `warmup` untimed calls first (allocator, oneDNN
    primitive caches, cuDNN autotuning). A call faster than
    `min_sample_seconds` is repeated within a sample (up to `max_iters`
    times): one millisecond-long call is mostly timer and scheduler noise."""
    keys = list(calls)
    iters = {}
    for key in keys:
        for _ in range(max(warmup - 1, 0)):
            calls[key]()
        once = seconds_per_call(calls[key], 1, device)  # the last warm-up call, timed to size the samples
        iters[key] = min(max_iters, max(1, math.ceil(min_sample_seconds / max(once, 1e-9))))
    samples: dict[str, list[float]] = {key: [] for key in keys}
    for r in range(rounds):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            samples[key].append(seconds_per_call(calls[key], iters[key], device))
    return samples


def median_iqr(values: list[float]) -> tuple[float, float]:
    """(median, q3 - q1); one value has no spread (IQR 0)."""
    if not values:
        raise ValueError("no values to summarise")
    if len(values) == 1:
        return values[0], 0.0
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return median, q3 - q1


def ratio_median(numerators: list[float], denominators: list[float]) -> float:
    """Median over rounds of the ratio taken within each round."""
    return statistics.median(a / b for a, b in zip(numerators, denominators))
