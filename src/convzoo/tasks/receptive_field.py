"""Receptive fields: how many input pixels one output pixel of a layer sees
(its size) and how far apart neighbouring output pixels look (its stride,
"jump"), computed from the network's graph, not measured.

Along a chain, a layer with kernel k, dilation d and stride s turns (size r,
jump j) into (r + d(k - 1) j, j s). Where branches meet (a residual add, an
Inception concat), the output sees what its widest input sees: the largest r.
The graph is torch.fx's trace of `forward_stages` (every model traces, issue 14).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn

# What changes the receptive field: convs and pools. Everything else (norms,
# activations, adds, concats, squeeze-excite's gating) keeps the widest input's.
_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
             nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


@dataclass(frozen=True)
class ReceptiveField:
    size: int  # input pixels one output pixel sees, along one axis
    stride: int  # input pixels between neighbouring output pixels (the jump)

    def through(self, kernel: int, stride: int, dilation: int = 1) -> "ReceptiveField":
        return ReceptiveField(self.size + dilation * (kernel - 1) * self.stride, self.stride * stride)


def _first(value) -> int:
    return value[0] if isinstance(value, (tuple, list)) else value


class _StageOutputs(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_stages(x)


def stage_receptive_fields(model: nn.Module) -> list[ReceptiveField]:
    """The receptive field of each stage's output (along one spatial axis;
    the zoo's kernels are square)."""
    view = _StageOutputs(model)
    graph = fx.symbolic_trace(view).graph
    modules = dict(view.named_modules())
    fields: dict[fx.Node, ReceptiveField] = {}
    outputs = None
    for node in graph.nodes:
        inputs = [fields[a] for a in node.all_input_nodes if a in fields]
        if node.op == "placeholder":
            fields[node] = ReceptiveField(1, 1)
            continue
        if node.op == "output":
            outputs = node.args[0]
            continue
        if not inputs:
            continue  # a constant, or a shape read
        widest = max(inputs, key=lambda f: (f.size, f.stride))
        module = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, _WINDOWED):
            widest = widest.through(_first(module.kernel_size), _first(module.stride),
                                    _first(getattr(module, "dilation", 1)))
        fields[node] = widest
    return [fields[node] for node in outputs]
