"""Trained-model checkpoints: weights in safetensors plus a JSON sidecar that
carries what is needed to use them (model name, class names, preprocessing).

    best.safetensors + best.json      the best validation epoch
    last.safetensors + last.json      the latest epoch
    last.state.pt                     optimizer/scheduler/EMA/RNG state, for --resume

All are written atomically (utils.atomic): a killed run leaves the previous
complete files, never a torn one.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..data.preprocessing import Preprocessing
from ..factory import get_model
from ..utils.atomic import atomic_path, write_text_atomic


def save_checkpoint(out_dir: Path, stem: str, model: nn.Module, meta: dict) -> Path:
    from safetensors.torch import save_file

    weights_path = Path(out_dir) / f"{stem}.safetensors"
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights_path) as tmp:
        save_file(state, str(tmp))
    write_text_atomic(weights_path.with_suffix(".json"), json.dumps(meta, indent=2))
    return weights_path


def save_training_state(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_sidecar(checkpoint: str | Path) -> dict:
    path = Path(checkpoint)
    sidecar = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not sidecar.is_file():
        raise FileNotFoundError(f"{path} has no sidecar {sidecar.name} (model name, classes, preprocessing): "
                                f"use a checkpoint written by `convzoo train`, or load it with get_model(name, weights=PATH)")
    return json.loads(sidecar.read_text())


def load_checkpoint(checkpoint: str | Path) -> tuple[nn.Module, dict]:
    """Model (eval mode) and sidecar metadata of a `convzoo train` checkpoint."""
    meta = read_sidecar(checkpoint)
    model = get_model(meta["model"], weights=str(checkpoint), num_classes=len(meta["classes"]),
                      in_chans=meta.get("in_chans", 3))
    return model.eval(), meta


def preprocessing_of(meta: dict) -> Preprocessing:
    return Preprocessing.from_dict(meta["preprocessing"])
