"""Validation scores what `convzoo eval` scores: fp32, whatever precision training ran in."""
import json

import pytest
import torch

from convzoo.cli import main
from convzoo.tasks.train.loop import TrainConfig, train, validation_model

from mnist_folder import write_mnist_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=10, classes=range(3))


# mobilenet_v3_small: its depthwise convolutions carry depthwise.py's fp32 patch into the copy
@pytest.mark.parametrize("model", ["resnet18", "mobilenet_v3_small"])
def test_a_run_trained_in_bf16_validates_as_eval_scores_its_best_checkpoint(digits, tmp_path, capsys, model):
    """The best epoch's validation (metrics.json, val_report.json) equals `convzoo eval`
    on best.safetensors and the same held-out split: the scores that chose the epoch
    are the deployed model's, not bf16's."""
    out = tmp_path / "run"
    result = train(TrainConfig(data=str(digits), out=str(out), model=model, weights=None, epochs=2,
                               batch_size=8, image_size=32, seed=1, progress=False, amp="bf16"))
    assert json.loads((out / "best.json").read_text())["config"]["amp"] == "bf16"
    best = json.loads((out / "metrics.json").read_text())["epochs"][result["best_epoch"] - 1]
    report = json.loads((out / "val_report.json").read_text())
    capsys.readouterr()

    assert main(["eval", str(digits), "--checkpoint", str(out / "best.safetensors"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert best["val_acc"] == pytest.approx(evaluated["accuracy"], abs=1e-9)
    assert best["val_loss"] == pytest.approx(evaluated["log_loss"], rel=1e-4)
    assert report["confusion_matrix"] == evaluated["confusion_matrix"]


def test_the_validation_model_is_an_fp32_copy_with_batchnorm_folded():
    """A copy: training goes on with the model's own BatchNorms and mode untouched."""
    import convzoo as cz

    model = cz.get_model("mobilenet_v3_small", num_classes=3).train()
    scored = validation_model(model)
    assert model.training and not scored.training
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert scored is not model and all(p.dtype == torch.float32 for p in scored.parameters())
    batchnorms = [sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) for net in (model, scored)]
    assert batchnorms[1] < batchnorms[0]  # folded in the copy only
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(scored(x), model.eval()(x), atol=1e-4)
