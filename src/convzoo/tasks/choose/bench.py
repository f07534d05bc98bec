"""`convzoo bench`: what each model costs on this machine, beside what it is worth.

One row per model: parameters, GFLOPs, latency at batch 1 (median and IQR over
timed rounds), throughput at the largest batch size, peak memory, training
throughput (optional), and the published top-1 accuracy of its DEFAULT
weights. With `vs="torchvision"` or `"timm"`, that library's same-named model
is timed in the same rounds, the order alternating, and the ratios are taken
within each round (timing.py).

Models are built with random weights (timing needs no download), with the
build options of their DEFAULT weights, so the network timed is the one whose
accuracy is reported.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

from ...factory import default_weights, get_model, match_models, model_info
from ..anatomy.complexity import count_macs
from ..deploy.optimize import RuntimeOptions, optimize
from ..shared.device import resolve_device
from ..shared.timing import median_iqr, ratio_median, timed_rounds
from .memory import MemoryJob, peak_memory_mb
from .reference_models import reference_model

DEFAULT_BATCH_SIZES = (1, 32)


def bench(patterns: str | Iterable[str], *, batch_sizes: Iterable[int] = DEFAULT_BATCH_SIZES,
          image_size: int | None = None, threads: int | None = None, device: str = "auto", train: bool = False,
          rounds: int = 5, warmup: int = 2, vs: str | None = None, memory: bool = True, progress: bool = True,
          runtime_options: RuntimeOptions | None = None, **runtime) -> list[dict]:
    """Measure every model matching `patterns`; one dict per model (see module doc).

    batch_sizes: latency is timed at the smallest (normally 1), throughput and
        memory at the largest.
    image_size: square input side; default: each model's DEFAULT weights'
        crop size (its own input size without weights).
    runtime_options, or its fields runtime= and precision= by name: what runs
        inference (convzoo.optimize); training is eager PyTorch fp32 whatever they are.
    threads: torch CPU threads for the run (restored afterwards).
    vs: "torchvision" or "timm": time that library's same-named model too.
    memory: measure peak memory (a forked process per model on the CPU).
    """
    from tqdm.auto import tqdm

    batch_sizes = sorted(set(batch_sizes))
    if not batch_sizes or batch_sizes[0] < 1:
        raise ValueError(f"batch sizes must be positive integers, got {batch_sizes}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    options = RuntimeOptions.of(runtime_options, **runtime)
    if options.needs_images:
        raise ValueError("bench times a runtime and precision named outright: 'auto' and int8 need calibration "
                         "images; use `convzoo predict --fast` to choose, then bench that runtime")
    names = match_models(patterns)
    target = resolve_device(device)
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    settings = dict(batch_sizes=batch_sizes, image_size=image_size, runtime=options.runtime, precision=options.precision or "fp32",
                    threads=threads or torch.get_num_threads(), device=target, train=train, rounds=rounds,
                    warmup=warmup, vs=vs, memory=memory)
    rows = []
    try:
        for name in tqdm(names, desc="bench", unit="model", disable=not progress):
            rows.append(bench_one(name, **settings))
    finally:
        torch.set_num_threads(previous_threads)
    return rows


def bench_one(name: str, *, batch_sizes: list[int], image_size: int | None, runtime: str, precision: str,
              threads: int, device: torch.device, train: bool, rounds: int, warmup: int, vs: str | None,
              memory: bool) -> dict:
    info = model_info(name)
    spec = default_weights(name)
    build_kwargs = dict(spec.model_kwargs) if spec else {}
    size = image_size or (spec.preprocessing.crop_size if spec else info.input_size)
    model = get_model(name, **build_kwargs)
    notes = []
    row = {
        "name": name, "family": info.family, "image_size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "gflops": _gflops(name, build_kwargs, size),
        "acc1": spec.meta.get("acc1") if spec else None,
    }
    ours = optimize(model.to(device), runtime=runtime, precision=precision, input_size=size, progress=False)
    contenders = {"ours": ours}
    if vs:
        reference = reference_model(vs, name)
        if reference is None:
            notes.append(f"{vs} has no model named {name}")
        else:
            contenders["theirs"] = optimize(reference.eval().to(device), runtime=runtime, precision=precision,
                                            input_size=size, progress=False)
    small, large = batch_sizes[0], batch_sizes[-1]
    latency = _time_batch(contenders, small, size, device, rounds, warmup)
    throughput = latency if large == small else _time_batch(contenders, large, size, device, rounds, warmup)
    row["latency_batch"] = small
    row["latency_ms"], row["latency_iqr_ms"] = (1000 * v for v in median_iqr(latency["ours"]))
    row["throughput_batch"] = large
    row["throughput"] = large / median_iqr(throughput["ours"])[0]
    row["train_throughput"] = _train_throughput(name, build_kwargs, large, size, device, rounds, warmup, notes) \
        if train else None
    row["peak_memory_mb"] = _peak_memory(MemoryJob(name, build_kwargs, size, large, runtime, precision, threads),
                                         device, notes) if memory else None
    row.update(runtime=runtime, precision=precision, device=str(device), threads=threads)
    if vs:
        has_theirs = "theirs" in contenders
        row["vs"] = vs
        # Ours / theirs within each round: < 1 means ours is faster for latency, > 1 for throughput.
        row["vs_latency_ratio"] = ratio_median(latency["ours"], latency["theirs"]) if has_theirs else None
        row["vs_throughput_ratio"] = ratio_median(throughput["theirs"], throughput["ours"]) if has_theirs else None
    row["note"] = "; ".join(notes)
    return row


def _gflops(name: str, build_kwargs: dict, size: int) -> float | None:
    """From the packaged table when it holds this size, else counted on the meta device."""
    if not build_kwargs:
        known = model_info(name).gflops_at(size)
        if known is not None:
            return known
    try:
        return count_macs(lambda: get_model(name, **build_kwargs), size) / 1e9
    except Exception:  # noqa: BLE001  (a model too small for this image size is told by the timing)
        return None


def _time_batch(contenders: dict, batch: int, size: int, device: torch.device, rounds: int,
                warmup: int) -> dict[str, list[float]]:
    """Seconds per batch of `batch` random images, per contender, one sample per round."""
    x = torch.randn(batch, 3, size, size, device=device)
    return timed_rounds({key: (lambda run=run: run(x)) for key, run in contenders.items()}, rounds=rounds,
                        warmup=warmup, device=device)


def _train_throughput(name: str, build_kwargs: dict, batch: int, size: int, device: torch.device, rounds: int,
                      warmup: int, notes: list[str]) -> float | None:
    """Images per second through forward, backward and an SGD step (eager fp32)."""
    from ..train.loop import loss_and_logits

    model = get_model(name, **build_kwargs).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device)
    target = torch.randint(0, model.num_classes, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss, _ = loss_and_logits(model(x), target, F.cross_entropy, model.aux_loss_weight)
        loss.backward()
        optimizer.step()

    try:
        seconds = timed_rounds({"train": step}, rounds=rounds, warmup=warmup, device=device)["train"]
    except (RuntimeError, ValueError) as exc:  # BatchNorm refuses a batch of 1 where a stage ends at 1x1
        notes.append(f"training failed at batch {batch}: {' '.join(str(exc).split())[:120]}")
        return None
    return batch / median_iqr(seconds)[0]


def _peak_memory(job: MemoryJob, device: torch.device, notes: list[str]) -> float | None:
    try:
        return peak_memory_mb(job, device)
    except RuntimeError as exc:
        notes.append(str(exc))
        return None
