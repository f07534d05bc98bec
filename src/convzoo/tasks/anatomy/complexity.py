"""Count a model's multiply-accumulates without running it for real.

The model is built and run on the meta device: shapes flow, no memory is
allocated and no arithmetic is done. torch's FlopCounterMode counts 2 FLOPs
per multiply-accumulate of convolutions and matrix products; we report MACs,
which is what torchvision's published "GFLOPS" figures are.
Element-wise work (activations, norms, pooling, additions) is not counted,
as in torchvision's table.
"""
from __future__ import annotations

import json
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ...factory import get_weights, list_models, list_weights, model_info
from ...registry import COMPLEXITY_TABLE
from ...utils.atomic import write_text_atomic


def count_macs(build: Callable[[], nn.Module], input_size: int | tuple[int, int], in_chans: int = 3) -> int:
    """Multiply-accumulates of one forward pass of `build()` on one image."""
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    with torch.device("meta"):
        model = build().eval()
        x = torch.empty(1, in_chans, h, w)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


# Measuring every model takes ~30 s, too slow for `convzoo list`: the figures
# are kept in a packaged table (registry.COMPLEXITY_TABLE) that the registry
# reads, written by `python -m convzoo.tasks.anatomy.complexity` and checked against
# fresh measurements by tests/tasks/anatomy/test_complexity.py.


def measured_sizes(name: str) -> list[int]:
    """The input sizes the table holds for `name`: its default one and the crop
    size of each of its published weights (regnet_y_128gf's SWAG weights: 384)."""
    sizes = {model_info(name).input_size}
    sizes.update(get_weights(name, tag).preprocessing.crop_size for tag in list_weights(name))
    return sorted(sizes)


def measure(name: str) -> dict:
    """Parameters, and GMACs at each of `measured_sizes(name)`, of registered model `name`."""
    info = model_info(name)
    with torch.device("meta"):
        params = sum(p.numel() for p in info.build().parameters())
    gflops = {str(size): round(count_macs(info.build, size) / 1e9, 6) for size in measured_sizes(name)}
    return {"params": params, "gflops": gflops}


def write_table() -> None:
    table = {}
    for name in list_models():
        table[name] = measure(name)
        sizes = "  ".join(f"{g:.3f}@{s}" for s, g in table[name]["gflops"].items())
        print(f"{name:<24} {table[name]['params']:>12,}  {sizes}", flush=True)
    write_text_atomic(COMPLEXITY_TABLE, json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_table()
