"""runtime="auto": measure every runtime/precision this machine offers on the
user's own images, keep the fastest whose answers agree with fp32 eager.

For each candidate: build it (export, convert, quantize), run the calibration
images through it and count how often its top-1 class equals the one plain
fp32 eager PyTorch gives (the agreement), then time it on one batch, the
candidates taking turns over a few rounds so that a slow drift of the machine
does not favour one of them. The fastest candidate that keeps fp32's answers
wins; every faster one that lost says which rule it broke, with its figures.

Keeping the answers is answers.py's rule: 99% top-1 agreement on the images
where fp32 is confident, and, with labels, at most 0.5 points of accuracy lost.
Reduced precisions are only tried with enough calibration images to tell 99%
agreement from luck.

The choice is remembered per model, weights, input size, batch size and
machine (CPU model, threads, library versions) in
$CONVZOO_HOME/runtime_choices.json; `cache=False` measures again.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import json
import platform
import statistics
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch
from torch import nn

from ....net import input_channels
from ....utils.atomic import write_text_atomic
from ....utils.cpu import CpuCapabilities
from ....utils.home import convzoo_home
from ...shared.extras import EXTRA_OF_MODULE, has_module
from ...shared.timing import timed_rounds
from .answers import ANSWERS_RULE, CONFIDENT, MIN_AGREEMENT, MIN_CONFIDENT_IMAGES, Measurement, Reference, pick
from .calibration import MIN_AGREEMENT_IMAGES, batches
from .runners import Runner, build_runner

TIMED_ROUNDS = 3
MIN_TURN_SECONDS = 0.2  # a timed sample repeats a fast candidate's call until it lasts about this long
CACHE_FILE = "runtime_choices.json"


@dataclass
class Choice:
    runner: Runner
    chosen: Measurement
    measured: list[Measurement]
    note: str


def choose(model: nn.Module, *, precision: str | None, calibration: torch.Tensor | None, compile: bool,
           size: tuple[int, int], batch_size: int, progress: bool, use_cache: bool = True,
           min_agreement: float = MIN_AGREEMENT, calibration_labels: torch.Tensor | None = None) -> Choice:
    """calibration_labels: the calibration images' true classes, if known (a validation
    split); the choice then also keeps fp32's accuracy on them (rule 2)."""
    if calibration_labels is not None and calibration is None:
        raise ValueError("calibration_labels without calibration images: give the images they label")
    device = next(model.parameters()).device
    pairs, skipped = candidates(device, precision, calibration, compile)
    key = (_cache_key(model, device, size, batch_size, precision, calibration, compile)
           + f"|agree>={min_agreement}|answers={ANSWERS_RULE}|labels={calibration_labels is not None}")
    cached = _read_cache().get(key) if use_cache else None
    if cached is not None:
        chosen = Measurement(**cached["chosen"])
        try:
            runner = build_runner(model, chosen.runtime, chosen.precision, size=size, calibration=calibration,
                                  compile=compile, progress=progress)
        except Exception:  # the machine changed under the cache (an extra uninstalled): measure again
            pass
        else:
            measured = [Measurement(**m) for m in cached["measured"]]
            return Choice(runner, chosen, measured, f"{cached['note']} (cached {cached['when']}; "
                                                    f"optimize(..., cache=False) measures again)")

    # fp32's answers once, before any candidate changes the model's memory format.
    reference = _reference(model, calibration, calibration_labels, batch_size)
    built: dict[str, Runner] = {}
    measured: list[Measurement] = []
    for runtime, prec in _progress(pairs, progress, f"measuring runtimes for {getattr(model, 'name', 'model')}"):
        m = Measurement(runtime, prec)
        measured.append(m)
        try:
            run = build_runner(model, runtime, prec, size=size, calibration=calibration, compile=compile,
                               progress=progress)
            if reference is not None:
                reference.measure(m, _top1(run, calibration, batch_size))
            built[m.label] = run
        except Exception as exc:  # one runtime failing on one model must not stop the others
            m.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    _time_candidates(built, measured, _timing_batch(model, calibration, size, batch_size), progress)

    chosen = pick(measured, min_agreement)
    note = _explain(chosen, measured, skipped, min_agreement)
    if use_cache:
        _write_cache(key, chosen, measured, note)
    runner = built.pop(chosen.label)
    # The losers hold runtimes with their own thread pools (OpenVINO, ONNX Runtime); free them
    # now, in this process, rather than whenever the garbage collector runs (possibly in a
    # forked DataLoader worker, where those threads do not exist).
    built.clear()
    gc.collect()
    return Choice(runner, chosen, measured, note)


def candidates(device: torch.device, precision: str | None, calibration: torch.Tensor | None,
               compile: bool, caps: CpuCapabilities | None = None) -> tuple[list[tuple[str, str]], list[str]]:
    """The (runtime, precision) pairs worth measuring here, and why others are not.
    `caps`: a simulated CPU (tests); its flags then decide what the libraries' own checks
    decide on this one (bf16_candidates). int8 is a candidate with or without VNNI: without,
    it is built with its overflow fix (openvino_rt.overflow_fix), and its measured agreement
    keeps it off where it loses answers."""
    skipped: list[str] = []
    if device.type == "cuda":
        pairs = [("torch", "fp32"), ("torch", "fp16")]
        if torch.cuda.is_bf16_supported():
            pairs.append(("torch", "bf16"))
    else:
        torch_bf16, openvino_bf16 = bf16_candidates(caps)
        pairs = [("torch", "fp32")]
        if torch_bf16:
            pairs.append(("torch", "bf16"))
        pairs += _extra_pairs(skipped, openvino_bf16)
        if compile:
            pairs.append(("torch", "int8") if has_module("torchao") else None)
    pairs = [p for p in pairs if p is not None]
    if precision is not None:
        # The user's precision only; fp32 eager stays as the answer of last resort.
        pairs = [p for p in pairs if p[1] == precision or p == ("torch", "fp32")]
    images = 0 if calibration is None else len(calibration)
    if images < MIN_AGREEMENT_IMAGES:
        reduced = [p for p in pairs if p[1] != "fp32"]
        if reduced:
            why = ("no calibration images" if images == 0 else f"only {images} calibration images") + \
                  f" (reduced precision needs {MIN_AGREEMENT_IMAGES}+ to check its answers against fp32)"
            skipped.append(f"{', '.join(' '.join(p) for p in reduced)} not tried: {why}")
        pairs = [p for p in pairs if p[1] == "fp32"]
    return pairs, skipped


def bf16_candidates(caps: CpuCapabilities | None = None) -> tuple[bool, bool]:
    """(torch bf16, openvino bf16) worth measuring on this CPU, as the libraries decide:
    torch's oneDNN has bf16 kernels from AVX-512 (BW, VL, DQ: emulated bf16) up, OpenVINO's
    CPU plugin only with native bf16 (AVX-512 bf16, AMX). For a simulated CPU (`caps` given)
    the same rules read its flags; on this one the libraries are asked (a test checks the two
    agree here)."""
    if caps is not None:
        return caps.avx512_core or caps.native_bf16, caps.native_bf16
    torch_bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    openvino_bf16 = False
    if has_module("openvino"):
        from .openvino_rt import cpu_has_bf16

        openvino_bf16 = cpu_has_bf16()
    return torch_bf16, openvino_bf16


def _extra_pairs(skipped: list[str], openvino_bf16: bool) -> list[tuple[str, str] | None]:
    pairs: list[tuple[str, str] | None] = []
    if has_module("onnxruntime") and has_module("onnxscript"):
        pairs.append(("onnxruntime", "fp32"))
    else:
        skipped.append(f"onnxruntime not installed (pip install 'convzoo[{EXTRA_OF_MODULE['onnxruntime']}]')")
    if has_module("openvino"):
        pairs.append(("openvino", "fp32"))
        pairs.append(("openvino", "bf16") if openvino_bf16 else None)
        if has_module("nncf"):
            pairs.append(("openvino", "int8"))
        else:
            skipped.append("openvino int8 needs nncf (pip install 'convzoo[openvino]')")
    else:
        skipped.append(f"openvino not installed (pip install 'convzoo[{EXTRA_OF_MODULE['openvino']}]')")
    return pairs


@torch.inference_mode()
def _reference(model: nn.Module, images: torch.Tensor | None, labels: torch.Tensor | None,
               batch_size: int) -> Reference | None:
    if images is None:
        return None
    device = next(model.parameters()).device
    logits = torch.cat([model(x.to(device)).float().cpu() for x in batches(images, batch_size)])
    return Reference.of(logits, labels)


@torch.inference_mode()
def _top1(run, images: torch.Tensor | None, batch_size: int) -> torch.Tensor | None:
    if images is None:
        return None
    device = next(run.parameters()).device if isinstance(run, nn.Module) else "cpu"
    return torch.cat([run(x.to(device)).float().argmax(1).cpu() for x in batches(images, batch_size)])


def _timing_batch(model, calibration, size, batch_size) -> torch.Tensor:
    if calibration is not None:
        repeats = -(-batch_size // len(calibration))
        return calibration.repeat(repeats, 1, 1, 1)[:batch_size].contiguous()
    return torch.randn(batch_size, input_channels(model), *size, generator=torch.Generator().manual_seed(0))


def _time_candidates(built: dict[str, Runner], measured: list[Measurement], x: torch.Tensor, progress: bool) -> None:
    if progress:
        print(f"timing {len(built)} candidates ({TIMED_ROUNDS} rounds)", file=sys.stderr, flush=True)
    seconds = timed_rounds({label: functools.partial(run, x) for label, run in built.items()}, TIMED_ROUNDS,
                           min_sample_seconds=MIN_TURN_SECONDS)
    for m in measured:
        if m.label in seconds:
            m.seconds_per_batch = statistics.median(seconds[m.label])


def _explain(chosen: Measurement, measured: list[Measurement], skipped: list[str], min_agreement: float) -> str:
    eager = next((m for m in measured if m.label == "torch fp32" and m.seconds_per_batch), None)
    speedup = f", {eager.seconds_per_batch / chosen.seconds_per_batch:.1f}x eager fp32" if eager else ""
    parts = [f"chose {chosen.label}{speedup}"]
    # Under MIN_AGREEMENT_IMAGES images in all, "not tried: only N calibration images" says it already.
    if chosen.images >= MIN_AGREEMENT_IMAGES and not chosen.judged_on_confident:
        parts.append(f"only {chosen.confident_images} of {chosen.images} images have fp32 confident "
                     f"(top-1 >= {CONFIDENT:.0%}; {MIN_CONFIDENT_IMAGES}+ needed): agreement judged on all images")
    for m in measured:
        why = m.refusal(min_agreement)
        if m.error:
            parts.append(f"{m.label} {why}")
        elif why and m.seconds_per_batch is not None and m.seconds_per_batch < chosen.seconds_per_batch:
            parts.append(f"{m.label} was faster but {why}")
    return "; ".join(parts + skipped)


def format_measurements(measured: list[Measurement], chosen: Measurement | None = None) -> str:
    """The table runtime="auto" decided from, one candidate a line: agreement with fp32 on
    its confident images (and how many) and on all, accuracy beside fp32's when labelled."""
    eager = next((m.seconds_per_batch for m in measured if m.label == "torch fp32" and m.seconds_per_batch), None)
    labelled = any(m.accuracy is not None for m in measured)
    lines = [f"{'runtime':<22} {'s/batch':>8} {'x eager':>8} {'confident':>16} {'all':>7}"
             + (f" {'accuracy (fp32)':>17}" if labelled else "")]
    for m in measured:
        if m.error:
            lines.append(f"{m.label:<22} failed: {m.error}")
            continue
        ratio = f"{eager / m.seconds_per_batch:.2f}" if eager and m.seconds_per_batch else "-"
        confident = f"{m.confident_agreement:.1%} of {m.confident_images}" if m.confident_agreement is not None else "-"
        every = f"{m.agreement:.1%}" if m.agreement is not None else "-"
        accuracy = (f" {f'{m.accuracy:.1%} ({m.reference_accuracy:.1%})':>17}" if m.accuracy is not None
                    else f" {'-':>17}" if labelled else "")
        mark = "  <- chosen" if chosen is not None and m.label == chosen.label else ""
        lines.append(f"{m.label:<22} {m.seconds_per_batch or 0:>8.3f} {ratio:>8} {confident:>16} {every:>7}"
                     f"{accuracy}{mark}")
    return "\n".join(lines)


# ---- the cache of choices --------------------------------------------------------------

def machine_description() -> dict:
    versions = {"torch": torch.__version__}
    for module in ("openvino", "onnxruntime", "nncf", "torchao"):
        if has_module(module):
            from importlib.metadata import PackageNotFoundError, version

            try:
                versions[module] = version(module)
            except PackageNotFoundError:
                pass
    return {"cpu": _cpu_name(), "threads": torch.get_num_threads(), "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None, "versions": versions}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _weights_id(model: nn.Module) -> str:
    """The weights' tag, or a fingerprint of the values (a fine-tuned model is another model)."""
    spec = getattr(model, "pretrained_weights", None)
    if spec is not None:
        return spec.tag
    digest = hashlib.sha1()
    for name, p in model.state_dict().items():
        flat = p.detach().flatten()
        digest.update(name.encode())
        digest.update(flat[:: max(1, flat.numel() // 64)][:64].float().cpu().numpy().tobytes())
    return "sha1:" + digest.hexdigest()[:16]


def _cache_key(model, device, size, batch_size, precision, calibration, compile) -> str:
    machine = hashlib.sha1(json.dumps(machine_description(), sort_keys=True).encode()).hexdigest()[:12]
    enough = calibration is not None and len(calibration) >= MIN_AGREEMENT_IMAGES
    return "|".join([getattr(model, "name", None) or type(model).__name__, _weights_id(model),
                     f"{size[0]}x{size[1]}", f"batch{batch_size}", device.type, f"precision={precision or 'any'}",
                     f"calibrated={enough}", f"compile={compile}", f"machine={machine}"])


def _cache_path():
    return convzoo_home() / CACHE_FILE


def _read_cache() -> dict:
    try:
        return json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, chosen: Measurement, measured: list[Measurement], note: str) -> None:
    entries = _read_cache()
    entries[key] = {"chosen": asdict(chosen), "measured": [asdict(m) for m in measured], "note": note,
                    "machine": machine_description(),
                    "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        write_text_atomic(_cache_path(), json.dumps(entries, indent=1))
    except OSError as exc:  # a read-only home must not stop inference
        print(f"convzoo: could not remember the runtime choice in {_cache_path()}: {exc}", file=sys.stderr)


def _progress(items, show: bool, desc: str):
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, file=sys.stderr)
