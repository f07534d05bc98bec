"""Where a classifier looked: Grad-CAM (Selvaraju et al., 2017), computed by
torchcam (the optional `[explain]` extra), not by hand.

Grad-CAM weighs the last stage's channels by the gradient of the class score
averaged over the map, sums them and keeps the positive part: a coarse map
(1/32 of the input) of the pixels that raised that class's score. The image is
resized (shorter side to the weights' crop size) but not cropped, so the map
covers the whole picture; it is then enlarged to the picture's own size.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image

from ...data.images import load_image
from ...factory import default_preprocessing, get_model
from ...utils.atomic import atomic_path

TORCHCAM_MISSING = "convzoo explain needs torchcam: pip install 'convzoo[explain]'"


def require_torchcam():
    try:
        from torchcam import methods
    except ImportError:
        raise ValueError(TORCHCAM_MISSING) from None
    return methods


@dataclass
class Explanation:
    """The class explained and its heat map: `heatmap[y, x]` in [0, 1], the
    size of the image (height, width)."""

    image: Image.Image
    heatmap: np.ndarray
    class_index: int
    label: str
    probability: float
    model: str

    def overlay(self, alpha: float = 0.5) -> Image.Image:
        """The heat map over the image (matplotlib's "jet": blue cold, red hot)."""
        from matplotlib import colormaps

        colours = (colormaps["jet"](self.heatmap)[..., :3] * 255).astype(np.uint8)
        return Image.blend(self.image.convert("RGB"), Image.fromarray(colours), alpha)

    def save(self, path: str | Path) -> Path:
        """Write the overlay as a PNG, atomically (never a half-written file)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            self.overlay().save(tmp, format="PNG")
        return path


def explain(image, model: str = "efficientnet_lite0", weights: str | dict | None = "DEFAULT",
            class_index: int | None = None) -> Explanation:
    """Grad-CAM of `model`'s top class (or `class_index`) on `image` (a path or a PIL image),
    taken at the output of its last stage."""
    require_torchcam()
    picture = load_image(image) if not isinstance(image, Image.Image) else image
    net = get_model(model, weights=weights).eval()
    preprocessing = net.pretrained_weights.preprocessing if net.pretrained_weights else default_preprocessing(model)
    categories = net.pretrained_weights.categories if net.pretrained_weights else None
    return grad_cam(net, picture, preprocessing, categories, class_index, model_name=model)


def grad_cam(net, picture: Image.Image, preprocessing, categories=None, class_index: int | None = None,
             model_name: str = "") -> Explanation:
    """`explain` for a model already built (the web server keeps its models loaded):
    `preprocessing` is its weights' Preprocessing, `categories` its class names."""
    methods = require_torchcam()
    x = preprocessing.transforms(whole_image=True)(picture.convert("RGB"))[None]
    x = x.to(next(net.parameters()).device)
    target = f"stages.{len(net.stages) - 1}"
    with methods.GradCAM(net, target_layer=target, input_shape=tuple(x.shape[1:])) as cam:
        scores = net(x)
        probabilities = scores.softmax(1)[0]
        index = int(probabilities.argmax()) if class_index is None else class_index
        coarse = cam(index, scores)[0]
    probability = float(probabilities[index].detach())
    heatmap = F.interpolate(coarse.detach()[None].float(), size=(picture.height, picture.width), mode="bilinear",
                            align_corners=False)[0, 0].clamp(0, 1).cpu().numpy()
    label = categories[index] if categories and index < len(categories) else str(index)
    return Explanation(picture, heatmap, index, label, probability, model_name)
