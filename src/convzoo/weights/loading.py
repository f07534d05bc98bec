"""Load a checkpoint into a model, whatever its key layout.

The layout is detected, not declared: the convzoo layout and every converter
registered for the model's family are tried, and the one whose keys fit the
model exactly wins. When none fits, the error names the missing and
unexpected keys of the closest one.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .convert import StateDict, converters_for

_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")


class WeightsMismatchError(RuntimeError):
    """A checkpoint does not fit the model it is loaded into."""


def read_checkpoint(path: str | os.PathLike) -> StateDict:
    """Read a .pth/.pt/.bin or .safetensors file into a flat state_dict.

    Common wrappers are unwrapped: {"state_dict": ...}, {"model": ...}, and the
    "module." prefix that DataParallel/DDP add.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: say which one
        raise WeightsMismatchError(f"cannot read weights file {path}: {exc}") from exc
    return unwrap_state_dict(obj, source=str(path))


def unwrap_state_dict(obj, source: str = "checkpoint") -> StateDict:
    while isinstance(obj, dict) and not _is_flat_state_dict(obj):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise WeightsMismatchError(
                f"{source} holds no state_dict (top-level keys: {', '.join(list(obj)[:8])})"
            )
        obj = inner
    if not isinstance(obj, dict):
        raise WeightsMismatchError(f"{source} is a {type(obj).__name__}, not a state_dict")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _fill_batch_counters(state_dict: StateDict) -> StateDict:
    """Checkpoints from before PyTorch 0.4 have no BatchNorm `num_batches_tracked`
    counters; PyTorch's own loading starts them at 0, and so do we."""
    out = dict(state_dict)
    for key in state_dict:
        if key.endswith(".running_var"):
            out.setdefault(key[: -len("running_var")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return out


def _is_flat_state_dict(obj: dict) -> bool:
    return bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _candidates(model: nn.Module, state_dict: StateDict, failures: list[str]):
    """(layout, converted state_dict) for our own layout and each converter of
    the model's family. A converter that raises is recorded in `failures`
    (reported if nothing fits), not taken for "not this layout" in silence."""
    yield "convzoo", dict(state_dict)
    for layout, convert in converters_for(getattr(model, "family", None)).items():
        try:
            yield layout, convert(dict(state_dict))
        except Exception as exc:  # noqa: BLE001 - any converter bug is reported with its layout
            failures.append(f"converter {layout!r} raised {type(exc).__name__}: {exc}")


def _classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Key prefixes of the classifier weights (several for models with auxiliary heads)."""
    return tuple(getattr(model, "classifier_prefixes", ("head.fc.",)))


def load_weights(
    model: nn.Module,
    state_dict_or_path,
    *,
    strict: bool = True,
    allow_new_classifier: bool = False,
) -> nn.Module:
    """Load weights into `model` from a state_dict or a checkpoint path.

    strict: every key must fit (names and shapes), else WeightsMismatchError
    naming the missing, unexpected and mis-shaped keys.
    allow_new_classifier: the checkpoint's classifier is skipped when its shape
    does not fit (a model built with another `num_classes`).
    RGB weights for the first conv are adapted when the model has in_chans != 3.
    """
    if isinstance(state_dict_or_path, (str, os.PathLike)):
        state_dict = read_checkpoint(state_dict_or_path)
    else:
        state_dict = unwrap_state_dict(state_dict_or_path)

    expected = model.state_dict()
    state_dict = _fill_batch_counters(state_dict)
    layout, converted, missing, unexpected, failures = closest_layout(model, state_dict)

    converted = _adapt_input_conv(model, converted)
    mis_shaped = [
        k for k in converted if k in expected and converted[k].shape != expected[k].shape
    ]
    if allow_new_classifier:
        # The model was built with its own num_classes: the checkpoint's
        # classifier (other shape, or none wanted: num_classes=0) is skipped.
        prefixes = _classifier_prefixes(model)
        skipped = [k for k in [*mis_shaped, *unexpected] if k.startswith(prefixes)]
        for k in skipped:
            del converted[k]
        mis_shaped = [k for k in mis_shaped if k not in skipped]
        unexpected = [k for k in unexpected if k not in skipped]

    if strict and (missing or unexpected or mis_shaped):
        raise WeightsMismatchError(_mismatch_message(model, layout, missing, unexpected, mis_shaped, converted, expected,
                                                    failures))
    for k in mis_shaped:
        del converted[k]
    model.load_state_dict(converted, strict=False)
    return model


def closest_layout(model: nn.Module, state_dict: StateDict):
    """(layout, state_dict in our key names, missing keys, unexpected keys,
    converter failures) for the key layout that fits `model` best: ours or one
    of its family's converters. Shapes are not compared here."""
    expected = model.state_dict()
    best, failures = None, []
    for layout, converted in _candidates(model, state_dict, failures):
        missing = sorted(set(expected) - set(converted))
        unexpected = sorted(set(converted) - set(expected))
        score = len(missing) + len(unexpected)
        if best is None or score < best[0]:
            best = (score, layout, converted, missing, unexpected)
        if score == 0:
            break
    _, layout, converted, missing, unexpected = best
    return layout, converted, missing, unexpected, failures


def _mismatch_message(model, layout, missing, unexpected, mis_shaped, got, expected, failures) -> str:
    def some(keys):
        return ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")

    name = getattr(model, "name", None) or type(model).__name__
    parts = [f"weights do not fit {name} (closest key layout: {layout})"]
    if missing:
        parts.append(f"missing keys: {some(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {some(unexpected)}")
    if mis_shaped:
        shapes = [f"{k} {tuple(got[k].shape)} vs {tuple(expected[k].shape)}" for k in mis_shaped]
        parts.append(f"wrong shapes: {some(shapes)}")
    parts.extend(failures)
    parts.append("check the model name, or pass strict=False to load what fits")
    return "; ".join(parts)


def _adapt_input_conv(model: nn.Module, state_dict: StateDict) -> StateDict:
    """Fit RGB first-conv weights to a model with another number of input channels.

    1 channel: sum over RGB (a grey image is R = G = B, so the response to it is
    unchanged). Other counts: repeat the RGB filters cyclically and rescale by
    3 / in_chans so the activation magnitude stays the same.
    """
    key = getattr(model, "first_conv", None)
    if key is None or key not in state_dict:
        return state_dict
    target = model.state_dict()[key]
    weight = state_dict[key]
    # Any conv rank (a 1D/3D model's first conv too), once kernels match.
    if weight.ndim != target.ndim or weight.ndim < 3 or weight.shape[1] == target.shape[1] or weight.shape[1] != 3:
        return state_dict
    in_chans = target.shape[1]
    if in_chans == 1:
        adapted = weight.sum(dim=1, keepdim=True)
    else:
        repeats = -(-in_chans // 3)
        adapted = weight.repeat(1, repeats, *[1] * (weight.ndim - 2))[:, :in_chans] * (3 / in_chans)
    return {**state_dict, key: adapted.to(weight.dtype)}


def is_checkpoint_path(weights) -> bool:
    """A `weights=` argument naming a local file (as opposed to a published tag)."""
    if isinstance(weights, os.PathLike):
        return True
    path = Path(str(weights)).expanduser()
    return path.suffix in (".pth", ".pt", ".bin", ".safetensors", ".ckpt") or path.exists()
