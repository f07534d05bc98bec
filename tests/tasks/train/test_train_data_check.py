"""`convzoo train` starts with the data check's line, and --exclude-duplicates leaves out
what it finds (on real MNIST digits with planted copies), remembered for eval's redraw."""
import shutil

import pytest
import torch

from convzoo.data.datasets import held_out_split, load_dataset
from convzoo.tasks.shared.distributed import DistContext
from convzoo.tasks.train.data_check import check_training_data
from convzoo.tasks.shared.checkpoint import load_checkpoint
from convzoo.tasks.train.loop import TrainConfig, train

from mnist_folder import write_mnist_folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """ROOT/{train,val}/CLASS with one train image copied into val (leakage) and one
    train image filed under a second class too (conflicting labels)."""
    root = tmp_path_factory.mktemp("planted")
    write_mnist_folder(root / "train", per_class=8, classes=range(3))
    write_mnist_folder(root / "val", per_class=4, classes=range(3), offset=8)
    leaked = sorted((root / "train" / "1").iterdir())[0]
    shutil.copy(leaked, root / "val" / "1" / "leaked.png")
    twice = sorted((root / "train" / "2").iterdir())[0]
    shutil.copy(twice, root / "train" / "0" / "also_a_zero.png")
    return root, leaked, twice


def _cfg(data, out, **kw):
    return TrainConfig(data=str(data), model="resnet18", weights=None, epochs=1, batch_size=8, image_size=32,
                       out=str(out), progress=False, seed=0, **kw)


def test_the_check_line_and_what_exclude_duplicates_leaves_out(planted, tmp_path, capsys):
    root, leaked, twice = planted
    split = load_dataset(root)
    assert check_training_data(split, DistContext(0, 1, 0, torch.device("cpu")), tmp_path, image_size=32, exclude=False) is split
    log = capsys.readouterr().err
    assert "data check: 38 images, 3 classes" in log and "1 leakage" in log and "1 conflicting labels" in log
    assert "train --exclude-duplicates leaves them out" in log
    assert check_training_data(split, DistContext(0, 1, 0, torch.device("cpu")), tmp_path, image_size=32, exclude=False, check=False) is split
    assert capsys.readouterr().err == ""  # --no-check

    out = tmp_path / "dropped"
    train(_cfg(root, out, exclude_duplicates=True))
    log = capsys.readouterr().err
    assert "--exclude-duplicates: left out 3 images (2 train, 1 val)" in log
    listed = (out / "excluded_images.txt").read_text().split()
    assert listed == sorted(["val/1/leaked.png", "train/0/also_a_zero.png", f"train/2/{twice.name}"])
    _, meta = load_checkpoint(out / "best.safetensors")
    assert sum(meta["class_counts"].values()) == 25 - 2  # the image under two classes: both copies gone
    assert meta["split"]["val_images"] == 12  # 13 val images less the leaked copy


def test_the_held_out_redraw_leaves_out_the_same_images(tmp_path, capsys):
    root = write_mnist_folder(tmp_path / "flat", per_class=10, classes=range(2))
    first = sorted((root / "0").iterdir())[0]
    shutil.copy(first, root / "1" / "a_one_too.png")
    out = tmp_path / "run"
    train(_cfg(root, out, exclude_duplicates=True, check_data=False))
    assert "left out 2 images" in capsys.readouterr().err
    _, meta = load_checkpoint(out / "best.safetensors")
    record = meta["split"]
    assert sorted(record["excluded"]) == sorted([f"0/{first.name}", "1/a_one_too.png"])
    redrawn = held_out_split(root, record)
    assert redrawn.val_digest() == record["val_digest"] and len(redrawn.val) == record["val_images"]
