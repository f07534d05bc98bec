"""The training engine's automatic choices: what `--amp`, `--channels-last`,
`--cache` and `--workers` become when left to auto, from what this machine has.

- Mixed precision: bf16 autocast is a candidate where the arithmetic is
  native (a CPU with AVX-512 bf16 or AMX; a GPU with bf16), fp16 on an older
  CUDA GPU, fp32 elsewhere. Emulated bf16 (AVX-512 without its bf16
  instructions) is slower than fp32, and AVX2-only CPUs have no bf16 kernels
  at all. On a CPU with native bf16, native is not always faster: on a 2-core
  Zen 4 a channels_last training step at 224 px ran efficientnet_lite0 1.25x
  faster in bf16 than fp32, but mobilenet_v3_large 0.83x, and lite0 at 96 px
  0.73x (small convolutions, where the casts cost more than they save). So
  there the run times a few steps of each on a copy of the model, with its
  first real batch, and keeps the faster (`choose_amp`; bf16 must win by
  BF16_MARGIN, since fp32 is exact); a run too short to repay that
  (PROBE_MIN_STEPS) or under torchrun (each process could choose otherwise)
  takes bf16.
- channels_last: on for CPUs and CUDA GPUs. oneDNN's convolutions (and
  cuDNN's tensor cores) work in NHWC; in NCHW every convolution converts its
  input and output. On a 2-core Zen 4, a training step at 224 px ran
  efficientnet_lite0 2.0x, mobilenet_v3_large 2.2x and resnet50 1.4x faster in
  fp32 (benchmarks/train_speed.py measures whole epochs).
- The decoded-image cache (data/cache.py): on when the training crop starts
  with a resize (`--crop scale`, the default) and the decoded set fits in a
  quarter of the memory available at the start.
- DataLoader workers: none when the images are cached (what is left per item,
  a crop and a normalisation, costs less than handing tensors between
  processes, and a worker competes with the compute threads for the cores);
  otherwise one per core this process may use, at most MAX_AUTO_WORKERS.

`choose_engine` takes every fact it decides from as an argument (CPU flags,
cores, memory, device), so tests simulate machines without timing anything.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch

from ...utils.cpu import CpuCapabilities, available_cores, cpu_capabilities

AMP_CHOICES = ("auto", "none", "bf16", "fp16")
PROBE_MIN_STEPS = 40  # training steps in a run from which timing fp32 against bf16 pays
PROBE_WARMUP = 2  # untimed steps per precision first: the first steps are slow (allocations, oneDNN's kernels)
PROBE_ROUNDS = 3  # then one timed step per precision per round, the precisions alternating
BF16_MARGIN = 1.05  # bf16 is chosen over fp32 only when this much faster
CACHE_CHOICES = ("auto", "memory", "off")
MAX_AUTO_WORKERS = 8


@dataclass(frozen=True)
class EngineChoice:
    """What the engine settings resolved to, and one short reason per automatic choice."""

    amp: str
    channels_last: bool
    cache: bool
    workers: int
    reasons: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One line for the run's log."""
        precision = "fp32" if self.amp == "none" else f"{self.amp} autocast"
        layout = "channels_last" if self.channels_last else "NCHW"
        cache = "decoded images cached in memory" if self.cache else "images decoded every epoch"
        workers = f"{self.workers} loader worker{'s' if self.workers != 1 else ''}"
        return f"engine: {precision}, {layout}, {cache}, {workers}"


def check_engine_choices(amp: str, cache: str) -> None:
    """One line for a value that is not an engine choice, before any work."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"--amp {amp}: use one of {', '.join(AMP_CHOICES)}")
    if cache not in CACHE_CHOICES:
        raise ValueError(f"--cache {cache}: use one of {', '.join(CACHE_CHOICES)}")


def auto_amp(device: torch.device, caps: CpuCapabilities | None = None, cuda_bf16: bool | None = None) -> str:
    """--amp auto: bf16 where it is native, fp16 on a CUDA GPU without bf16, none elsewhere."""
    if device.type == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "fp16"
    if device.type == "cpu":
        caps = caps if caps is not None else cpu_capabilities()
        return "bf16" if caps.native_bf16 else "none"
    return "none"  # MPS and others: autocast support varies, fp32 is the safe answer


def amp_candidates(device: torch.device, caps: CpuCapabilities | None = None,
                   cuda_bf16: bool | None = None) -> tuple[str, ...]:
    """The precisions --amp auto chooses between here: fp32 and bf16 on a CPU with native
    bf16 (measured: choose_amp), else the one auto_amp gives."""
    if device.type == "cpu":
        caps = caps if caps is not None else cpu_capabilities()
        if caps.native_bf16:
            return ("none", "bf16")
    return (auto_amp(device, caps, cuda_bf16),)


def choose_amp(candidates: tuple[str, ...], step_seconds, rounds: int = PROBE_ROUNDS) -> tuple[str, str]:
    """The faster of fp32 ("none") and bf16 by `step_seconds(amp)` (the seconds of one
    training step), called in alternating rounds so that the machine's drift and the first
    steps' slowness favour neither; the medians decide, bf16 only when BF16_MARGIN faster.
    Returns the choice and one line saying what was measured."""
    if len(candidates) == 1:
        return candidates[0], ""
    seconds: dict[str, list[float]] = {amp: [] for amp in candidates}
    for r in range(rounds):
        for amp in (candidates if r % 2 == 0 else candidates[::-1]):
            seconds[amp].append(step_seconds(amp))
    fp32, bf16 = statistics.median(seconds["none"]), statistics.median(seconds["bf16"])
    chosen = "bf16" if fp32 >= BF16_MARGIN * bf16 else "none"
    return chosen, f"a training step took {fp32:.2f} s in fp32, {bf16:.2f} s in bf16"


def time_training_step(model, x, y, criterion, amp: str, warmup: int = 0) -> float:
    """Seconds of one forward and backward pass of `model` (a copy: its BatchNorm statistics
    move) on the batch (x, y) under `amp`, after `warmup` untimed ones; no optimizer step."""
    import time

    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    model.train()

    def step():
        with torch.autocast(x.device.type, dtype=dtype, enabled=amp != "none"):
            out = model(x)
            loss = criterion(out[0] if isinstance(out, (tuple, list)) else out, y)
        loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def auto_channels_last(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


def auto_workers(cached: bool, cores: int, world_size: int = 1) -> int:
    if cached:
        return 0
    return max(1, min(MAX_AUTO_WORKERS, cores // max(1, world_size)))


def choose_engine(amp: str, channels_last: bool | None, cache: str, workers: int | None, *,
                  device: torch.device, cacheable: bool, cache_fits: bool, caps: CpuCapabilities | None = None,
                  cores: int | None = None, world_size: int = 1, cuda_bf16: bool | None = None,
                  step_seconds=None) -> EngineChoice:
    """The engine settings: each given one as it is, each auto one (amp "auto",
    channels_last None, cache "auto", workers None) chosen from the machine.
    cacheable: the training transform starts with a resize (split_fixed);
    cache_fits: the decoded set fits in memory (cache.fits_in_memory);
    step_seconds: amp -> seconds per training step (time_training_step), where the
    run may time the precisions; None: the rule alone (bf16 where it is native)."""
    check_engine_choices(amp, cache)
    if cache == "memory" and not cacheable:
        raise ValueError("--cache memory needs a training crop that starts with a resize: use --crop scale "
                         "(the default), or --cache off")
    reasons = []
    if amp == "auto":
        candidates = amp_candidates(device, caps, cuda_bf16)
        if len(candidates) > 1 and step_seconds is not None:
            amp, measured = choose_amp(candidates, step_seconds)
            reasons.append(f"amp {amp}: {measured}")
        else:
            amp = auto_amp(device, caps, cuda_bf16)
            reasons.append(f"amp {amp}: " + _amp_reason(device, amp))
    if channels_last is None:
        channels_last = auto_channels_last(device)
    if cache == "auto":
        use_cache = cacheable and cache_fits
        if not use_cache:
            reasons.append("no cache: " + ("--crop resized starts from the whole image" if not cacheable
                                           else "the decoded images would take over a quarter of the memory"))
    else:
        use_cache = cache == "memory"
    if workers is None:
        workers = auto_workers(use_cache, cores if cores is not None else available_cores(), world_size)
    return EngineChoice(amp, bool(channels_last), use_cache, workers, tuple(reasons))


def _amp_reason(device: torch.device, amp: str) -> str:
    if device.type == "cuda":
        return "the GPU has bf16" if amp == "bf16" else "the GPU has no bf16"
    if device.type == "cpu":
        return "this CPU has native bf16" if amp == "bf16" else "this CPU has no native bf16 (AVX-512 bf16, AMX)"
    return f"no autocast on {device.type}"


__all__ = ["AMP_CHOICES", "BF16_MARGIN", "CACHE_CHOICES", "EngineChoice", "MAX_AUTO_WORKERS", "PROBE_MIN_STEPS",
           "amp_candidates", "auto_amp", "auto_channels_last", "auto_workers", "check_engine_choices", "choose_amp",
           "choose_engine", "time_training_step"]
