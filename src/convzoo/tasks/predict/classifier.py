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
from ..deploy.optimize.calibration import MAX_CHECK_IMAGES, spread_indices
from ..shared.decision import DecisionRule, NoThresholdError, check_positive, default_positive
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
    decision: str | None = None  # the class decided by the checkpoint's rule (threshold, else argmax)
    probability: float | None = None  # the (calibrated) probability of the decision

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
                 categories: Sequence[str] | None = None, *, progress: bool = True, tta: str | None = None,
                 runtime_options: RuntimeOptions | None = None, **runtime):
        """runtime_options, or its fields by name (runtime=, precision=, fast=, calibration=,
        min_agreement=; see RuntimeOptions): what runs the model (tasks/deploy/optimize/).
        "torch" is eager, fp32 unless asked; fast=True is runtime="auto": the fastest
        runtime/precision on this machine whose top-1 answers agree with fp32 eager on the
        calibration images (>= 99%), measured once and cached. The calibration images
        default to the first images given to `predict` (up to 600, spread over them; int8's
        ranges come from 300 of those)."""
        model = get_model(model_name, weights=weights)
        spec = getattr(model, "pretrained_weights", None)
        preprocessing = preprocessing or (spec.preprocessing if spec else default_preprocessing(model_name))
        self._setup(model, device, batch_size, preprocessing, categories, RuntimeOptions.of(runtime_options, **runtime),
                    progress, tta)
        self.model_name = model_name
        # What results name as the weights: the resolved tag ("DEFAULT" -> IMAGENET1K_V2), a file, or none.
        self.weights_name = spec.tag if spec else (str(weights) if weights else "none")

    def _setup(self, model, device, batch_size, preprocessing, categories, options: RuntimeOptions,
               progress: bool, tta: str | None = None) -> None:
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.options, self.progress = options, progress
        # What runs the model: as asked until prepare() has chosen, then what was chosen.
        self.runtime, self.precision = options.chosen_runtime, options.precision
        self.optimized: OptimizedModel | None = None
        self.preprocessing = preprocessing
        self.tta = tta
        # One image -> [C, H, W]; with tta, -> [V, C, H, W] (its views, whose probabilities are averaged).
        self.transform = preprocessing.tta_transforms(tta) if tta else preprocessing.transforms()
        self._single_view = preprocessing.transforms()  # calibration images: one view each
        self.temperature = 1.0
        self.members: list[Classifier] = [self]  # an ensemble of checkpoints: from_checkpoint([...])
        n = self.model.num_classes
        self.categories = list(categories) if categories is not None else (
            list(imagenet_categories()) if n == 1000 else [str(i) for i in range(n)])
        if len(self.categories) != n:
            raise ValueError(f"{len(self.categories)} class names for a model with {n} classes")
        self.rule = DecisionRule(tuple(self.categories))
        self.batch_size = batch_size
        # Plain fp32 eager stays the model itself; anything else goes through optimize(),
        # at once, or on the first images predicted when it needs images and has none yet.
        self._forward = self.model if options.is_plain else None
        if self._forward is None and (options.calibration is not None or not options.needs_images):
            self.prepare(options.calibration)

    def prepare(self, calibration=None, labels=None) -> None:
        """Build what runs the model now (runtime "auto" and int8 otherwise wait
        for the first images predicted, to calibrate on them). labels: the
        calibration images' classes (indices), when known (`eval --fast` on a
        validation split): "auto" then also keeps fp32's accuracy on them."""
        images, labels = (None, None) if calibration is None else self._calibration_batch(calibration, labels)
        self.optimized = optimize(self.model, runtime=self.options.chosen_runtime, precision=self.options.precision,
                                  calibration=images, input_size=self.preprocessing.crop_size,
                                  batch_size=self.batch_size, progress=self.progress,
                                  min_agreement=self.options.min_agreement, calibration_labels=labels)
        self._forward = self.optimized
        self.runtime, self.precision = self.optimized.runtime, self.optimized.precision
        for member in self.members[1:]:
            if not member.ready:
                member.prepare(images, labels)

    def calibration_images(self, calibration, limit: int = MAX_CHECK_IMAGES) -> torch.Tensor | None:
        """`calibration` (a folder, image files/URLs/arrays, or a ready batch
        tensor) as one preprocessed batch: at most `limit` images, spread evenly
        over the list (a class-sorted folder gives every class a say); images
        that cannot be read are left out."""
        return self._calibration_batch(calibration, None, limit)[0]

    def _calibration_batch(self, calibration, labels=None, limit: int = MAX_CHECK_IMAGES
                           ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """calibration_images, and `labels` (one per item of `calibration`) kept for the same images."""
        if labels is not None:
            labels = torch.as_tensor(labels).reshape(-1)
        if isinstance(calibration, torch.Tensor):
            return calibration, labels
        if isinstance(calibration, (str, Path)):
            items = expand_sources([calibration])
            if not items:
                raise ValueError(f"no image files found in {calibration} for calibration")
        else:
            items = [item for item in calibration if not isinstance(item, str) or item != STDIN]
        if labels is not None and len(labels) != len(items):
            raise ValueError(f"calibration: {len(labels)} labels for {len(items)} images")
        chosen = spread_indices(len(items), limit)
        picked = [items[i] for i in chosen]
        decoded = _DecodedInputs(picked, [describe(item, i) for i, item in enumerate(picked)], self._single_view,
                                 DEFAULT_MAX_PIXELS, DEFAULT_TIMEOUT)
        from tqdm.auto import tqdm

        tensors, kept = [], []
        for k in tqdm(range(len(decoded)), desc="reading calibration images", disable=not self.progress,
                      leave=False):
            _, tensor, reason = decoded[k]
            if reason is None:
                tensors.append(tensor)
                kept.append(chosen[k])
        if not tensors:
            return None, None
        return torch.stack(tensors), (labels[kept] if labels is not None else None)

    @classmethod
    def from_checkpoint(cls, checkpoint, device: str = "auto", batch_size: int = 32, *, progress: bool = True,
                        tta: str | None = None, threshold: str | float | None = None, positive: str | None = None,
                        runtime_options: RuntimeOptions | None = None, **runtime) -> "Classifier":
        """A classifier from a `convzoo train` checkpoint: its model, class names,
        preprocessing and decision rule (temperature, positive class, threshold:
        `convzoo calibrate`) come from the checkpoint's JSON sidecar. The runtime
        options are the constructor's.

        A list of checkpoints is an ensemble (the folds of `train --folds`): the
        same classes and preprocessing, each calibrated by its own temperature,
        their probabilities averaged.
        threshold: None, the saved rule if there is one, else the argmax; "auto",
        the saved rule (an error naming `convzoo calibrate` without one); "none",
        the argmax; a number, that threshold on the `positive` class's probability
        (default: the saved positive, else the rarer class of a binary task)."""
        from ..shared.checkpoint import load_checkpoint, preprocessing_of

        paths = [checkpoint] if isinstance(checkpoint, (str, Path)) else list(checkpoint)
        if not paths:
            raise ValueError("no checkpoint given")
        options = RuntimeOptions.of(runtime_options, **runtime)
        model, meta = load_checkpoint(paths[0])
        self = cls.__new__(cls)
        self._setup(model, device, batch_size, preprocessing_of(meta), meta["classes"], options, progress, tta)
        self.model_name = meta["model"]
        self.meta = meta
        self.weights_name = ",".join(str(Path(p)) for p in paths)
        self.temperature = float((meta.get("decision") or {}).get("temperature", 1.0))
        for path in paths[1:]:
            member = cls.from_checkpoint(path, device, batch_size, progress=progress, tta=tta, runtime_options=options)
            if member.categories != self.categories or member.preprocessing != self.preprocessing:
                raise ValueError(f"{path} is not an ensemble member of {paths[0]}: its classes or preprocessing "
                                 f"differ; ensemble only checkpoints trained on the same classes at the same size")
            self.members.append(member)
        self.rule = _rule_of(meta, self.categories, threshold, positive, ensemble=len(paths) > 1)
        if tta == "flip" and meta.get("config", {}).get("hflip") is False:
            import warnings

            warnings.warn(f"{paths[0]} was trained without mirror images (--no-hflip): --tta flip shows it images "
                          f"it never learned; --tta crops mirrors too, so prefer no --tta", stacklevel=2)
        return self

    @classmethod
    def from_pretrained(cls, name: str, device: str = "auto", batch_size: int = 32, *, revision: str | None = None,
                        token: str | None = None, **options) -> "Classifier":
        """A classifier from a model shared on the Hugging Face Hub: "hf-hub:OWNER/REPO"
        (`convzoo push`). Its model.safetensors and config.json are downloaded into the
        Hugging Face cache (or read from it; HF_HUB_OFFLINE=1: only from it) and used as
        a checkpoint and its sidecar; `options` are from_checkpoint's (tta, threshold,
        positive, progress, the runtime options)."""
        import json
        import tempfile

        from ...weights.hub import PREFIX, download, repo_id_of

        name = PREFIX + repo_id_of(name)
        weights, config = download(name, revision=revision, token=token)
        with tempfile.TemporaryDirectory(prefix="convzoo-hub-") as tmp:
            # The checkpoint's layout (weights + sidecar side by side), the weights linked, not copied.
            checkpoint = Path(tmp) / "model.safetensors"
            try:
                checkpoint.symlink_to(weights.resolve())
            except OSError:  # no symlinks here (Windows without the right): a copy
                import shutil

                shutil.copyfile(weights, checkpoint)
            checkpoint.with_suffix(".json").write_text(json.dumps(config))
            self = cls.from_checkpoint(checkpoint, device, batch_size, **options)
        self.weights_name = name if revision is None else f"{name}@{revision}"
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
    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities [B, C] of a batch made by `transform`: [B, C, H, W],
        or [B, V, C, H, W] with tta (the views' probabilities averaged). Each
        member's logits are divided by its temperature; an ensemble averages its
        members' probabilities."""
        x = x.to(self.device)
        views = x.shape[1] if x.dim() == 5 else 1
        flat = x.flatten(0, 1) if x.dim() == 5 else x
        total = None
        for member in self.members:
            probs = (member.forward(flat).float() / member.temperature).softmax(dim=1)
            probs = probs.view(x.shape[0], views, -1).mean(dim=1)
            total = probs if total is None else total + probs
        return total / len(self.members)

    def _run(self, batch, sources, topk, results) -> None:
        probs = self.probabilities(torch.stack([t for _, t in batch])).cpu()
        decisions = self.rule.decide(probs)
        top_p, top_i = probs.topk(topk, dim=1)
        for (i, _), p, idx, row, decided in zip(batch, top_p.tolist(), top_i.tolist(), probs, decisions.tolist()):
            results[i] = Prediction(sources[i], [self.categories[j] for j in idx], idx, p,
                                    decision=self.categories[decided], probability=row[decided].item())

    def __call__(self, images: Iterable, topk: int = 5) -> list[Prediction]:
        return self.predict(images, topk)


def _rule_of(meta: dict, classes: list[str], threshold, positive: str | None, ensemble: bool) -> DecisionRule:
    """The decision rule a checkpoint is used with (see Classifier.from_checkpoint)."""
    saved = DecisionRule.from_meta(meta)
    positive = check_positive(positive, classes)
    if threshold == "auto":
        if saved.threshold is None:
            raise NoThresholdError("--threshold auto: this checkpoint has no saved threshold; choose one with "
                                   "`convzoo calibrate CHECKPOINT DATA --target-recall R`, or give --threshold P")
        if ensemble:
            raise ValueError("--threshold auto: a saved threshold was chosen for one checkpoint, not for an "
                             "ensemble's averaged probabilities; give --threshold P")
        if positive is not None and positive != saved.positive:
            raise ValueError(f"--positive {positive}: the saved threshold is for {saved.positive}; "
                             f"give --threshold P for another class")
        return saved
    if threshold == "none" or (threshold is None and (ensemble or saved.threshold is None)):
        return DecisionRule(tuple(classes), positive or saved.positive, None, saved.temperature)
    if threshold is None:
        if positive is not None and positive != saved.positive:
            raise ValueError(f"--positive {positive}: the saved threshold is for {saved.positive}; give --threshold "
                             f"P for {positive}, or --threshold none for the most probable class")
        return saved
    value = float(threshold)
    chosen = positive or saved.positive or default_positive(classes, meta.get("class_counts"))
    if chosen is None:
        raise ValueError(f"--threshold {value}: name the class it is for with --positive NAME "
                         f"(the classes are {', '.join(classes)})")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"--threshold {value}: a probability threshold must be between 0 and 1 (or auto, none)")
    return DecisionRule(tuple(classes), chosen, value, saved.temperature, {"given": True})
