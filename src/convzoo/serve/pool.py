"""The served models: pretrained ones built once, on first use, and kept;
fine-tuned ones (`convzoo train` checkpoints) loaded at start, so that a bad
file is an error before the server listens.

Each model has a batching worker (batching.py): concurrent requests' images
go through one forward pass. One lock serialises the workers' forward passes:
on a CPU, two at once only share the same cores (and Grad-CAM's hooks, run in
the worker too, must not see another request's forward).
"""
from __future__ import annotations

import base64
import io
import math
import statistics
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from ..factory import default_weights, match_models, model_info
from ..tasks.anatomy.explain import grad_cam
from ..tasks.deploy.optimize import RuntimeOptions
from ..tasks.predict.classifier import Classifier
from .batching import BatchSettings, BatchWorker, Job

# The served timings kept per model: enough for a steady median, and a server that runs for
# weeks neither grows nor sorts an ever longer list (retry_after reads the median per request).
TIMINGS_KEPT = 1000
OVERLAY_SIDE = 448  # the overlay image sent to the page: its longer side, in pixels


class NotServed(LookupError):
    """A model name that is unknown, or known but not among the served ones."""


@dataclass
class ModelResult:
    model: str
    weights: str
    labels: list[str]
    indices: list[int]
    probabilities: list[float]
    ms: float  # preprocessing + forward pass of this one image, measured here
    decision: str | None = None  # the class the model's decision rule chose (a pretrained model: its top-1)
    probability: float | None = None  # the decision's (calibrated) probability
    heatmap_png: bytes | None = None  # the Grad-CAM overlay, PNG-encoded
    heatmap_label: str | None = None

    def to_json(self) -> dict:
        top = [{"index": i, "label": label, "probability": p}
               for i, label, p in zip(self.indices, self.labels, self.probabilities)]
        out = {"model": self.model, "weights": self.weights, "decision": self.decision,
               "probability": self.probability, "topk": top, "ms": round(self.ms, 2)}
        if self.heatmap_png is not None:
            out["heatmap"] = "data:image/png;base64," + base64.b64encode(self.heatmap_png).decode()
            out["heatmap_label"] = self.heatmap_label
        return out


def parse_checkpoint(spec: str) -> tuple[str, Path]:
    """`--checkpoint [NAME=]PATH` as (served name, path): NAME, else the run folder's name."""
    name, sep, rest = spec.partition("=")
    if sep and name and not Path(spec).exists():
        return name, Path(rest)
    path = Path(spec)
    return (path.resolve().parent.name or path.stem), path


def load_served_checkpoint(spec: str, device: str, options: RuntimeOptions | None) -> tuple[str, Classifier]:
    """A `convzoo train` checkpoint's Classifier, or one ValueError line naming the problem."""
    from ..tasks.shared.checkpoint import NotAClassifierCheckpoint, read_classifier_sidecar

    name, path = parse_checkpoint(spec)
    what = f"--checkpoint {spec}"
    try:
        read_classifier_sidecar(path)
    except FileNotFoundError as exc:
        raise ValueError(f"{what}: {exc}") from None
    except NotAClassifierCheckpoint as exc:
        raise ValueError(f"{what}: not a convzoo training checkpoint of a classifier ({exc}); "
                         f"serve the best.safetensors that `convzoo train` wrote") from None
    try:
        clf = Classifier.from_checkpoint(path, device=device, progress=False, runtime_options=options)
    except Exception as exc:  # noqa: BLE001  safetensors, torch and the factory raise many kinds for a bad file
        raise ValueError(f"{what}: cannot load it as a convzoo training checkpoint: "
                         f"{' '.join(str(exc).split())[:300]}") from None
    return name, clf


@dataclass
class ModelPool:
    names: list[str]
    device: str = "auto"
    runtime_options: RuntimeOptions | None = None
    batching: BatchSettings = field(default_factory=BatchSettings)
    checkpoints: dict = field(default_factory=dict)  # served name -> checkpoint path, for fine-tuned models
    on_batch: Callable[[str, int], None] | None = None  # (model, batch size): the app's metrics
    _classifiers: dict = field(default_factory=dict)
    _timings: dict = field(default_factory=dict)  # model -> the ms of its last TIMINGS_KEPT predictions
    _workers: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # forward passes, one at a time
    _build_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def matching(cls, patterns: list[str], device: str = "auto", checkpoints: list[str] = (),
                 runtime_options: RuntimeOptions | None = None,
                 batching: BatchSettings | None = None) -> "ModelPool":
        """The models with published weights matching any of `patterns` (fnmatch), and the
        fine-tuned `checkpoints` (`[NAME=]PATH` each), loaded now."""
        pool = cls(match_models(patterns, pretrained=True) if patterns else [], device, runtime_options,
                   batching or BatchSettings())
        for spec in checkpoints:
            name, clf = load_served_checkpoint(spec, device, runtime_options)
            if name in pool.names:
                raise ValueError(f"--checkpoint {spec}: {name} is served already; name it with NAME=PATH")
            pool.names.append(name)
            pool.checkpoints[name] = str(parse_checkpoint(spec)[1])
            pool._classifiers[name] = clf
        if not pool.names:
            raise ValueError("nothing to serve: give --models PATTERN or --checkpoint PATH")
        return pool

    def check(self, name: str) -> None:
        if name in self.names:
            return
        try:
            model_info(name)
        except ValueError as exc:  # an unknown name: the registry's message names close matches
            raise NotServed(str(exc)) from None
        raise NotServed(f"{name} is not served here: served models are {', '.join(self.names)} "
                        f"(start the server with --models '{name}')")

    def describe(self) -> list[dict]:
        rows = []
        for name in self.names:
            if name in self.checkpoints:
                rows.append(self._describe_checkpoint(name))
                continue
            info, spec = model_info(name), default_weights(name)
            rows.append({
                "name": name, "family": info.family, "params": info.params,
                "gflops": info.gflops_at(spec.preprocessing.crop_size), "acc1": spec.meta.get("acc1"),
                "weights": spec.tag, "input_size": spec.preprocessing.crop_size,
                "offline": spec.local_path() is not None, "loaded": name in self._classifiers,
                "served_ms": self.served_ms(name), "classes": None, "decision": "argmax",
            })
        return rows

    def _describe_checkpoint(self, name: str) -> dict:
        clf = self._classifiers[name]
        info = model_info(clf.model_name)
        return {"name": name, "family": info.family, "model": clf.model_name,
                "params": sum(p.numel() for p in clf.model.parameters()), "gflops": None, "acc1": None,
                "weights": self.checkpoints[name], "input_size": clf.preprocessing.crop_size, "offline": True,
                "loaded": True, "served_ms": self.served_ms(name), "classes": list(clf.categories),
                "decision": clf.rule.describe()}

    def served_ms(self, name: str) -> float | None:
        times = self._timings.get(name)
        return round(statistics.median(times), 2) if times else None

    def classifier(self, name: str) -> Classifier:
        self.check(name)
        with self._build_lock:
            if name not in self._classifiers:
                self._classifiers[name] = Classifier(name, device=self.device, progress=False,
                                                     runtime_options=self.runtime_options)
        return self._classifiers[name]

    def worker(self, name: str) -> BatchWorker:
        with self._build_lock:
            if name not in self._workers:
                self._workers[name] = BatchWorker(name, lambda jobs: self._run_batch(name, jobs), self.batching)
            return self._workers[name]

    def queue_depth(self, name: str) -> int:
        worker = self._workers.get(name)
        return worker.depth if worker else 0

    def retry_after(self, name: str) -> int:
        """Seconds until a full queue has likely drained (at least 1)."""
        ms = self.served_ms(name) or 100.0
        return max(1, math.ceil(self.batching.queue_size / self.batching.max_batch * ms / 1000))

    def submit(self, picture: Image.Image, models: list[str], topk: int = 5,
               explain: bool = False) -> list[Future]:
        """Each model's answer to come, as a future of a ModelResult; QueueFull when a queue is full."""
        for name in models:
            self.check(name)
        futures = []
        for name in models:
            clf = self.classifier(name)
            start = time.perf_counter()
            tensor = clf.transform(picture)
            job = Job(tensor, picture, topk, explain, 1000 * (time.perf_counter() - start))
            futures.append(self.worker(name).submit(job, self.retry_after(name)))
        return futures

    def predict(self, picture: Image.Image, models: list[str], topk: int = 5,
                explain: bool = False) -> list[ModelResult]:
        return [future.result() for future in self.submit(picture, models, topk, explain)]

    def _run_batch(self, name: str, jobs: list[Job]) -> None:
        clf = self._classifiers[name]
        x = torch.stack([job.tensor for job in jobs])
        with self._lock:
            if not clf.ready:  # runtime auto or int8: calibrated on the first images served
                clf.prepare(x)
            if name not in self._timings:
                clf.probabilities(x)  # a model's first call warms it up (allocations): not timed
            start = time.perf_counter()
            probs = clf.probabilities(x).cpu()
            forward_ms = 1000 * (time.perf_counter() - start)
            if self.on_batch is not None:
                self.on_batch(name, len(jobs))
            decisions = clf.rule.decide(probs).tolist()
            for job, row, decided in zip(jobs, probs, decisions):
                top_p, top_i = row.topk(max(1, min(job.topk, len(clf.categories))))
                indices = top_i.tolist()
                ms = job.prep_ms + forward_ms
                self._timings.setdefault(name, deque(maxlen=TIMINGS_KEPT)).append(ms)
                result = ModelResult(name, clf.weights_name, [clf.categories[j] for j in indices], indices,
                                     top_p.tolist(), ms, clf.categories[decided], row[decided].item())
                if job.explain:
                    try:
                        result.heatmap_png, result.heatmap_label = self._overlay(clf, job.picture, indices[0])
                    except Exception as exc:  # noqa: BLE001  this job fails, not the batch
                        job.future.set_exception(exc)
                        continue
                job.future.set_result(result)

    @staticmethod
    def _overlay(clf: Classifier, picture: Image.Image, class_index: int) -> tuple[bytes, str]:
        # The card's top class, explained on the whole (uncropped) picture.
        cam = grad_cam(clf.model, picture, clf.preprocessing, clf.categories, class_index, model_name=clf.model_name)
        overlay = cam.overlay()
        overlay.thumbnail((OVERLAY_SIDE, OVERLAY_SIDE))
        buffer = io.BytesIO()
        overlay.save(buffer, format="PNG")
        return buffer.getvalue(), cam.label
