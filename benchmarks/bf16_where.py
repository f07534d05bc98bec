"""Where does bf16 change a model's logits? Keep one part in fp32 at a time
(the stem, each stage, the head) under torch's bf16 autocast, and see how far
the logits move from fp32 eager and how often the top-1 class changes.

    python benchmarks/bf16_where.py efficientnet_lite0 --images 200

If one part carried most of the rounding error, keeping it in fp32 would buy
back the agreement at a small cost in speed. Measured on the real Lite0
weights (issue 12's closing note), no single part does: every row stays near
the all-bf16 one, so the error builds up over the whole network.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch
from torch import nn

import convzoo as cz
from convzoo.tasks.train.depthwise import keep_in_fp32

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_images import real_images  # noqa: E402


def _parts(model: nn.Module) -> list[str]:
    """The stem, every stage, the head: the module names the anatomy gives every model."""
    return ["stem"] + [f"stages.{name}" for name, _ in model.stages.named_children()] + ["head"]


def measure(name: str, x: torch.Tensor) -> list[tuple[str, float, float, float]]:
    """(part kept in fp32, median and 99th percentile of max |logit change|, top-1 agreement) per row."""
    reference = cz.get_model(name, weights="DEFAULT").eval()
    with torch.inference_mode():
        expected = reference(x)
    rows = []
    for kept in [None] + _parts(reference):
        model = copy.deepcopy(reference)  # the same weights, without reading the checkpoint again
        if kept is not None:
            keep_in_fp32(model.get_submodule(kept))  # outside autocast, on float32 inputs
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            got = torch.cat([model(b).float() for b in x.split(50)])
        change = (got - expected).abs().max(1).values
        same = (got.argmax(1) == expected.argmax(1)).float().mean().item()
        rows.append((kept or "(none: all bf16)", change.median().item(), change.quantile(0.99).item(), same))
        print(f"  {name}: {rows[-1][0]} done", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=["efficientnet_lite0"])
    p.add_argument("--images", type=int, default=200, help="how many of tests/real_images.py's images")
    args = p.parse_args(argv)
    for name in args.models:
        transform = cz.get_weights(name).transforms()
        x = torch.stack([transform(im) for im in real_images(args.images)])
        print(f"\n{name}, {len(x)} real images\n{'kept in fp32':<18} {'max|dlogit| median':>18} {'p99':>6} "
              f"{'top-1 agree':>11}")
        for kept, median, p99, same in measure(name, x):
            print(f"{kept:<18} {median:>18.3f} {p99:>6.3f} {same:>11.2%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
