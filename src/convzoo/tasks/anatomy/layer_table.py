"""One row per layer of a network (`convzoo info NAME --layers`): its output
shape, parameters, multiply-accumulates and receptive field, in the order the
layers run, and a summary line per stage.

The network is traced with torch.fx (its inference path: `forward_stages`,
then the head on the last stage's output) and the trace is run on the meta
device: shapes flow, nothing is allocated or computed, so even the largest
model takes a moment. Receptive fields come from receptive_field.py's rule,
per node of the same trace.

A row is a module that computes something: a convolution, a linear layer, a
pooling, a norm (its own row, so a conv's parameters are the conv's), a
module the trace went into that holds parameters used bare (ConvNeXt's
LayerNorm2d and layer scale: a row named after it, MACs not counted). An
activation module that directly follows a row is folded into it
("BatchNorm2d +ReLU"); one anywhere else (after a residual add) has no
parameters, no MACs and leaves the receptive field alone: it gets no row.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from ...factory import get_model, model_info
from ...net import run_on_meta
from ..shared.text import format_count
from .receptive_field import ADAPTIVE_POOLS, CONVS, POOLS, ReceptiveField, node_receptive_fields, trace

_NOTHING = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Flatten)


@dataclass(frozen=True)
class LayerRow:
    name: str  # qualified module name, as in the state_dict ("stages.0.1.conv1")
    kind: str  # "BatchNorm2d +ReLU"
    shape: tuple[int, ...]  # output shape without the batch: (C, H, W)
    params: int
    macs: int  # multiply-accumulates of one image (convs and linears; 0 for the rest)
    field: ReceptiveField | None  # at the output; None: every value sees the whole input

    @property
    def part(self) -> str:
        """"stem", "stage 2" or "head"."""
        top = self.name.split(".")
        return f"stage {top[1]}" if top[0] == "stages" and len(top) > 1 else top[0]


@dataclass(frozen=True)
class StageRow:
    index: int
    shape: tuple[int, ...]
    field: ReceptiveField


@dataclass
class LayerTable:
    """The rows (iterating the table gives them), the stages' outputs, and
    parameters that inference never runs (Inception's auxiliary classifiers)."""

    model: str
    input_shape: tuple[int, ...]  # (C, H, W) of the image
    rows: list[LayerRow]
    stages: list[StageRow]
    not_run: dict[str, int] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def row(self, name: str) -> LayerRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"{self.model} has no layer row {name!r}")

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows) + sum(self.not_run.values())

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.rows)


class _Inference(nn.Module):
    """What the trace follows: every stage's output, and the head on the last."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        stages = self.model.forward_stages(x)
        return stages, self.model.forward_head(stages[-1])


class _Shapes(fx.Interpreter):
    def __init__(self, module: fx.GraphModule):
        super().__init__(module)
        self.shapes: dict[fx.Node, tuple[int, ...]] = {}

    def run_node(self, node: fx.Node):
        out = super().run_node(node)
        if isinstance(out, torch.Tensor):
            self.shapes[node] = tuple(out.shape)
        return out


class _RunShapes(nn.Module):
    """Runs the trace through `_Shapes` (a module, so functional_call can hand
    it meta stand-ins of the parameters)."""

    def __init__(self, traced: fx.GraphModule):
        super().__init__()
        self.traced = traced

    def forward(self, x):
        interpreter = _Shapes(self.traced)
        interpreter.run(x)
        return interpreter.shapes


def layer_table(model_or_name: str | nn.Module, input_size: int | tuple[int, ...] | None = None) -> LayerTable:
    """The per-layer table of a registered model (built on the meta device) or
    of a model instance (its tensors stay where they are), on one image of
    `input_size` (default: the model's own input size)."""
    if isinstance(model_or_name, str):
        name = model_or_name
        with torch.device("meta"):
            model = get_model(name)
    else:
        model, name = model_or_name, getattr(model_or_name, "name", None) or type(model_or_name).__name__
    if not hasattr(model, "forward_stages") or not hasattr(model, "forward_head"):
        raise ValueError(f"{name}: a layer table needs a classifier (stem -> stages -> head), "
                         "not a features_only encoder: build it without features_only")
    first = model.get_parameter(model.first_conv)  # (out, in, *kernel)
    if input_size is None:
        input_size = model_info(name).input_size if isinstance(model_or_name, str) or model.name else 224
    spatial = (input_size,) * (first.dim() - 2) if isinstance(input_size, int) else tuple(input_size)
    was_training = model.training
    model.eval()  # the inference path: no auxiliary heads, no dropout
    try:
        view = _Inference(model)
        traced = trace(view)
    finally:
        model.train(was_training)
    try:
        shapes = run_on_meta(model, _RunShapes(traced), spatial)
    except RuntimeError as exc:  # a map shrunk to nothing: torch's message is pages long
        raise ValueError(f"{name} cannot run on a {'x'.join(map(str, (first.shape[1], *spatial)))} input "
                         f"({str(exc).splitlines()[0][:120]}): use a larger input_size") from None
    modules = dict(view.named_modules())
    fields = node_receptive_fields(traced.graph, modules)
    rows, counted = _rows(traced.graph, modules, shapes, fields)
    stage_nodes = next(n for n in traced.graph.nodes if n.op == "output").args[0][0]
    stages = [StageRow(i, shapes[n][1:], fields[n]) for i, n in enumerate(stage_nodes)]
    return LayerTable(name, (first.shape[1], *spatial), rows, stages, _not_run(model, counted))


def _rows(graph, modules, shapes, fields):
    rows: list[dict] = []
    counted: set[str] = set()  # parameter names already in a row (a module called twice counts once)
    for node in graph.nodes:
        if node.op == "get_attr":
            # A parameter used bare by a module the trace went into (ConvNeXt's
            # LayerNorm2d, its blocks' layer scale): a row for its owner, shaped
            # as the operation that uses it.
            if node.target in counted or not _is_parameter(modules[""], node.target):
                continue
            counted.add(node.target)
            numel = modules[""].get_parameter(node.target).numel()
            owner, _, leaf = node.target.rpartition(".")
            if rows and rows[-1].get("owner") == owner:
                rows[-1]["params"] += numel
                continue
            kind = type(modules[owner]).__name__ + ("" if leaf in ("weight", "bias") else f" .{leaf}")
            rows.append({"node": next(iter(node.users)), "owner": owner, "name": owner.removeprefix("model."),
                         "kind": kind, "params": numel, "macs": 0})
            continue
        if node.op != "call_module":
            continue
        module = modules[node.target]
        if isinstance(module, _NOTHING):
            continue
        params = 0
        for key, p in module.named_parameters():
            qualified = f"{node.target}.{key}"
            if qualified not in counted:
                counted.add(qualified)
                params += p.numel()
        follows_row = bool(rows) and node.all_input_nodes[:1] == [rows[-1]["node"]]
        if type(module).__module__ == "torch.nn.modules.activation" and params == 0:
            if follows_row:
                rows[-1].update(node=node, kind=f"{rows[-1]['kind']} +{type(module).__name__}")
            continue  # one after an add: no parameters, no MACs, the same field; no row
        out = shapes[node]
        rows.append({"node": node, "name": node.target.removeprefix("model."), "kind": _kind(module),
                     "params": params, "macs": _macs(module, out)})
    table = [LayerRow(r["name"], r["kind"], shapes.get(r["node"], (1,))[1:], r["params"], r["macs"],
                      fields.get(r["node"])) for r in rows]
    return table, {key.removeprefix("model.") for key in counted}


def _is_parameter(root: nn.Module, target: str) -> bool:
    try:
        root.get_parameter(target)
        return True
    except AttributeError:
        return False


def _kind(module: nn.Module) -> str:
    """"Conv2d 3x3/2 dw", "MaxPool2d 3x3/2", "Linear 1280->1000"."""
    kind = type(module).__name__
    if isinstance(module, (*CONVS, *POOLS)):
        kernel = _tuple(module.kernel_size, module)
        stride = _tuple(module.stride, module)[0]
        kind = f"{kind} {'x'.join(map(str, kernel))}/{stride}"
        dilation = _tuple(getattr(module, "dilation", 1), module)[0]
        if dilation > 1:
            kind += f" d{dilation}"
        groups = getattr(module, "groups", 1)
        if groups > 1:
            kind += " dw" if groups == module.in_channels else f" g{groups}"
    elif isinstance(module, ADAPTIVE_POOLS):
        kind += f" ->{module.output_size}"
    elif isinstance(module, nn.Linear):
        kind += f" {module.in_features}->{module.out_features}"
    return kind


def _tuple(value, module) -> tuple[int, ...]:
    dims = 1 if type(module).__name__.endswith("1d") else 3 if type(module).__name__.endswith("3d") else 2
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _macs(module: nn.Module, out: tuple[int, ...]) -> int:
    """Per output value, a conv multiplies (in / groups) x kernel inputs and a
    linear layer its in_features; everything else is counted as none (as
    torchvision's table and count_macs do)."""
    values = 1
    for s in out:
        values *= s
    if isinstance(module, CONVS):
        kernel = 1
        for k in _tuple(module.kernel_size, module):
            kernel *= k
        return values * module.in_channels // module.groups * kernel
    if isinstance(module, nn.Linear):
        return values * module.in_features
    return 0


def _not_run(model: nn.Module, counted: set[str]) -> dict[str, int]:
    """Parameters outside the inference path, by the module that holds them
    ("aux_heads.Mixed_6e")."""
    missing: dict[str, int] = {}
    for key, p in model.named_parameters():
        if key not in counted:
            owner = ".".join(key.split(".")[:2])
            missing[owner] = missing.get(owner, 0) + p.numel()
    return missing


# ---- printing ------------------------------------------------------------------
def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _field(f: ReceptiveField | None) -> tuple[str, str]:
    return ("all", "-") if f is None else (str(f.size), str(f.stride))


def format_layer_table(table: LayerTable) -> str:
    """Aligned columns, K/M/G counts, the stem, each stage and the head under a
    heading of their own, then one summary line per stage."""
    width = max([len(r.name) for r in table.rows] + [5])
    kind_width = max([len(r.kind) for r in table.rows] + [4])
    header = (f"{'layer':<{width}}  {'type':<{kind_width}}  {'output':<14} {'params':>8} {'MACs':>8} "
              f"{'RF':>5} {'jump':>5}")
    lines = [f"{table.model} on a {_shape(table.input_shape)} input: {format_count(table.params)} parameters, "
             f"{format_count(table.macs)} MACs (convs and linears)",
             "RF: receptive field at the layer's output, in input pixels along one side "
             "(all: after global pooling); jump: input pixels between neighbouring outputs", "", header,
             "-" * len(header)]
    part = None
    for r in table.rows:
        if r.part != part:
            part = r.part
            lines.append(f"[{part}]")
        size, jump = _field(r.field)
        lines.append(f"{r.name:<{width}}  {r.kind:<{kind_width}}  {_shape(r.shape):<14} {format_count(r.params):>8} "
                     f"{format_count(r.macs):>8} {size:>5} {jump:>5}")
    for owner, count in table.not_run.items():
        lines.append(f"{owner:<{width}}  {'(not run at inference)':<{kind_width}}  {'':<14} {format_count(count):>8}")
    lines += ["", "stages:"]
    for s in table.stages:
        lines.append(f"stage {s.index}  output {_shape(s.shape):<14} receptive field {s.field.size} px, "
                     f"stride {s.field.stride}")
    return "\n".join(lines)


def layer_table_csv(table: LayerTable) -> str:
    """The rows as CSV, exact counts (the stage summary is in the text version)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["layer", "part", "type", "output", "params", "macs", "rf_size", "rf_stride"])
    for r in table.rows:
        size, jump = ("", "") if r.field is None else (r.field.size, r.field.stride)
        writer.writerow([r.name, r.part, r.kind, _shape(r.shape), r.params, r.macs, size, jump])
    return buffer.getvalue()
