"""Every runtime/precision of convzoo.optimize for one model, in one run, as
multiples of torchvision's eager fp32 model.

    python benchmarks/runtimes.py resnet50 efficientnet_b0 --batch-size 32

All candidates get the same weights (ours loaded from torchvision's state_dict)
and the same input. Each round times torchvision eager fp32 and every
candidate, the order rotating from round to round (whichever runs later in a
round was seen to lose a few percent on this CPU); the ratio is taken within a
round, so slow drift of the machine cancels, and its median over rounds is
reported with the interquartile range. "top-1 agree" is the share of the
batch's images whose top-1 class equals eager fp32's (on random inputs: a
rough check; tests/test_optimize.py checks real photos).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torchvision

import convzoo as cz

CANDIDATES = [("torch", "fp32"), ("torch", "bf16"), ("onnxruntime", "fp32"), ("openvino", "fp32"),
              ("openvino", "bf16")]


def _rate(run, x, iters: int) -> float:
    start = time.perf_counter()
    for _ in range(iters):
        run(x)
    return x.shape[0] * iters / (time.perf_counter() - start)


def compare(name: str, batch_size: int, size: int, rounds: int, iters: int) -> list[tuple]:
    reference = torchvision.models.get_model(name).eval()
    x = torch.randn(batch_size, 3, size, size)
    with torch.inference_mode():
        expected = reference(x).argmax(1)
    runs = {"torchvision eager fp32": torch.inference_mode()(reference)}
    for runtime, precision in CANDIDATES:
        print(f"  {name}: preparing {runtime} {precision}", file=sys.stderr, flush=True)
        ours = cz.get_model(name, weights=reference.state_dict())
        runs[f"{runtime} {precision}"] = cz.optimize(ours, runtime=runtime, precision=precision, input_size=size)
    agree = {key: (run(x).argmax(1) == expected).float().mean().item() for key, run in runs.items()}
    for run in runs.values():  # warm-up: allocators, primitive caches
        _rate(run, x, 1)
    rates = {key: [] for key in runs}
    keys = list(runs)
    for r in range(rounds):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            rates[key].append(_rate(runs[key], x, iters))
        print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    rows = []
    for key in keys:
        ratios = sorted(a / b for a, b in zip(rates[key], rates["torchvision eager fp32"]))
        q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        rows.append((key, statistics.median(rates[key]), statistics.median(ratios), q1, q3, agree[key]))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=["resnet50", "efficientnet_b0"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--iters", type=int, default=2, help="batches per timed round")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, {args.size}px")
    for name in args.models:
        print(f"\n{name:<24} {'img/s':>8} {'x tv fp32':>9} {'IQR':>13} {'top-1 agree':>11}")
        for key, rate, ratio, q1, q3, agree in compare(name, args.batch_size, args.size, args.rounds, args.iters):
            print(f"{key:<24} {rate:>8.1f} {ratio:>9.2f} {q1:>6.2f}-{q3:<6.2f} {agree:>11.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
