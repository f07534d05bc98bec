"""Turn whatever a user hands us (paths, PIL images, arrays, tensors) into RGB images.

Errors name the file and the reason ("truncated", "not an image", "too large"),
because the user has to find and fix that one file among thousands.

Files are decoded as image viewers show them: EXIF orientation applied (a phone
photo stored sideways is classified upright), transparency on white.
"""
from __future__ import annotations

import functools
import io
import os
import threading
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Images larger than this (width x height) are refused before decoding: a
# 15000x13000 scan would take gigabytes once decoded. 0 or None = no limit.
DEFAULT_MAX_PIXELS = 150_000_000


class ImageError(ValueError):
    """An input that cannot be used as an image; `source` names it."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Paths as given, with each directory replaced by the image files in it
    (sorted, recursively; hidden files and files whose extension is not an
    image format, such as a README.md, left out silently). A path named
    explicitly is kept whatever it is: a missing or non-image file is reported
    when loaded, like any other bad input."""
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*")
                              if p.is_file() and is_image_name(p) and not _hidden(p, path)))
        else:
            out.append(path)
    return out


def is_image_name(path: str | os.PathLike) -> bool:
    """Whether the file's extension is one PIL can open (.jpg, .png, .webp, ...)."""
    return Path(path).suffix.lower() in _readable_extensions()


@functools.lru_cache(maxsize=1)
def _readable_extensions() -> frozenset[str]:
    # registered_extensions() also lists save-only formats (.pdf): keep those PIL can open.
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def load_image(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file as RGB (so truncation is caught here),
    EXIF orientation applied; larger than `max_pixels` (0/None: no limit) is an error."""
    path = Path(path)
    if not path.exists():
        raise ImageError(str(path), "no such file")
    if path.is_dir():
        raise ImageError(str(path), "is a directory")
    return decode_image(path, str(path), max_pixels)


def load_image_bytes(data: bytes, source: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """`load_image` for an encoded image held in memory (a download, stdin)."""
    if not data:
        raise ImageError(source, "empty (0 bytes)")
    return decode_image(io.BytesIO(data), source, max_pixels)


def decode_image(fp: Path | IO[bytes], source: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode as RGB, as a viewer shows it, refusing images over `max_pixels`.

    Our limit is per image and checked on the header's size, before anything
    is decoded. PIL has its own, a module global (Image.MAX_IMAGE_PIXELS): it
    warns above it and, above twice it, raises DecompressionBombError, a bare
    Exception that used to end the whole run. We leave that global alone unless
    asked for more than PIL allows (or no limit), and then lift it only while
    this image is decoded, under a lock, and restore it."""
    limit = max_pixels or None
    pil_limit = Image.MAX_IMAGE_PIXELS
    lift = pil_limit is not None and (limit is None or limit >= 2 * pil_limit)
    try:
        with warnings.catch_warnings(), (_pil_limit_lifted() if lift else nullcontext()):
            # Our limit replaces PIL's warning for images between its two thresholds.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fp) as img:
                width, height = img.size
                if limit and width * height > limit:
                    raise ImageError(source, _too_large(f"{width}x{height} = {width * height:,} pixels", limit))
                img.load()
                ImageOps.exif_transpose(img, in_place=True)
                return _rgb(img)
    except Image.DecompressionBombError:  # over twice PIL's limit, so over ours too
        raise ImageError(source, _too_large(f"more than {2 * pil_limit:,} pixels", limit)) from None
    except UnidentifiedImageError:
        raise ImageError(source, "not an image file (or an unsupported format)") from None
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # PIL reports truncation as OSError
        raise ImageError(source, f"damaged image: {exc}") from None


def _too_large(size: str, limit: int) -> str:
    return (f"too large: {size}, over the limit of {limit:,} (a decompression bomb, or a huge scan); "
            f"downscale it, or raise --max-pixels (0 = no limit)")


_PIL_LIMIT_LOCK = threading.Lock()


@contextmanager
def _pil_limit_lifted():
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


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


def to_pil_rgb(image, source: str = "image", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """A path, PIL image, numpy array (HW, HWC; uint8 or float in [0, 1]) or
    torch tensor (HW, CHW; uint8 or float in [0, 1]) -> an RGB PIL image.
    Only files get `max_pixels` and EXIF orientation: what is already in memory
    is taken as the caller has it."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, max_pixels)
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
