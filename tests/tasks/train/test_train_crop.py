"""--train-crop: the network trains on smaller crops of the same scale and is
validated (and saved for prediction) at the full evaluation crop."""
import json

import pytest

from convzoo.cli import main
from convzoo.data.preprocessing import Preprocessing
from convzoo.tasks.train import loop
from convzoo.tasks.train.loop import TrainConfig, train, training_crop

from mnist_folder import write_mnist_folder


def test_the_training_crop_keeps_the_resize_so_objects_keep_their_size():
    pre = Preprocessing(224, 256)
    cfg = TrainConfig(data="", train_crop=160)
    assert training_crop(pre, cfg) == Preprocessing(160, 256)
    assert training_crop(pre, TrainConfig(data="")) is pre


def test_training_sees_the_training_crop_and_validation_the_full_crop(tmp_path, monkeypatch):
    digits = write_mnist_folder(tmp_path / "digits", per_class=8, classes=range(2))
    seen = {True: set(), False: set()}  # model.training -> input sides

    def recording(cfg, num_classes):
        model = build(cfg, num_classes)
        model.register_forward_pre_hook(lambda m, args: seen[m.training].add(tuple(args[0].shape[-2:])))
        return model

    build = loop.build_model
    monkeypatch.setattr(loop, "build_model", recording)
    out = tmp_path / "run"
    train(TrainConfig(str(digits), model="resnet18", weights=None, out=str(out), epochs=1, batch_size=4,
                      image_size=64, train_crop=32, progress=False, check_data=False, amp="none"))
    assert seen[True] == {(32, 32)}
    assert seen[False] == {(64, 64)}
    meta = json.loads((out / "last.json").read_text())
    assert meta["preprocessing"]["crop_size"] == 64  # what predict and eval will use
    assert meta["config"]["train_crop"] == 32


def test_a_training_crop_too_small_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="--train-crop 16: must be at least 32"):
        train(TrainConfig(str(tmp_path), train_crop=16, out=str(tmp_path / "run")))
    assert main(["train", str(tmp_path), "--train-crop", "16", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convzoo: error: --train-crop 16: must be at least 32") and "\n" not in err
