"""Linear probe: how well a frozen pretrained backbone's features separate the user's classes.

The backbone runs once per image (global-average-pooled, pre-classifier
features, with the weights' own preprocessing); a logistic regression on the
standardised features is then fitted many times over (cross-validation folds,
a held-out split) in well under a second, which is what makes it a fast
estimate of a model's fit beside fine-tuning it.

scikit-learn does the fitting; it is the optional extra `convzoo[select]`.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch.utils.data import DataLoader

SKLEARN_MISSING = "convzoo select needs scikit-learn: pip install 'convzoo[select]'"


def require_sklearn() -> None:
    """One clear line before any work, rather than an ImportError after the features."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ValueError(SKLEARN_MISSING) from None


@torch.inference_mode()
def extract_features(model: torch.nn.Module, dataset, *, batch_size: int = 32, device: torch.device | str = "cpu",
                     workers: int = 0, progress: bool = True, desc: str = "features") -> np.ndarray:
    """One row of features per image of `dataset` ((tensor, label) pairs), in
    its order. `model` must return features (its classifier reset to 0 classes)."""
    from tqdm.auto import tqdm

    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    rows = []
    with tqdm(total=len(dataset), desc=desc, unit="img", disable=not progress, leave=False, dynamic_ncols=True) as bar:
        for x, _ in loader:
            rows.append(model(x.to(device)).float().cpu().numpy())
            bar.update(len(x))
    return np.concatenate(rows)


def _probe(seed: int):
    """Standardised features into a multinomial logistic regression. Standardising
    matters: pooled features of different models differ in scale by orders of
    magnitude, and one regularisation strength (C=1) then fits them all alike."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))


def _quietly_fitted(fit, notes: list[str]):
    """Runs `fit`, turning scikit-learn's convergence warnings into one note."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = fit()
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        notes.append("the probe's solver stopped before converging (accuracy may be slightly low)")
    return result


def cross_validated_accuracy(features: np.ndarray, labels: np.ndarray, folds: int, seed: int = 0,
                             notes: list[str] | None = None) -> tuple[float, float]:
    """(mean, std) accuracy of the probe over `folds` stratified folds, shuffled by `seed`."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = _quietly_fitted(lambda: cross_val_score(_probe(seed), features, labels, cv=cv),
                             [] if notes is None else notes)
    return float(np.mean(scores)), float(np.std(scores))


def heldout_accuracy(features: np.ndarray, labels: np.ndarray, is_val: np.ndarray, seed: int = 0,
                     notes: list[str] | None = None) -> float:
    """Accuracy on the images where `is_val`, of the probe fitted on the others."""
    probe = _quietly_fitted(lambda: _probe(seed).fit(features[~is_val], labels[~is_val]),
                            [] if notes is None else notes)
    return float(probe.score(features[is_val], labels[is_val]))


def usable_folds(labels: np.ndarray, classes: list[str], folds: int) -> int:
    """Stratified folds need every class in every fold: at most as many folds as
    the smallest class has images. Fewer are used (with a warning) down to 2."""
    counts = np.bincount(labels, minlength=len(classes))
    smallest = int(counts.min())
    if smallest < 2:
        name = classes[int(counts.argmin())]
        raise ValueError(f"class {name!r} has {smallest} image(s): cross-validating the probe needs at least 2 "
                         f"per class (better 5 or more)")
    if smallest < folds:
        name = classes[int(counts.argmin())]
        warnings.warn(f"class {name!r} has only {smallest} images: using {smallest} folds instead of {folds}",
                      stacklevel=3)
        return smallest
    return folds
