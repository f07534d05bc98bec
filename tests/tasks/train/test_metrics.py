"""Every metric `eval` and training report equals scikit-learn's on fixed
predictions, stays defined (or says why not) on awkward splits, and the
threshold and temperature fits do what they promise."""
import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from convzoo.tasks.train.metrics import (
    METRICS,
    choose_threshold,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    operating_point,
)

CLASSES3 = ["cat", "dog", "rare"]


def _three_classes(n: int = 60, seed: int = 0):
    """Labels of 3 classes and probabilities in which the third class is never the
    most probable: a class the model never predicts."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    p = rng.dirichlet([1.0, 1.0, 1.0], n)
    p[np.arange(n), y] += 0.3  # better than chance
    p[:, 2] = np.minimum(p[:, 2], 0.3 * p[:, :2].max(1))
    return y, p / p.sum(1, keepdims=True)


def _binary(n: int = 80, seed: int = 1):
    """A skewed binary task: 20% class 1 ("defect"), scores that rank it imperfectly."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    p1 = np.clip(0.3 * y + rng.random(n) * 0.7, 0.01, 0.99)
    return y, np.stack([1 - p1, p1], 1)


def test_multiclass_metrics_equal_scikit_learns_with_a_class_never_predicted():
    y, p = _three_classes()
    pred = p.argmax(1)
    assert not (pred == 2).any() and (y == 2).any()
    m = classification_metrics(y, p, CLASSES3)
    assert m["never_predicted"] == ["rare"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr", average="macro"))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(np.eye(3)[y], p, average="macro"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p)) and m["loss"] == m["log_loss"]
    # Multi-class Brier: the squared error summed over classes, averaged over images.
    assert m["brier"] == pytest.approx(np.mean(np.sum((p - np.eye(3)[y]) ** 2, 1)))
    precision, recall, _, _ = skm.precision_recall_fscore_support(y, pred, labels=[0, 1, 2], zero_division=0)
    assert [m["per_class"][c]["recall"] for c in CLASSES3] == pytest.approx(recall)
    assert [m["per_class"][c]["precision"] for c in CLASSES3] == pytest.approx(precision)
    assert m["per_class"]["rare"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": int((y == 2).sum())}
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert set(METRICS) <= set(m)


def test_binary_metrics_score_the_positive_class_as_scikit_learn_does():
    y, p = _binary()
    for positive, k in (("defect", 1), ("good", 0)):
        m = classification_metrics(y, p, ["good", "defect"], positive=positive)
        assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y == k, p[:, k]))
        assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y == k, p[:, k]))
        assert m["brier"] == pytest.approx(skm.brier_score_loss(y == k, p[:, k]))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))


def test_decisions_other_than_the_argmax_are_scored():
    y, p = _binary()
    decisions = (p[:, 1] >= 0.3).astype(int)
    m = classification_metrics(y, p, ["good", "defect"], "defect", decisions)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, decisions))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, decisions))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, decisions))
    # The threshold-free metrics do not move with the decisions.
    assert m["roc_auc"] == classification_metrics(y, p, ["good", "defect"], "defect")["roc_auc"]


@pytest.mark.parametrize("classes", [["good", "defect"], CLASSES3])
def test_a_split_with_one_class_leaves_the_aucs_undefined_with_the_reason(classes):
    y = np.zeros(10, dtype=int)
    p = np.random.default_rng(0).dirichlet(np.ones(len(classes)), 10)
    m = classification_metrics(y, p, classes)
    assert m["roc_auc"] is None and m["pr_auc"] is None
    missing = classes[1]
    assert missing in m["undefined"]["roc_auc"] and missing in m["undefined"]["pr_auc"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p, labels=list(range(len(classes)))))


def test_expected_calibration_error_by_hand():
    # Confidences 0.95 (right), 0.70 (right), 0.72 (wrong): the last two share the bin (10/15, 11/15].
    y = np.array([0, 1, 0])
    p = np.array([[0.95, 0.05], [0.30, 0.70], [0.28, 0.72]])
    by_hand = 1 / 3 * abs(1 - 0.95) + 2 / 3 * abs(0.5 - 0.71)
    assert expected_calibration_error(y, p) == pytest.approx(by_hand)
    assert expected_calibration_error([0, 1], [[1.0, 0.0], [0.0, 1.0]]) == 0.0


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95, 1.0])
def test_a_recall_target_is_met_on_the_images_it_is_chosen_on(target):
    y, p = _binary(200, seed=3)
    chosen = choose_threshold(y == 1, p[:, 1], target_recall=target)
    flagged = p[:, 1] >= chosen["threshold"]
    assert flagged[y == 1].mean() >= target
    assert chosen["recall"] == pytest.approx(flagged[y == 1].mean())
    assert chosen["target"] == {"recall": target}
    assert chosen == {**operating_point(y == 1, p[:, 1], chosen["threshold"]), "target": {"recall": target}}


def test_a_precision_target_picks_the_most_recall_that_meets_it():
    y, p = _binary(200, seed=4)
    chosen = choose_threshold(y == 1, p[:, 1], target_precision=0.6)
    assert chosen["precision"] >= 0.6
    for t in np.unique(p[:, 1]):
        point = operating_point(y == 1, p[:, 1], t)
        if point["precision"] is not None and point["precision"] >= 0.6:
            assert point["recall"] <= chosen["recall"]
    with pytest.raises(ValueError, match="no threshold reaches it"):
        choose_threshold(y == 1, p[:, 1] * 0 + 0.5, target_precision=0.99)
    with pytest.raises(ValueError, match="one target"):
        choose_threshold(y == 1, p[:, 1], target_recall=0.9, target_precision=0.9)


def test_temperature_scaling_recovers_a_known_temperature_and_lowers_the_log_loss():
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 4, generator=g) * 2
    labels = torch.multinomial(true_logits.softmax(1), 1, generator=g)[:, 0]
    overconfident = true_logits * 2.5
    t = fit_temperature(overconfident.numpy(), labels.numpy())
    assert t == pytest.approx(2.5, rel=0.1)
    nll = torch.nn.functional.cross_entropy
    assert nll(overconfident / t, labels) < nll(overconfident, labels)
