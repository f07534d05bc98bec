"""Receptive fields: how many input pixels one output pixel of a layer sees
(its size) and how far apart neighbouring output pixels look (its stride,
"jump"), computed from the network's graph, not measured.

Along a chain, a layer with kernel k, dilation d and stride s turns (size r,
jump j) into (r + d(k - 1) j, j s). Where branches meet (a residual add, an
Inception concat), the output sees what its widest input sees: the largest r.
The graph is torch.fx's trace of `forward_stages` (every model traces, issue 14);
`node_receptive_fields` gives every node's field (tasks/layer_table.py reads it
per layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

# What changes the receptive field: convs and pools. Everything else (norms,
# activations, adds, concats, squeeze-excite's gating) keeps the widest input's.
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
ADAPTIVE_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                  nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_WINDOWED = CONVS + POOLS
_POOL_FUNCTIONS = (F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)


@dataclass(frozen=True)
class ReceptiveField:
    size: int  # input pixels one output pixel sees, along one axis
    stride: int  # input pixels between neighbouring output pixels (the jump)

    def through(self, kernel: int, stride: int, dilation: int = 1) -> "ReceptiveField":
        return ReceptiveField(self.size + dilation * (kernel - 1) * self.stride, self.stride * stride)


class LayerTracer(fx.Tracer):
    """torch.fx's tracer, keeping every conv, pool and linear layer as one node,
    subclasses included (layers.padding.Conv2dSame, TF's "same" padding: the
    plain tracer would go inside it and record a bare F.conv2d, whose kernel
    it no longer knows)."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, (*_WINDOWED, nn.Linear)) or super().is_leaf_module(module, qualified_name)


def trace(module: nn.Module) -> fx.GraphModule:
    return fx.GraphModule(module, LayerTracer().trace(module))


def _window(node: fx.Node, modules: dict[str, nn.Module]) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) of a conv or pool node, module or function
    (NASNet's pools are F.max_pool2d / F.avg_pool2d calls); None for the rest."""
    if node.op == "call_module":
        module = modules.get(node.target)
        if isinstance(module, _WINDOWED):
            return (_first(module.kernel_size), _first(module.stride), _first(getattr(module, "dilation", 1)))
        return None
    if node.op == "call_function" and node.target in _POOL_FUNCTIONS:
        kernel = node.args[1] if len(node.args) > 1 else node.kwargs["kernel_size"]
        stride = node.args[2] if len(node.args) > 2 else node.kwargs.get("stride") or kernel  # torch's default
        return (_first(kernel), _first(stride), 1)
    return None


def _first(value) -> int:
    return value[0] if isinstance(value, (tuple, list)) else value


class _StageOutputs(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.forward_stages(x)


def node_receptive_fields(graph: fx.Graph, modules: dict[str, nn.Module]) -> dict[fx.Node, ReceptiveField | None]:
    """The receptive field of every node of a traced graph (`modules`: the
    traced module's `named_modules()`). None marks what sees the whole input
    (after a global pooling: a head's classifier, squeeze-excite's gate
    branch); where such a branch meets a spatial one, the spatial one's field
    is kept, as for any other merge. Nodes that depend on no input (constants,
    parameters) are left out."""
    fields: dict[fx.Node, ReceptiveField | None] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            fields[node] = ReceptiveField(1, 1)
            continue
        if node.op == "output":
            continue
        inputs = [fields[a] for a in node.all_input_nodes if a in fields]
        if not inputs:
            continue  # a constant, or a shape read
        spatial = [f for f in inputs if f is not None]
        if not spatial or _is_global(node, modules):
            fields[node] = None
            continue
        widest = max(spatial, key=lambda f: (f.size, f.stride))
        window = _window(node, modules)
        fields[node] = widest.through(*window) if window else widest
    return fields


def _is_global(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """A pooling to one value per channel (or a flatten, which a classifier
    follows): from here on every value depends on every input pixel.
    (AlexNet's and VGG's 6x6 / 7x7 adaptive pools are not: at their input
    size they change nothing.)"""
    if node.op == "call_module":
        module = modules.get(node.target)
        if isinstance(module, ADAPTIVE_POOLS):
            size = module.output_size
            return all(s == 1 for s in (size if isinstance(size, (tuple, list)) else (size,)))
        return isinstance(module, nn.Flatten)
    if node.op == "call_method":
        return node.target in ("mean", "amax", "flatten")
    return node.op == "call_function" and node.target in (torch.mean, torch.flatten, torch.amax)


def stage_receptive_fields(model: nn.Module) -> list[ReceptiveField]:
    """The receptive field of each stage's output (along one spatial axis;
    the zoo's kernels are square)."""
    view = _StageOutputs(model)
    graph = trace(view).graph
    fields = node_receptive_fields(graph, dict(view.named_modules()))
    outputs = next(node for node in graph.nodes if node.op == "output").args[0]
    return [fields[node] for node in outputs]
