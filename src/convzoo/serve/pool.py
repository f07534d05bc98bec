"""The served models: each built once, on first use, and kept.

One lock serialises the models' work: on a CPU, two forward passes at once
only share the same cores (and Grad-CAM's hooks must not see another
request's forward), so requests queue rather than thrash.
"""
from __future__ import annotations

import base64
import io
import statistics
import threading
import time
from dataclasses import dataclass, field

from PIL import Image

from ..factory import default_weights, match_models, model_info
from ..tasks.anatomy.explain import grad_cam
from ..tasks.predict.classifier import Classifier

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


@dataclass
class ModelPool:
    names: list[str]
    device: str = "auto"
    _classifiers: dict = field(default_factory=dict)
    _timings: dict = field(default_factory=dict)  # model -> the ms of each prediction served
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def matching(cls, patterns: list[str], device: str = "auto") -> "ModelPool":
        """The models with published weights matching any of `patterns` (fnmatch)."""
        return cls(match_models(patterns, pretrained=True), device)

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
            info, spec = model_info(name), default_weights(name)
            rows.append({
                "name": name, "family": info.family, "params": info.params,
                "gflops": info.gflops_at(spec.preprocessing.crop_size), "acc1": spec.meta.get("acc1"),
                "weights": spec.tag, "input_size": spec.preprocessing.crop_size,
                "offline": spec.local_path() is not None, "loaded": name in self._classifiers,
                "served_ms": self.served_ms(name),
            })
        return rows

    def served_ms(self, name: str) -> float | None:
        times = self._timings.get(name)
        return round(statistics.median(times), 2) if times else None

    def classifier(self, name: str) -> Classifier:
        self.check(name)
        if name not in self._classifiers:
            self._classifiers[name] = Classifier(name, device=self.device, progress=False)
        return self._classifiers[name]

    def predict(self, picture: Image.Image, models: list[str], topk: int = 5,
                explain: bool = False) -> list[ModelResult]:
        for name in models:
            self.check(name)
        results = []
        with self._lock:
            for name in models:
                clf = self.classifier(name)
                if name not in self._timings:
                    clf.predict([picture], topk=topk)  # a model's first call warms it up (allocations): not timed
                start = time.perf_counter()
                prediction = clf.predict([picture], topk=topk)[0]
                ms = 1000 * (time.perf_counter() - start)
                self._timings.setdefault(name, []).append(ms)
                result = ModelResult(name, clf.weights_name, prediction.labels, prediction.indices,
                                     prediction.probs, ms, prediction.decision, prediction.probability)
                if explain:
                    result.heatmap_png, result.heatmap_label = self._overlay(clf, picture, prediction.indices[0])
                results.append(result)
        return results

    @staticmethod
    def _overlay(clf: Classifier, picture: Image.Image, class_index: int) -> tuple[bytes, str]:
        # The card's top class, explained on the whole (uncropped) picture.
        cam = grad_cam(clf.model, picture, clf.preprocessing, clf.categories, class_index, model_name=clf.model_name)
        overlay = cam.overlay()
        overlay.thumbnail((OVERLAY_SIDE, OVERLAY_SIDE))
        buffer = io.BytesIO()
        overlay.save(buffer, format="PNG")
        return buffer.getvalue(), cam.label
