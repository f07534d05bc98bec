"""The decision rule (temperature, positive class, threshold), test-time augmentation
views, and ensembles of checkpoints, as the Classifier applies them."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo import get_model
from convzoo.data.preprocessing import Preprocessing
from convzoo.tasks.predict.classifier import Classifier
from convzoo.tasks.shared.checkpoint import save_checkpoint
from convzoo.tasks.shared.decision import DecisionRule, NoThresholdError, default_positive

CLASSES = ("good", "defect")


def test_threshold_moves_the_decision_to_the_positive_class():
    probs = torch.tensor([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]])
    assert DecisionRule(CLASSES).decide(probs).tolist() == [0, 0, 1]
    assert DecisionRule(CLASSES, "defect", 0.25).decide(probs).tolist() == [0, 1, 1]
    assert DecisionRule(CLASSES, "defect", 0.65).decide(probs).tolist() == [0, 0, 0]


def test_multiclass_threshold_falls_back_to_the_best_other_class():
    rule = DecisionRule(("a", "b", "c"), "c", 0.3)
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.2, 0.45, 0.35], [0.1, 0.6, 0.3]])
    assert rule.decide(probs).tolist() == [0, 2, 2]


def test_temperature_softens_without_changing_the_ranking():
    logits = torch.tensor([[4.0, 1.0, -2.0]])
    hot, cool = DecisionRule(("a", "b", "c")).probabilities(logits), DecisionRule(("a", "b", "c"), temperature=2.0)
    soft = cool.probabilities(logits)
    assert soft.argmax() == hot.argmax() and soft.max() < hot.max()
    assert torch.allclose(soft, (logits / 2).softmax(1))


@pytest.mark.parametrize("kwargs, message", [
    (dict(positive="scratch"), "not a class"),
    (dict(positive="defect", threshold=1.5), "between 0 and 1"),
    (dict(threshold=0.5), "needs a positive class"),
    (dict(temperature=0.0), "positive"),
])
def test_bad_rules_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        DecisionRule(CLASSES, **kwargs)
    assert "\n" not in str(error.value)


def test_default_positive_is_the_rarer_class_of_two():
    assert default_positive(CLASSES, {"good": 90, "defect": 10}) == "defect"
    assert default_positive(CLASSES, {"good": 5, "defect": 10}) == "good"
    assert default_positive(CLASSES) == "defect"
    assert default_positive(("a", "b", "c"), {"a": 1, "b": 2, "c": 3}) is None


def test_tta_views_are_the_crop_and_its_mirror():
    pre = Preprocessing(32, 37)
    image = Image.fromarray((np.random.default_rng(0).random((50, 60, 3)) * 255).astype(np.uint8))
    flip, crops, plain = pre.tta_transforms("flip")(image), pre.tta_transforms("crops")(image), pre.transforms()(image)
    assert flip.shape == (2, 3, 32, 32) and crops.shape == (10, 3, 32, 32)
    assert torch.allclose(flip[0], plain) and torch.allclose(flip[1], plain.flip(-1))
    assert torch.allclose(crops[8], plain) and torch.allclose(crops[9], plain.flip(-1))  # the centre crop is 5th
    with pytest.raises(ValueError, match="--tta"):
        pre.tta_transforms("rotate")


def _checkpoint(folder, seed, decision=None):
    torch.manual_seed(seed)
    model = get_model("resnet18", weights=None, num_classes=2)
    meta = {"model": "resnet18", "classes": list(CLASSES), "preprocessing": Preprocessing(32, 37).to_dict(),
            "in_chans": 3, "class_counts": {"good": 90, "defect": 10}, "config": {"hflip": True}}
    if decision:
        meta["decision"] = decision
    return save_checkpoint(folder, "best", model, meta), model


@pytest.fixture
def photo():
    return Image.fromarray((np.random.default_rng(1).random((40, 40, 3)) * 255).astype(np.uint8))


def test_saved_rule_gives_calibrated_probabilities_and_the_decision(tmp_path, photo):
    path, model = _checkpoint(tmp_path, 0, {"positive": "defect", "threshold": 0.05, "temperature": 3.0,
                                            "chosen_on": {"target": {"recall": 0.95}}})
    clf = Classifier.from_checkpoint(path, progress=False)
    pred = clf.predict([photo])[0]
    with torch.inference_mode():
        logits = model.eval()(clf.transform(photo)[None])
    expected = (logits / 3.0).softmax(1)[0]
    assert pred.probs == pytest.approx(sorted(expected.tolist(), reverse=True), abs=1e-5)
    assert pred.decision == "defect" and pred.probability == pytest.approx(expected[1].item(), abs=1e-5)
    assert "recall 0.95" in clf.rule.describe()
    # none: the argmax, still calibrated
    argmax = Classifier.from_checkpoint(path, threshold="none", progress=False).predict([photo])[0]
    assert argmax.decision == CLASSES[int(expected.argmax())]


def test_threshold_auto_without_a_saved_one_names_calibrate(tmp_path):
    path, _ = _checkpoint(tmp_path, 0)
    with pytest.raises(NoThresholdError, match="convzoo calibrate"):
        Classifier.from_checkpoint(path, threshold="auto")
    with pytest.raises(ValueError, match="classes are good, defect"):
        Classifier.from_checkpoint(path, threshold=0.3, positive="crack")


def test_ensemble_averages_members_calibrated_probabilities(tmp_path, photo):
    a, model_a = _checkpoint(tmp_path / "a", 0, {"positive": "defect", "threshold": 0.3, "temperature": 2.0})
    b, model_b = _checkpoint(tmp_path / "b", 1)
    clf = Classifier.from_checkpoint([a, b], tta="flip", progress=False)
    views = clf.transform(photo)
    with torch.inference_mode():
        expected = ((model_a.eval()(views) / 2.0).softmax(1).mean(0) + model_b.eval()(views).softmax(1).mean(0)) / 2
    assert clf.probabilities(views[None])[0].tolist() == pytest.approx(expected.tolist(), abs=1e-5)
    pred = clf.predict([photo])[0]
    assert pred.probability == pytest.approx(expected.max().item(), abs=1e-5)
    with pytest.raises(ValueError, match="ensemble"):
        Classifier.from_checkpoint([a, b], threshold="auto")


def test_ensemble_members_must_share_classes(tmp_path):
    a, _ = _checkpoint(tmp_path / "a", 0)
    b, _ = _checkpoint(tmp_path / "b", 1)
    sidecar = b.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps(dict(meta, classes=["ok", "bad"])))
    with pytest.raises(ValueError, match="not an ensemble member"):
        Classifier.from_checkpoint([a, b])
