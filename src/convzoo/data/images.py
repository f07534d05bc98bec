"""Turn whatever a user hands us (paths, PIL images, arrays, tensors) into RGB images.

Errors name the file and the reason ("truncated", "not an image"), because the
user has to find and fix that one file among thousands.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageError(ValueError):
    """An input that cannot be used as an image; `source` names it."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Paths as given, with each directory replaced by the files in it (sorted,
    recursively, hidden files left out). A missing path is kept: loading it
    reports it like any other bad input."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)))
        else:
            out.append(path)
    return out


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file as RGB (so truncation is caught here)."""
    path = Path(path)
    if not path.exists():
        raise ImageError(str(path), "no such file")
    if path.is_dir():
        raise ImageError(str(path), "is a directory")
    try:
        with Image.open(path) as img:
            img.load()
            return _rgb(img)
    except UnidentifiedImageError:
        raise ImageError(str(path), "not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports truncation as OSError
        raise ImageError(str(path), f"damaged image: {exc}") from None


def _rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparency on white, as viewers show it, rather than on black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey (medical, microscopy)
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        return Image.fromarray((arr * (255.0 / hi)).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def to_pil_rgb(image, source: str = "image") -> Image.Image:
    """A path, PIL image, numpy array (HW, HWC; uint8 or float in [0, 1]) or
    torch tensor (HW, CHW; uint8 or float in [0, 1]) -> an RGB PIL image."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image)
    if isinstance(image, Image.Image):
        return _rgb(image)
    try:
        import torch

        if isinstance(image, torch.Tensor):
            t = image.detach().cpu()
            if t.ndim == 3:
                t = t.permute(1, 2, 0)  # CHW -> HWC
            image = t.numpy()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(image, np.ndarray):
        return _rgb(Image.fromarray(_to_uint8(image, source)))
    raise ImageError(source, f"cannot use a {type(image).__name__} as an image (give a path, PIL image, array or tensor)")


def _to_uint8(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ImageError(source, f"array of shape {arr.shape} is not an image (HW, HWC or CHW with 1, 3 or 4 channels)")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise ImageError(source, f"array of dtype {arr.dtype}: use uint8 (0-255) or float (0-1)")
