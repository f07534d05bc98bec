"""A run validated in bf16 ends by scoring its best checkpoint in fp32, as `convzoo eval` does."""
import json

import pytest

from convzoo.cli import main
from convzoo.tasks.train.loop import TrainConfig, train

from mnist_folder import write_mnist_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=10, classes=range(3))


def _cfg(data, out, **kw):
    base = dict(model="resnet18", weights=None, epochs=2, batch_size=8, image_size=32, seed=1, progress=False)
    return TrainConfig(data=str(data), out=str(out), **{**base, **kw})


def test_the_best_checkpoint_is_scored_again_in_fp32_as_eval_scores_it(digits, tmp_path, capsys):
    out = tmp_path / "run"
    result = train(_cfg(digits, out, amp="bf16"))
    err = capsys.readouterr().err
    assert f"best epoch {result['best_epoch']} scored again in fp32" in err, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_fp32"] == result["best_fp32"]
    report = json.loads((out / "val_report.json").read_text())

    # The reference: `convzoo eval` on the same checkpoint and held-out split, in fp32.
    assert main(["eval", str(digits), "--checkpoint", str(out / "best.safetensors"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert result["best_fp32"]["accuracy"] == pytest.approx(evaluated["accuracy"], abs=1e-9)
    assert result["best_fp32"]["log_loss"] == pytest.approx(evaluated["log_loss"], rel=1e-5)
    assert report["accuracy"] == pytest.approx(evaluated["accuracy"], abs=1e-9)
    assert report["confusion_matrix"] == evaluated["confusion_matrix"]


def test_a_run_validated_in_fp32_is_not_scored_twice(digits, tmp_path, capsys):
    out = tmp_path / "run"
    result = train(_cfg(digits, out, amp="none", epochs=1))
    assert result["best_fp32"] is None and "scored again in fp32" not in capsys.readouterr().err
    assert "best_fp32" not in json.loads((out / "metrics.json").read_text())
