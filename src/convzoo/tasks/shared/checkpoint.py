"""Trained-model checkpoints: weights in safetensors plus a JSON sidecar that
carries what is needed to use them (model name, class names, preprocessing).

    best.safetensors + best.json      the best validation epoch
    last.safetensors + last.json      the latest epoch
    last.state.pt                     model/optimizer/scheduler/EMA state and history, for --resume

All are written atomically (utils.atomic): a killed run leaves the previous
complete files, never a torn one. The training state holds only tensors and
plain Python values (dicts, lists, numbers, strings), so --resume loads it with
`torch.load(weights_only=True)`: a crafted file cannot run code (a full
unpickle would call whatever a `__reduce__` names).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from torch import nn

from ...data.preprocessing import Preprocessing
from ...factory import get_model
from ...utils.atomic import atomic_path, write_text_atomic


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


def load_training_state(path: str | Path) -> dict:
    """The state `save_training_state` wrote, loaded without running code.

    A file holding anything but tensors and plain values (a pickled object
    whose `__reduce__` would run code, or just not a state file) is refused
    with one line; nothing in it is executed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--resume {path}: no such file; pass the OUT/last.state.pt of the run to resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  torch raises UnpicklingError, RuntimeError, KeyError... for bad files
        # (torch's own message advises weights_only=False: exactly what must not be done here.)
        unsafe = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if unsafe:
            raise ValueError(f"--resume {path}: refused: it names {unsafe.group(1)}, which unpickling would run; a "
                             f"training state holds only tensors and plain values, so resume only from the "
                             f"last.state.pt that `convzoo train` wrote") from None
        raise ValueError(f"--resume {path}: unreadable as a training state ({type(exc).__name__}); "
                         f"resume only from the last.state.pt that `convzoo train` wrote") from None
    missing = sorted(RESUME_KEYS - set(state)) if isinstance(state, dict) else sorted(RESUME_KEYS)
    if missing:
        raise ValueError(f"--resume {path}: not a convzoo training state (missing {', '.join(missing)}); "
                         f"resume only from the last.state.pt that `convzoo train` wrote")
    return state


RESUME_KEYS = frozenset({"epoch", "model", "optimizer", "scheduler", "history"})


def read_sidecar(checkpoint: str | Path) -> dict:
    path = Path(checkpoint)
    sidecar = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not sidecar.is_file():
        raise FileNotFoundError(f"{path} has no sidecar {sidecar.name} (model name, classes, preprocessing): "
                                f"use a checkpoint written by `convzoo train`, or load it with get_model(name, weights=PATH)")
    return json.loads(sidecar.read_text())


class NotAClassifierCheckpoint(ValueError):
    """A file that is not a `convzoo train` checkpoint of a classifier; the message says why,
    in a few words ("it has no sidecar best.json"), for the caller to put in its own line."""


def read_classifier_sidecar(checkpoint: str | Path) -> dict:
    """The sidecar of a `convzoo train` classifier checkpoint, checked: what serve and push
    need to load and describe it. FileNotFoundError when the weights file is missing;
    NotAClassifierCheckpoint when it has no readable sidecar, is not a classifier's, or lacks
    the model, its classes or its preprocessing."""
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise NotAClassifierCheckpoint(f"it has no sidecar {sidecar.name}")
    try:
        meta = json.loads(sidecar.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAClassifierCheckpoint(f"its sidecar {sidecar.name} is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise NotAClassifierCheckpoint(f"its sidecar {sidecar.name} is not JSON (not an object)")
    if meta.get("task", "classification") != "classification":
        raise NotAClassifierCheckpoint(f"it is a {meta['task']} checkpoint")
    missing = [key for key in ("model", "classes", "preprocessing") if key not in meta]
    if missing:
        raise NotAClassifierCheckpoint(f"its sidecar {sidecar.name} has no {', '.join(missing)}")
    return meta


def update_sidecar(checkpoint: str | Path, changes: dict) -> dict:
    """The checkpoint's sidecar with `changes` merged in, written back atomically:
    a kill mid-write leaves the old sidecar whole, and the weights are not touched
    (`convzoo calibrate` adds its "decision" this way). Returns the new sidecar."""
    meta = {**read_sidecar(checkpoint), **changes}
    write_text_atomic(Path(checkpoint).with_suffix(".json"), json.dumps(meta, indent=2))
    return meta


def calibrated_checkpoints(out_dir: str | Path) -> set[str]:
    """The checkpoints ("best", "last") in `out_dir` whose sidecar holds a decision rule
    `convzoo calibrate` fitted: a resumed run that replaces their weights voids it."""
    found = set()
    for stem in ("best", "last"):
        try:
            if "decision" in read_sidecar(Path(out_dir) / f"{stem}.safetensors"):
                found.add(stem)
        except (OSError, ValueError):  # none yet, or unreadable: nothing to void
            pass
    return found


def load_checkpoint(checkpoint: str | Path) -> tuple[nn.Module, dict]:
    """Model (eval mode) and sidecar metadata of a `convzoo train` checkpoint."""
    meta = read_sidecar(checkpoint)
    model = get_model(meta["model"], weights=str(checkpoint), num_classes=len(meta["classes"]),
                      in_chans=meta.get("in_chans", 3))
    return model.eval(), meta


def preprocessing_of(meta: dict) -> Preprocessing:
    return Preprocessing.from_dict(meta["preprocessing"])
