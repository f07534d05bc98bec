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
  there the run's own first steps alternate the two (`PrecisionTrial`: one
  warm-up step each, then TRIAL_ROUNDS pairs in ABBA order, the medians
  compared; bf16 must win by BF16_MARGIN, since fp32 is exact), and the rest of
  the run keeps the faster. The trial's steps are real training steps, so it
  costs nothing but the slower precision's share of them; timing a copy of the
  model beforehand cost 10-40 s and, on a 2-core VM whose speed drifts by 10%
  within seconds, misjudged mobilenet_v3_large. A run under twice the trial,
  or under torchrun (each process could choose otherwise), takes bf16.
  On the CPU, "bf16" leaves depthwise convolutions in fp32 (depthwise.py):
  oneDNN's bf16 ones are slower than its fp32 ones, and with them in bf16 a
  2-core Intel Xeon with AMX trained lite0 and mobilenet_v3_large slower in
  bf16 than in fp32 (0.72x, 0.66x); with them in fp32, 1.24x and 1.20x faster
  (benchmarks/depthwise_bf16.py).
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
TRIAL_WARMUP = 1  # untimed steps per precision first: a precision's first step builds its kernels
TRIAL_ROUNDS = 3  # then timed pairs of steps, fp32 and bf16, in ABBA order so drift favours neither
TRIAL_STEPS = 2 * (TRIAL_WARMUP + TRIAL_ROUNDS)  # a run of under twice this takes bf16 untimed
BF16_MARGIN = 1.05  # bf16 is chosen over fp32 only when this much faster
CACHE_CHOICES = ("auto", "memory", "off")
MAX_AUTO_WORKERS = 8


@dataclass(frozen=True)
class EngineChoice:
    """What the engine settings resolved to, and one short reason per automatic choice.
    amp "auto" with `amp_trial`: the run's first steps measure these precisions (PrecisionTrial)."""

    amp: str
    channels_last: bool
    cache: bool
    workers: int
    reasons: tuple[str, ...] = field(default=())
    amp_trial: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """One line for the run's log."""
        if self.amp_trial:
            precision = "fp32 or bf16 autocast (measured on the first steps)"
        else:
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
    bf16 (measured: PrecisionTrial), else the one auto_amp gives."""
    if device.type == "cpu":
        caps = caps if caps is not None else cpu_capabilities()
        if caps.native_bf16:
            return ("none", "bf16")
    return (auto_amp(device, caps, cuda_bf16),)


class PrecisionTrial:
    """--amp auto's measurement where bf16 is native: the precision of each of the run's
    first TRIAL_STEPS training steps, and their seconds, then the faster precision.

    The loop asks `amp()` before a step and `record(seconds)` after it, while `deciding`;
    then `chosen` is "none" (fp32) or "bf16", and `line` says what was measured."""

    def __init__(self, candidates: tuple[str, ...] = ("none", "bf16"), warmup: int = TRIAL_WARMUP,
                 rounds: int = TRIAL_ROUNDS):
        a, b = candidates
        self._warmup = 2 * warmup
        self.schedule = [a, b] * warmup + [amp for r in range(rounds) for amp in ((a, b) if r % 2 == 0 else (b, a))]
        self.seconds: dict[str, list[float]] = {a: [], b: []}
        self.steps = 0
        self.chosen: str | None = None
        self.line = ""

    @property
    def deciding(self) -> bool:
        return self.chosen is None

    def amp(self) -> str:
        """The precision of the next step: the schedule's while deciding, then the chosen one."""
        return self.schedule[self.steps] if self.deciding else self.chosen

    def record(self, seconds: float) -> None:
        """The seconds of the step just run at `amp()`; the last one decides."""
        if not self.deciding:
            return
        if self.steps >= self._warmup:
            self.seconds[self.schedule[self.steps]].append(seconds)
        self.steps += 1
        if self.steps == len(self.schedule):
            self.chosen, self.line = decide_amp(self.seconds)


def decide_amp(seconds: dict[str, list[float]]) -> tuple[str, str]:
    """fp32 ("none") or bf16 by the medians of their steps' seconds, bf16 only when BF16_MARGIN
    faster; and one line saying what was measured."""
    fp32, bf16 = statistics.median(seconds["none"]), statistics.median(seconds["bf16"])
    chosen = "bf16" if fp32 >= BF16_MARGIN * bf16 else "none"
    return chosen, (f"amp {chosen}: a training step took {fp32:.2f} s in fp32, {bf16:.2f} s in bf16 "
                    f"(medians of {len(seconds['none'])} each)")


def auto_channels_last(device: torch.device) -> bool:
    return device.type in ("cpu", "cuda")


def auto_workers(cached: bool, cores: int, world_size: int = 1) -> int:
    if cached:
        return 0
    return max(1, min(MAX_AUTO_WORKERS, cores // max(1, world_size)))


def choose_engine(amp: str, channels_last: bool | None, cache: str, workers: int | None, *,
                  device: torch.device, cacheable: bool, cache_fits: bool, caps: CpuCapabilities | None = None,
                  cores: int | None = None, world_size: int = 1, cuda_bf16: bool | None = None,
                  trial: bool = False) -> EngineChoice:
    """The engine settings: each given one as it is, each auto one (amp "auto",
    channels_last None, cache "auto", workers None) chosen from the machine.
    cacheable: the training transform starts with a resize (split_fixed);
    cache_fits: the decoded set fits in memory (cache.fits_in_memory);
    trial: the run may measure the precisions on its first steps (long enough, one process);
    where there is a choice to measure, amp stays "auto" and `amp_trial` names the candidates.
    False: the rule alone (bf16 where it is native)."""
    check_engine_choices(amp, cache)
    if cache == "memory" and not cacheable:
        raise ValueError("--cache memory needs a training crop that starts with a resize: use --crop scale "
                         "(the default), or --cache off")
    reasons, amp_trial = [], ()
    if amp == "auto":
        candidates = amp_candidates(device, caps, cuda_bf16)
        if len(candidates) > 1 and trial:
            amp_trial = candidates
            reasons.append(f"amp: the first {TRIAL_STEPS} steps alternate fp32 and bf16, the faster is kept")
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
    return EngineChoice(amp, bool(channels_last), use_cache, workers, tuple(reasons), amp_trial)


def _amp_reason(device: torch.device, amp: str) -> str:
    if device.type == "cuda":
        return "the GPU has bf16" if amp == "bf16" else "the GPU has no bf16"
    if device.type == "cpu":
        return "this CPU has native bf16" if amp == "bf16" else "this CPU has no native bf16 (AVX-512 bf16, AMX)"
    return f"no autocast on {device.type}"


__all__ = ["AMP_CHOICES", "BF16_MARGIN", "CACHE_CHOICES", "TRIAL_STEPS", "EngineChoice", "MAX_AUTO_WORKERS",
           "PrecisionTrial", "amp_candidates", "auto_amp", "auto_channels_last", "auto_workers",
           "check_engine_choices", "choose_engine", "decide_amp"]
