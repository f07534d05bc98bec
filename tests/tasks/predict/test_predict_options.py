"""`convzoo predict` options: conflicts and impossible values are one-line
errors; --weights takes a `convzoo train` checkpoint (issue 11, item 7)."""
import json
from pathlib import Path

import pytest

from convzoo.cli import main
from convzoo.data.preprocessing import Preprocessing
from convzoo.factory import get_model
from convzoo.tasks.shared.checkpoint import save_checkpoint

from paths import EXAMPLES

COFFEE = str(EXAMPLES / "coffee.png")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint as `convzoo train` writes it: weights plus the JSON sidecar."""
    model = get_model("resnet18", num_classes=3)
    meta = {"model": "resnet18", "classes": ["ant", "bee", "cat"], "preprocessing": Preprocessing(64, 73).to_dict()}
    return save_checkpoint(tmp_path_factory.mktemp("run"), "best", model, meta)


@pytest.mark.parametrize("option", [["--model", "resnet50"], ["--weights", "DEFAULT"]])
def test_checkpoint_with_model_or_weights_is_an_error(option, checkpoint, capsys):
    assert main(["predict", COFFEE, "--checkpoint", str(checkpoint), *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convzoo: error: --checkpoint brings its own model and weights") and err.count("\n") == 1


@pytest.mark.parametrize("option, value, message", [
    ("--topk", "0", "not a positive integer"),
    ("--topk", "-3", "not a positive integer"),
    ("--batch-size", "0", "not a positive integer"),
    ("--batch-size", "2.5", "not a whole number"),
    ("--workers", "-1", "is negative"),
    ("--max-pixels", "-1", "is negative"),
    ("--timeout", "0", "not a positive number"),
    ("--topk", "five", "not a whole number"),
])
def test_impossible_values_are_errors(option, value, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", COFFEE, option, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and message in err


def test_max_pixels_takes_scientific_notation(capsys):
    assert main(["predict", COFFEE, "--max-pixels", "1.5e5", "--json"]) == 1  # 240,000 pixels > 150,000
    assert "over the limit of 150,000" in capsys.readouterr().err


def test_weights_given_a_convzoo_checkpoint_works_like_checkpoint(checkpoint, capsys):
    assert main(["predict", COFFEE, "--checkpoint", str(checkpoint), "--json", "--topk", "3"]) == 0
    by_checkpoint = json.loads(capsys.readouterr().out)
    assert main(["predict", COFFEE, "--weights", str(checkpoint), "--json", "--topk", "3"]) == 0
    by_weights = json.loads(capsys.readouterr().out)
    assert by_weights == by_checkpoint
    assert sorted(by_weights["labels"]) == ["ant", "bee", "cat"]
    assert (by_weights["model"], by_weights["weights"]) == ("resnet18", str(checkpoint))
    # --model may repeat the checkpoint's model, not contradict it.
    assert main(["predict", COFFEE, "--weights", str(checkpoint), "--model", "resnet18", "--json"]) == 0
    capsys.readouterr()
    assert main(["predict", COFFEE, "--weights", str(checkpoint), "--model", "resnet50"]) == 2
    assert "is a checkpoint of resnet18, not resnet50" in capsys.readouterr().err
