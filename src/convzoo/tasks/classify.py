"""Classify images with a pretrained model and the preprocessing it was trained with."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import torch

from ..data.images import ImageError, to_pil_rgb
from ..data.preprocessing import Preprocessing, imagenet_categories
from ..factory import default_preprocessing, get_model


@dataclass
class Prediction:
    """Top-k classes of one image, best first; `error` is set instead when the
    image could not be read (with errors="report")."""

    source: str
    labels: list[str]
    indices: list[int]
    probs: list[float]
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here: use --device cpu")
    return torch.device(device)


def _describe(item, index: int) -> str:
    """How an input is named in results and errors: its path, else its position."""
    return str(item) if isinstance(item, str) or hasattr(item, "__fspath__") else f"<input {index}>"


class Classifier:
    """A model, its weights, its preprocessing and its class names, ready to predict.

    >>> clf = Classifier()                       # efficientnet_lite0, shipped ImageNet weights
    >>> clf.predict(["photo.jpg"], topk=3)[0].labels
    """

    def __init__(
        self,
        model_name: str = "efficientnet_lite0",
        weights: str | None = "DEFAULT",
        device: str = "auto",
        batch_size: int = 32,
        preprocessing: Preprocessing | None = None,
        categories: Sequence[str] | None = None,
    ):
        model = get_model(model_name, weights=weights)
        spec = getattr(model, "pretrained_weights", None)
        preprocessing = preprocessing or (spec.preprocessing if spec else default_preprocessing(model_name))
        self._setup(model, device, batch_size, preprocessing, categories)

    def _setup(self, model, device, batch_size, preprocessing, categories) -> None:
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.preprocessing = preprocessing
        self.transform = preprocessing.transforms()
        n = self.model.num_classes
        self.categories = list(categories) if categories is not None else (
            list(imagenet_categories()) if n == 1000 else [str(i) for i in range(n)])
        if len(self.categories) != n:
            raise ValueError(f"{len(self.categories)} class names for a model with {n} classes")
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str = "auto", batch_size: int = 32) -> "Classifier":
        """A classifier from a `convzoo train` checkpoint: its model, class names
        and preprocessing come from the checkpoint's JSON sidecar."""
        from .checkpoint import load_checkpoint, preprocessing_of

        model, meta = load_checkpoint(checkpoint)
        self = cls.__new__(cls)
        self._setup(model, device, batch_size, preprocessing_of(meta), meta["classes"])
        return self

    def predict(self, images, topk: int = 5, errors: str = "raise") -> list[Prediction]:
        """Top-k predictions for each image (paths, PIL images, arrays, tensors;
        any size; grey, RGB or RGBA). errors="raise" stops at the first bad
        image (ImageError naming it); errors="report" returns a Prediction with
        `error` set for it and goes on with the rest."""
        if errors not in ("raise", "report"):
            raise ValueError("errors must be 'raise' or 'report'")
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        topk = max(1, min(topk, len(self.categories)))
        sources = [_describe(item, i) for i, item in enumerate(items)]
        results: list[Prediction | None] = [None] * len(items)
        batch: list[tuple[int, torch.Tensor]] = []
        for i, (item, source) in enumerate(zip(items, sources)):
            try:
                batch.append((i, self.transform(to_pil_rgb(item, source))))
            except ImageError as exc:
                if errors == "raise":
                    raise
                results[i] = Prediction(source, [], [], [], error=exc.reason)
                continue
            if len(batch) == self.batch_size:
                self._run(batch, sources, topk, results)
                batch = []
        if batch:
            self._run(batch, sources, topk, results)
        return results  # type: ignore[return-value]

    @torch.inference_mode()
    def _run(self, batch, sources, topk, results) -> None:
        x = torch.stack([t for _, t in batch]).to(self.device)
        probs = self.model(x).float().softmax(dim=1)
        top_p, top_i = probs.topk(topk, dim=1)
        for (i, _), p, idx in zip(batch, top_p.tolist(), top_i.tolist()):
            results[i] = Prediction(sources[i], [self.categories[j] for j in idx], idx, p)

    def __call__(self, images: Iterable, topk: int = 5) -> list[Prediction]:
        return self.predict(images, topk)
