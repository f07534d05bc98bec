"""`convzoo eval --report DIR`: the evaluation as one self-contained HTML page.

DIR/index.html and its images (PNG plots, JPEG cards, all in DIR; no CDN, no
script): the headline metrics and the decision rule, per-class
precision/recall/F1, the confusion matrix (counts and row-normalised), ROC and
PR curves, the reliability diagram, then the mistakes, most confident first,
each card the image beside its Grad-CAM overlay (tasks/anatomy/explain.py) for
the class decided, and for each class its most confident correct images.

`HtmlReport` is the hook `evaluate_checkpoint(report=...)` calls once the
images are scored; it checks DIR when it is made, before any image is scored.
The page is built in a temporary sibling folder and renamed into place, so a
failure (or Ctrl-C) leaves no half-written report, and an old report in DIR is
replaced only by a complete new one. A folder holding anything but a convzoo
report is never replaced.
"""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

MARK = "convzoo eval --report"  # index.html's generator: what makes DIR an old report, safe to replace
CARD_SIZE = 160  # pixels of each card image's longer side


@dataclass
class Card:
    """One image of the report: `kind` "mistake" or "correct"."""

    kind: str
    index: int  # in the dataset
    path: str
    true: str
    predicted: str
    probability: float  # of the class decided
    p_true: float  # of the true class
    image: str = ""  # file names in DIR, once written
    overlay: str = ""
    flat: bool = False  # a Grad-CAM map with nothing to show (a 1x1 last stage: a small input)

    @property
    def loss(self) -> float:
        """Cross-entropy of this image: -ln p(true class)."""
        return -math.log(max(self.p_true, 1e-12))


class HtmlReport:
    """Writes DIR/index.html (see the module); `top`: the most mistakes shown (the
    rest counted), `per_class`: correct images shown per class, `progress`: a
    progress bar over the Grad-CAM pass. Made before evaluating, so a DIR that
    cannot be a report, or a missing torchcam, is one line before any work."""

    def __init__(self, out: str | Path, top: int = 100, per_class: int = 4, progress: bool = True):
        from ..anatomy.explain import require_torchcam

        if top < 0 or per_class < 0:
            raise ValueError(f"--report-top {top}: must be 0 or more")
        self.out, self.top, self.per_class, self.progress = check_report_dir(out), top, per_class, progress
        require_torchcam()

    def __call__(self, metrics: dict, clf, dataset, probs: torch.Tensor, labels: torch.Tensor,
                 decisions: torch.Tensor) -> Path:
        """Write the report of `metrics` (evaluate_checkpoint's), `probs` [N, C],
        `labels` [N] and the rule's `decisions` [N] on `dataset`, made by `clf`.
        Returns DIR/index.html."""
        cards, hidden = choose_cards(dataset, probs, labels, decisions, list(clf.categories), self.top,
                                     self.per_class)
        with _building(self.out) as tmp:
            _write_cards(tmp, cards, clf, self.progress)
            plots = _write_plots(tmp, metrics, probs, labels)
            from .report_html import render

            notes = _notes(clf, metrics, cards)
            (tmp / "index.html").write_text(render(metrics, cards, hidden, plots, notes, MARK), encoding="utf-8")
        return self.out / "index.html"


def check_report_dir(out: str | Path) -> Path:
    """`out` if a report can be written there: a new or empty folder, or an old report (replaced)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--report {out}: is a file, not a folder; name a new folder for the report")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise ValueError(f"--report {out}: the folder holds other files than a convzoo report, which would be "
                         f"replaced; name a new or empty folder")
    return out


def _is_report(folder: Path) -> bool:
    try:
        return f'content="{MARK}"' in (folder / "index.html").read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False


def choose_cards(dataset, probs: torch.Tensor, labels: torch.Tensor, decisions: torch.Tensor, classes: list[str],
                 top: int = 100, per_class: int = 4) -> tuple[list[Card], int]:
    """(cards, mistakes not shown): every mistake up to `top`, most confident
    first (the order of eval's misclassified list), then for each class its
    `per_class` correct images, most confident first."""
    paths = [str(s.path) for s in dataset.samples]
    confidence = probs.gather(1, decisions[:, None])[:, 0]
    p_true = probs.gather(1, labels[:, None])[:, 0]

    def card(kind: str, j: int) -> Card:
        return Card(kind, j, paths[j], classes[labels[j]], classes[decisions[j]], float(confidence[j]),
                    float(p_true[j]))

    wrong = (decisions != labels).nonzero()[:, 0].tolist()
    wrong.sort(key=lambda j: -round(float(confidence[j]), 4))  # stable, as misclassified() sorts
    cards = [card("mistake", j) for j in wrong[:top]]
    for k in range(len(classes)):
        right = ((decisions == k) & (labels == k)).nonzero()[:, 0].tolist()
        cards += [card("correct", j) for j in sorted(right, key=lambda j: -float(confidence[j]))[:per_class]]
    return cards, max(0, len(wrong) - top)


class _building:
    """A temporary folder beside `out`, renamed to `out` on success (an old
    report there replaced), removed whatever happens otherwise."""

    def __init__(self, out: Path):
        self.out = out.resolve()  # "." has no name to put a sibling beside

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", suffix=".tmp", dir=self.out.parent))
        return self.tmp

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes it owner-only
                _replace(self.tmp, check_report_dir(self.out))
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _replace(new: Path, out: Path) -> None:
    """Rename `new` to `out`; an old `out` is moved aside first and removed after."""
    if not out.exists():
        os.rename(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / "report")
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old / "report", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_cards(folder: Path, cards: list[Card], clf, progress: bool) -> None:
    """Each card's image and its Grad-CAM overlay for the class decided, as JPEGs in folder/img/."""
    from tqdm.auto import tqdm

    from ...data.images import load_image
    from ..anatomy.explain import grad_cam

    (folder / "img").mkdir()
    categories = list(clf.categories)
    counts: dict[str, int] = {}
    with torch.enable_grad():
        for card in tqdm(cards, desc="Grad-CAM", disable=not progress, leave=False, dynamic_ncols=True):
            counts[card.kind] = counts.get(card.kind, 0) + 1
            stem = f"img/{card.kind}-{counts[card.kind]:04d}"
            explanation = grad_cam(clf.model, load_image(card.path), clf.preprocessing, categories,
                                   categories.index(card.predicted), clf.model_name)
            card.image, card.overlay = f"{stem}.jpg", f"{stem}-cam.jpg"
            card.flat = float(explanation.heatmap.max() - explanation.heatmap.min()) < 1e-3
            _thumbnail(explanation.image.convert("RGB")).save(folder / card.image, quality=90)
            _thumbnail(explanation.overlay()).save(folder / card.overlay, quality=90)


def _thumbnail(image):
    """`image` with its longer side CARD_SIZE (small images enlarged: a 28 px digit is too small to read)."""
    from PIL import Image

    scale = CARD_SIZE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


def _write_plots(folder: Path, metrics: dict, probs: torch.Tensor, labels: torch.Tensor) -> dict:
    """{name: file in `folder`} of the ROC and PR curves and the reliability diagram."""
    from .report_plots import class_curves, reliability_diagram, save_png

    y, p = labels.numpy(), probs.numpy()
    files = {}
    section = metrics.get("operating_point")
    if section:  # one positive class: eval's own curves, with the rule's operating point
        from .roc_pr import write_curves

        k = metrics["classes"].index(section["positive"])
        files.update({name: Path(path).name for name, path in
                      write_curves(y == k, p[:, k], folder, section["positive"], section["rule"]).items()
                      if name != "skipped"})
    else:
        for name, fig in class_curves(y, p, metrics["classes"]).items():
            files[name] = save_png(fig, folder / f"{name}_curve.png")
    files["reliability"] = save_png(reliability_diagram(y, p, metrics.get("ece")), folder / "reliability.png")
    return files


def _notes(clf, metrics: dict, cards: list[Card]) -> list[str]:
    """What the reader should know about the cards' heat maps."""
    notes = []
    flat = sum(card.flat for card in cards)
    if flat:
        size = clf.preprocessing.crop_size
        side = math.ceil(size / clf.model.feature_info[-1].reduction)
        why = (f"at {size} px the last stage's map is 1x1, with nowhere to point: train at a larger --image-size"
               if side <= 1 else
               f"no cell of the last stage's {side}x{side} map (at {size} px) raised the score of the class shown, "
               f"and Grad-CAM keeps only what did")
        notes.append(f"{flat} of the {len(cards)} Grad-CAM maps are flat (all blue): {why}.")
    if len(clf.members) > 1:
        notes.append(f"An ensemble of {len(clf.members)} checkpoints: the probabilities are the ensemble's, the "
                     f"Grad-CAM maps the first checkpoint's.")
    if metrics.get("tta"):
        notes.append(f"Probabilities averaged over the --tta {metrics['tta']} views; Grad-CAM on the whole image.")
    if clf.runtime != "torch":
        notes.append(f"Probabilities from {metrics.get('runtime')}; Grad-CAM from the PyTorch model.")
    return notes
