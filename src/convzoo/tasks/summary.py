"""Architecture summaries: the model table and one model's anatomy."""
from __future__ import annotations

import torch

from ..factory import default_acc1, get_model, list_models, list_weights, model_info


def _fmt_params(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def models_table(pattern: str = "*", pretrained: bool = False) -> list[dict]:
    """One row per model: name, family, params, GFLOPs, acc@1 of its default weights."""

    rows = []
    for name in list_models(pattern, pretrained=pretrained):
        info = model_info(name)
        rows.append({
            "name": name,
            "family": info.family,
            "params": info.params,
            "gflops": info.gflops,
            "input": info.input_size,
            "acc1": default_acc1(name),
        })
    return rows


def format_models_table(rows: list[dict]) -> str:
    header = f"{'model':<24} {'family':<18} {'params':>8} {'GFLOPs':>7} {'input':>5} {'acc@1':>6}"
    lines = [header, "-" * len(header)]
    for r in rows:
        acc = f"{r['acc1']:.1f}" if r["acc1"] is not None else "-"
        lines.append(
            f"{r['name']:<24} {r['family']:<18} {_fmt_params(r['params']):>8} {r['gflops']:>7.2f} {r['input']:>5} {acc:>6}"
        )
    return "\n".join(lines)


def describe_model(name: str) -> str:
    """Paper, stage-by-stage output shapes, channels, strides and parameters."""

    info = model_info(name)
    model = get_model(name).eval()
    size = info.input_size
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        stem_out = model.stem(x)
        stages = model.forward_stages(x)
    lines = [
        f"{name}  ({info.family})",
        f"paper:   {info.paper.title} ({info.paper.year}) {info.paper.url}".rstrip(),
        f"params:  {info.params:,}   GFLOPs (MACs): {info.gflops:.2f} at {size}x{size}",
        "",
        f"{'part':<10} {'output shape':<22} {'channels':>8} {'stride':>6} {'params':>10}",
    ]
    stem_shape = tuple(stem_out.shape) if isinstance(stem_out, torch.Tensor) else tuple(stem_out[0].shape)
    lines.append(f"{'stem':<10} {str(stem_shape):<22} {stem_shape[1]:>8} {size // stem_shape[-1]:>6} "
                 f"{_fmt_params(_count(model.stem)):>10}")
    for i, (out, stage_info) in enumerate(zip(stages, model.feature_info)):
        lines.append(f"{'stage ' + str(i):<10} {str(tuple(out.shape)):<22} {stage_info.channels:>8} "
                     f"{stage_info.reduction:>6} {_fmt_params(_count(model.stages[i])):>10}")
    lines.append(f"{'head':<10} {str((1, model.num_classes)):<22} {'':>8} {'':>6} {_fmt_params(_count(model.head)):>10}")
    weights = list_weights(name)
    lines += ["", "weights: " + (", ".join(weights) if weights else "none published (load a local checkpoint)")]
    return "\n".join(lines)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())
