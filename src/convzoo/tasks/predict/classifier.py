"""Classify images with a pretrained model and the preprocessing it was trained with."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import torch

from ...data.images import DEFAULT_MAX_PIXELS, ImageError
from ...data.preprocessing import Preprocessing, imagenet_categories
from ...data.sources import DEFAULT_TIMEOUT, STDIN, describe, expand_sources, load_input
from ...factory import default_preprocessing, get_model
from ..deploy.optimize import OptimizedModel, RuntimeOptions, optimize
from ..deploy.optimize.calibration import MAX_CALIBRATION_IMAGES
from ..shared.device import resolve_device


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



class _DecodedInputs(torch.utils.data.Dataset):
    """Inputs decoded and preprocessed one by one, in DataLoader workers when
    asked: (index, tensor, None), or (index, None, reason) for a bad input, so
    that one bad file is a result, not an exception that ends the loader."""

    def __init__(self, items, sources, transform, max_pixels, timeout):
        self.items, self.sources, self.transform = items, sources, transform
        self.max_pixels, self.timeout = max_pixels, timeout

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        try:
            image = load_input(self.items[i], self.sources[i], self.max_pixels, self.timeout)
            return i, self.transform(image), None
        except ImageError as exc:
            return i, None, exc.reason


def _as_list(batch):
    return batch


class Classifier:
    """A model, its weights, its preprocessing and its class names, ready to predict.

    >>> clf = Classifier()                       # efficientnet_lite0, shipped ImageNet weights
    >>> clf.predict(["photo.jpg"], topk=3)[0].labels
    """

    def __init__(self, model_name: str = "efficientnet_lite0", weights: str | None = "DEFAULT", device: str = "auto",
                 batch_size: int = 32, preprocessing: Preprocessing | None = None,
                 categories: Sequence[str] | None = None, *, progress: bool = True,
                 runtime_options: RuntimeOptions | None = None, **runtime):
        """runtime_options, or its fields by name (runtime=, precision=, fast=, calibration=,
        min_agreement=; see RuntimeOptions): what runs the model (tasks/deploy/optimize/).
        "torch" is eager, fp32 unless asked; fast=True is runtime="auto": the fastest
        runtime/precision on this machine whose top-1 answers agree with fp32 eager on the
        calibration images (>= 99%), measured once and cached. The calibration images
        default to the first images given to `predict` (up to 300, spread over them)."""
        model = get_model(model_name, weights=weights)
        spec = getattr(model, "pretrained_weights", None)
        preprocessing = preprocessing or (spec.preprocessing if spec else default_preprocessing(model_name))
        self._setup(model, device, batch_size, preprocessing, categories, RuntimeOptions.of(runtime_options, **runtime),
                    progress)
        self.model_name = model_name
        # What results name as the weights: the resolved tag ("DEFAULT" -> IMAGENET1K_V2), a file, or none.
        self.weights_name = spec.tag if spec else (str(weights) if weights else "none")

    def _setup(self, model, device, batch_size, preprocessing, categories, options: RuntimeOptions,
               progress: bool) -> None:
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.options, self.progress = options, progress
        # What runs the model: as asked until prepare() has chosen, then what was chosen.
        self.runtime, self.precision = options.chosen_runtime, options.precision
        self.optimized: OptimizedModel | None = None
        self.preprocessing = preprocessing
        self.transform = preprocessing.transforms()
        n = self.model.num_classes
        self.categories = list(categories) if categories is not None else (
            list(imagenet_categories()) if n == 1000 else [str(i) for i in range(n)])
        if len(self.categories) != n:
            raise ValueError(f"{len(self.categories)} class names for a model with {n} classes")
        self.batch_size = batch_size
        # Plain fp32 eager stays the model itself; anything else goes through optimize(),
        # at once, or on the first images predicted when it needs images and has none yet.
        self._forward = self.model if options.is_plain else None
        if self._forward is None and (options.calibration is not None or not options.needs_images):
            self.prepare(options.calibration)

    def prepare(self, calibration=None) -> None:
        """Build what runs the model now (runtime "auto" and int8 otherwise wait
        for the first images predicted, to calibrate on them)."""
        images = None if calibration is None else self.calibration_images(calibration)
        self.optimized = optimize(self.model, runtime=self.options.chosen_runtime, precision=self.options.precision,
                                  calibration=images, input_size=self.preprocessing.crop_size,
                                  batch_size=self.batch_size, progress=self.progress,
                                  min_agreement=self.options.min_agreement)
        self._forward = self.optimized
        self.runtime, self.precision = self.optimized.runtime, self.optimized.precision

    def calibration_images(self, calibration, limit: int = MAX_CALIBRATION_IMAGES) -> torch.Tensor | None:
        """`calibration` (a folder, image files/URLs/arrays, or a ready batch
        tensor) as one preprocessed batch: at most `limit` images, spread evenly
        over the list (a class-sorted folder gives every class a say); images
        that cannot be read are left out."""
        if isinstance(calibration, torch.Tensor):
            return calibration
        if isinstance(calibration, (str, Path)):
            items = expand_sources([calibration])
            if not items:
                raise ValueError(f"no image files found in {calibration} for calibration")
        else:
            items = [item for item in calibration if not isinstance(item, str) or item != STDIN]
        if len(items) > limit:
            items = [items[round(k * (len(items) - 1) / (limit - 1))] for k in range(limit)]
        decoded = _DecodedInputs(items, [describe(item, i) for i, item in enumerate(items)], self.transform,
                                 DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT)
        from tqdm.auto import tqdm

        tensors = [t for _, t, reason in tqdm((decoded[i] for i in range(len(decoded))), total=len(decoded),
                                              desc="reading calibration images", disable=not self.progress,
                                              leave=False) if reason is None]
        return torch.stack(tensors) if tensors else None

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str = "auto", batch_size: int = 32, *, progress: bool = True,
                        runtime_options: RuntimeOptions | None = None, **runtime) -> "Classifier":
        """A classifier from a `convzoo train` checkpoint: its model, class names
        and preprocessing come from the checkpoint's JSON sidecar. The runtime
        options are the constructor's."""
        from ..shared.checkpoint import load_checkpoint, preprocessing_of

        model, meta = load_checkpoint(checkpoint)
        self = cls.__new__(cls)
        self._setup(model, device, batch_size, preprocessing_of(meta), meta["classes"],
                    RuntimeOptions.of(runtime_options, **runtime), progress)
        self.model_name = meta["model"]
        self.meta = meta
        self.weights_name = str(Path(checkpoint))
        return self

    def predict(self, images, topk: int = 5, errors: str = "raise", **options) -> list[Prediction]:
        """Top-k predictions for each image (paths, URLs, PIL images, arrays,
        tensors; any size; grey, RGB or RGBA). errors="raise" stops at the first
        bad image (ImageError naming it); errors="report" returns a Prediction
        with `error` set for it and goes on with the rest. `options`: those of
        `predict_iter` (workers, max_pixels, timeout)."""
        return list(self.predict_iter(images, topk, errors, **options))

    def predict_iter(self, images, topk: int = 5, errors: str = "raise", *, workers: int = 0,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS,
                     timeout: float = DEFAULT_TIMEOUT) -> Iterator[Prediction]:
        """`predict`, as a stream: the predictions of each batch, in input order,
        as soon as that batch is computed. `workers` > 0 decodes in that many
        DataLoader processes; images over `max_pixels` (0: no limit) and URLs
        with no answer within `timeout` seconds are bad inputs."""
        if errors not in ("raise", "report"):
            raise ValueError("errors must be 'raise' or 'report'")
        items = list(images) if isinstance(images, (list, tuple)) else [images]
        if self._forward is None:  # runtime "auto" or int8 with no calibration images given: these are them
            self.prepare(items)
        topk = max(1, min(topk, len(self.categories)))
        sources = [describe(item, i) for i, item in enumerate(items)]
        decoded = _DecodedInputs(items, sources, self.transform, max_pixels, timeout)
        loader = torch.utils.data.DataLoader(decoded, batch_size=self.batch_size, num_workers=workers,
                                             collate_fn=_as_list)
        for batch in loader:
            results: dict[int, Prediction] = {}
            for i, _, reason in batch:
                if reason is not None:
                    if errors == "raise":
                        raise ImageError(sources[i], reason)
                    results[i] = Prediction(sources[i], [], [], [], error=reason)
            good = [(i, tensor) for i, tensor, reason in batch if reason is None]
            if good:
                self._run(good, sources, topk, results)
            yield from (results[i] for i, _, _ in batch)

    @property
    def ready(self) -> bool:
        """False while the runtime waits for calibration images (see prepare)."""
        return self._forward is not None

    @property
    def forward(self):
        """Logits from a preprocessed batch, by whatever runs the model (prepared on first use)."""
        if self._forward is None:
            raise RuntimeError("the runtime is chosen on calibration images: call prepare(images) first")
        return self._forward

    @torch.inference_mode()
    def _run(self, batch, sources, topk, results) -> None:
        x = torch.stack([t for _, t in batch]).to(self.device)
        probs = self._forward(x).float().softmax(dim=1)
        top_p, top_i = probs.topk(topk, dim=1)
        for (i, _), p, idx in zip(batch, top_p.tolist(), top_i.tolist()):
            results[i] = Prediction(sources[i], [self.categories[j] for j in idx], idx, p)

    def __call__(self, images: Iterable, topk: int = 5) -> list[Prediction]:
        return self.predict(images, topk)
