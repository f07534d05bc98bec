"""Is bf16 autocast faster than fp32 for training on this CPU, and where not?
One convolution at a time, then whole training steps, in three precisions:
fp32; bf16 autocast (every convolution bf16); and bf16 autocast with the
depthwise convolutions kept in fp32, as `convzoo train` runs bf16 on a CPU
(src/convzoo/tasks/train/depthwise.py).

    python benchmarks/depthwise_bf16.py
    python benchmarks/depthwise_bf16.py --models efficientnet_lite0 --rounds 5

- Layers: a forward and backward pass of one nn.Conv2d, channels_last, batch
  --batch-size, shapes from efficientnet_lite0 and mobilenet_v3 (depthwise 3x3
  and 5x5, pointwise 1x1) and a dense 3x3 (a ResNet's stem-side convolution).
- Steps: --models with random weights and a fresh 10-class head, channels_last,
  224 px, the stem and the stages at 1/4 resolution or finer frozen (what
  `--freeze auto` does from pretrained weights), AdamW, one step on one
  random batch.
- Timing: one untimed call per precision, then --rounds rounds, each calling
  every precision once, the order reversed every other round (drift favours
  none); the median per precision. Ratios are fp32's time over the other's
  (above 1: faster than fp32). Prints the CPU (lscpu's model name) and its
  bf16 flags.
"""
from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch
from machine import cpu_model  # benchmarks/machine.py, beside this script

import convzoo as cz
from convzoo.tasks.train.depthwise import keep_depthwise_fp32
from convzoo.tasks.train.optim import apply_freeze, auto_freeze, parse_freeze
from convzoo.utils.cpu import cpu_capabilities

PRECISIONS = ("fp32", "bf16", "bf16, depthwise fp32")
# (name, in channels, out channels, kernel, groups, side)
LAYERS = [("depthwise 3x3, 96 ch, 56 px", 96, 96, 3, 96, 56),
          ("depthwise 5x5, 144 ch, 28 px", 144, 144, 5, 144, 28),
          ("depthwise 3x3, 480 ch, 14 px", 480, 480, 3, 480, 14),
          ("pointwise 24->144, 56 px", 24, 144, 1, 1, 56),
          ("pointwise 480->80, 14 px", 480, 80, 1, 1, 14),
          ("dense 3x3 32->32, 112 px", 32, 32, 3, 1, 112)]


def timed(calls: dict, rounds: int) -> dict:
    """Median seconds per call of each entry, in alternating-order rounds after one warm-up each."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    order = list(calls)
    for r in range(rounds):
        for name in (order if r % 2 == 0 else order[::-1]):
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def layer_calls(cin, cout, kernel, groups, side, batch) -> dict:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False)
    conv = conv.to(memory_format=torch.channels_last)
    kept = torch.nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False)
    kept = kept.to(memory_format=torch.channels_last)
    keep_depthwise_fp32(kept)  # a no-op for a convolution that is not depthwise
    x = torch.randn(batch, cin, side, side).to(memory_format=torch.channels_last).requires_grad_()

    def run(module, bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = module(x)
        y.float().sum().backward()

    return {"fp32": partial(run, conv, False), "bf16": partial(run, conv, True),
            "bf16, depthwise fp32": partial(run, kept, True)}


def step_calls(model_name: str, batch: int) -> dict:
    calls = {}
    for precision in PRECISIONS:
        torch.manual_seed(0)
        model = cz.get_model(model_name, num_classes=10).to(memory_format=torch.channels_last).train()
        freeze = auto_freeze(model, pretrained=True)
        apply_freeze(model, parse_freeze(freeze, len(model.stages)), freeze)
        if precision == "bf16, depthwise fp32":
            keep_depthwise_fp32(model)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-3)
        x = torch.randn(batch, 3, 224, 224).to(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (batch,))

        def step(model=model, optimizer=optimizer, x=x, y=y, bf16=precision != "fp32"):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        calls[precision] = step
    return calls


def row(name: str, seconds: dict, unit: float, digits: int) -> str:
    fp32 = seconds["fp32"]
    cells = [f"{seconds[p] * unit:.{digits}f}" for p in PRECISIONS]
    cells += [f"{fp32 / seconds[p]:5.2f}" for p in PRECISIONS[1:]]
    return f"| {name} | " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["efficientnet_lite0", "mobilenet_v3_large"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args(argv)
    caps = cpu_capabilities()
    print(f"{cpu_model()}; native bf16: {caps.native_bf16}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; batch {args.batch_size}, channels_last, {args.rounds} rounds")
    header = ("| {} | fp32 {u} | bf16 {u} | bf16, dw fp32 {u} | fp32 / bf16 | fp32 / (bf16, dw fp32) |\n"
              "|---|---|---|---|---|---|")
    print("\nOne convolution, forward and backward\n")
    print(header.format("layer", u="ms"))
    for name, *shape in LAYERS:
        print(row(name, timed(layer_calls(*shape, args.batch_size), args.rounds), 1e3, 1), flush=True)
    print("\nA training step at 224 px (random weights, --freeze auto's stages frozen)\n")
    print(header.format("model", u="s"))
    for model_name in args.models:
        print(row(model_name, timed(step_calls(model_name, args.batch_size), args.rounds), 1.0, 3), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
