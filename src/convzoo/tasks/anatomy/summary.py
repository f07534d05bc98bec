"""Architecture summaries: the model table (`convzoo list`) and one model's
anatomy and weights (`convzoo info`)."""
from __future__ import annotations

import torch

from ...factory import default_weights, get_model, get_weights, list_models, list_weights, model_info
from ..shared.text import format_count


def models_table(pattern: str = "*", pretrained: bool = False) -> list[dict]:
    """One row per model: name, family, params; GFLOPs, input size and acc@1
    at its DEFAULT weights' resolution (its own input size without weights);
    whether those weights are usable offline (packaged or already cached)."""
    rows = []
    for name in list_models(pattern, pretrained=pretrained):
        info = model_info(name)
        spec = default_weights(name)
        size = spec.preprocessing.crop_size if spec else info.input_size
        rows.append({
            "name": name,
            "family": info.family,
            "params": info.params,
            "gflops": info.gflops_at(size),
            "input": size,
            "acc1": spec.meta.get("acc1") if spec else None,
            "offline": None if spec is None else spec.local_path() is not None,
        })
    return rows


def format_models_table(rows: list[dict]) -> str:
    header = (f"{'model':<24} {'family':<18} {'params':>8} {'GFLOPs':>7} {'input':>5} {'acc@1':>6} "
              f"{'offline':>7}")
    lines = [header, "-" * len(header)]
    for r in rows:
        acc = f"{r['acc1']:.1f}" if r["acc1"] is not None else "-"
        gflops = f"{r['gflops']:.2f}" if r["gflops"] is not None else "-"
        offline = {None: "-", True: "yes", False: "no"}[r["offline"]]
        lines.append(f"{r['name']:<24} {r['family']:<18} {format_count(r['params']):>8} {gflops:>7} {r['input']:>5} "
                     f"{acc:>6} {offline:>7}")
    lines.append("offline: DEFAULT weights packaged or already in the cache (`convzoo download NAME` fetches them)")
    return "\n".join(lines)


def weights_table(name: str) -> list[dict]:
    """One row per published weights of `name`: tag, whether it is DEFAULT,
    acc@1, resolution, file size (MB, where known), licence, where it is."""
    default = default_weights(name)
    rows = []
    for tag in list_weights(name):
        if tag == "DEFAULT":
            continue
        spec = get_weights(name, tag)
        local = spec.local_path()
        size_mb = local.stat().st_size / 2**20 if local is not None else spec.meta.get("file_size_mb")
        packaged = spec.local_file is not None and spec.local_file() is not None
        rows.append({
            "tag": tag, "default": spec is default, "acc1": spec.meta.get("acc1"),
            "resolution": spec.preprocessing.crop_size, "file_size_mb": size_mb,
            "license": spec.meta.get("license", "-"),
            "where": "packaged" if packaged else "cached" if local is not None else "download",
        })
    return rows


def describe_model(name: str) -> str:
    """Paper, stage-by-stage output shapes, channels, strides and parameters,
    and one row per published weights. Shapes come from a pass on the meta
    device, so even the largest model is described at once."""
    info = model_info(name)
    with torch.device("meta"):
        model = get_model(name).eval()
        x = torch.empty(1, 3, info.input_size, info.input_size)
        with torch.no_grad():
            stem_out = model.stem(x)
            stages = model.forward_stages(x)
    size = info.input_size
    lines = [
        f"{name}  ({info.family})",
        f"paper:   {info.paper.title} ({info.paper.year}) {info.paper.url}".rstrip(),
        f"params:  {format_count(info.params)} ({info.params:,})   GFLOPs (MACs): {info.gflops:.2f} at {size}x{size}",
        "",
        f"{'part':<10} {'output shape':<22} {'channels':>8} {'stride':>6} {'params':>10}",
    ]
    stem_shape = tuple(stem_out.shape) if isinstance(stem_out, torch.Tensor) else tuple(stem_out[0].shape)
    lines.append(f"{'stem':<10} {str(stem_shape):<22} {stem_shape[1]:>8} {size // stem_shape[-1]:>6} "
                 f"{format_count(_count(model.stem)):>10}")
    for i, (out, stage_info) in enumerate(zip(stages, model.feature_info)):
        lines.append(f"{'stage ' + str(i):<10} {str(tuple(out.shape)):<22} {stage_info.channels:>8} "
                     f"{stage_info.reduction:>6} {format_count(_count(model.stages[i])):>10}")
    lines.append(f"{'head':<10} {str((1, model.num_classes)):<22} {'':>8} {'':>6} "
                 f"{format_count(_count(model.head)):>10}")
    lines.append("")
    rows = weights_table(name)
    if not rows:
        lines.append("weights: none published (load a local checkpoint)")
        return "\n".join(lines)
    lines.append(f"{'weights':<30} {'acc@1':>6} {'res':>4} {'size':>8}  {'licence':<26} where")
    for r in rows:
        tag = r["tag"] + (" (DEFAULT)" if r["default"] else "")
        acc = f"{r['acc1']:.1f}" if r["acc1"] is not None else "-"
        size_mb = f"{r['file_size_mb']:.1f}MB" if r["file_size_mb"] is not None else "-"
        lines.append(f"{tag:<30} {acc:>6} {r['resolution']:>4} {size_mb:>8}  {r['license']:<26} {r['where']}")
    return "\n".join(lines)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())
