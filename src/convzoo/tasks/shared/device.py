"""Which device a job runs on: every command's --device means the same."""
from __future__ import annotations

import torch


def resolve_device(device: str = "auto") -> torch.device:
    """auto (a GPU where there is one, else the CPU), cpu, cuda or cuda:N."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here: use --device cpu")
    return torch.device(device)
