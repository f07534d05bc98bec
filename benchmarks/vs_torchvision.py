"""Throughput of our models against torchvision's same models, in one run.

    python benchmarks/vs_torchvision.py                       # inference, batch 32
    python benchmarks/vs_torchvision.py --mode train --batch-size 16

Both models get the same weights (ours loaded from torchvision's state_dict)
and the same input. Each round times both, in alternating order (whichever
runs second in a round was seen to lose a few percent on this CPU, so the
order must not favour either); the ratio is taken within each round, so slow
drift of the machine cancels, and its median over rounds is reported with the
interquartile range. The ratio is ours / torchvision in images per second:
>= 1.0 means we are not slower.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torchvision

import convzoo as cz

DEFAULT_MODELS = ["resnet50", "mobilenet_v3_large", "efficientnet_b0"]


def _step(model, x, y, opt, mode):
    if mode == "infer":
        with torch.inference_mode():
            model(x)
    else:
        opt.zero_grad(set_to_none=True)
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.cross_entropy(out, y).backward()
        opt.step()


def _time(model, x, y, opt, mode, iters):
    start = time.perf_counter()
    for _ in range(iters):
        _step(model, x, y, opt, mode)
    if x.is_cuda:
        torch.cuda.synchronize()
    return x.shape[0] * iters / (time.perf_counter() - start)


def compare(name, mode, batch_size, size, rounds, iters, device, channels_last):
    ref = torchvision.models.get_model(name)
    ours = cz.get_model(name, weights=ref.state_dict())
    x = torch.randn(batch_size, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch_size,), device=device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    models = {"convzoo": ours, "torchvision": ref}
    opts = {}
    for key, m in models.items():
        m.to(device, memory_format=fmt).train(mode == "train")
        opts[key] = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    x = x.to(memory_format=fmt)
    for key, m in models.items():  # warm-up: allocator, oneDNN primitive caches
        _time(m, x, y, opts[key], mode, 2)
    rates = {k: [] for k in models}
    for r in range(rounds):
        for key, m in (models.items() if r % 2 == 0 else reversed(models.items())):
            rates[key].append(_time(m, x, y, opts[key], mode, iters))
        print(f"  {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    ratios = sorted(a / b for a, b in zip(rates["convzoo"], rates["torchvision"]))
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return med["convzoo"], med["torchvision"], statistics.median(ratios), q1, q3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--mode", choices=["infer", "train"], default="infer")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--iters", type=int, default=2, help="steps per timed round")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.device}, "
          f"{torch.get_num_threads()} threads, mode={args.mode}, batch={args.batch_size}, {args.size}px"
          f"{', channels_last' if args.channels_last else ''}")
    print(f"{'model':<22} {'convzoo img/s':>14} {'torchvision img/s':>18} {'ratio':>7} {'IQR':>13}")
    for name in args.models:
        ours, ref, ratio, q1, q3 = compare(name, args.mode, args.batch_size, args.size, args.rounds, args.iters,
                                           torch.device(args.device), args.channels_last)
        print(f"{name:<22} {ours:>14.1f} {ref:>18.1f} {ratio:>7.3f} {q1:>6.3f}-{q3:.3f}", flush=True)


if __name__ == "__main__":
    main()
