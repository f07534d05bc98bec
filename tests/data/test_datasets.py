"""Stratified K folds (--folds K), and the held-out split redrawn from a sidecar's record."""
import shutil

import pytest

from convzoo.data.datasets import DatasetError, held_out_split, load_dataset

from mnist_folder import write_mnist_folder


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    write_mnist_folder(root, per_class=9, classes=[0])
    write_mnist_folder(root, per_class=3, classes=[1])
    return root


def test_folds_are_stratified_disjoint_and_cover_every_image(digits):
    splits = [load_dataset(digits, seed=4, folds=3, fold=k) for k in range(3)]
    every = {s.path for s in splits[0].train.samples + splits[0].val.samples}
    assert len(every) == 12
    vals = [{s.path for s in split.val.samples} for split in splits]
    assert set.union(*vals) == every and sum(map(len, vals)) == 12  # each image validates once
    for split, val in zip(splits, vals):
        assert not val & {s.path for s in split.train.samples}
        assert split.val.class_counts() == {"0": 3, "1": 1}  # stratified: every fold keeps the 3:1
        assert split.train.class_counts() == {"0": 6, "1": 2} and split.held_out
    assert [s.path for s in load_dataset(digits, seed=4, folds=3, fold=1).val.samples] == \
        [s.path for s in splits[1].val.samples]  # seeded
    assert {s.path for s in load_dataset(digits, seed=5, folds=3, fold=1).val.samples} != vals[1]


def test_held_out_split_redraws_both_kinds_of_record(digits):
    fold = load_dataset(digits, seed=4, folds=3, fold=2)
    again = held_out_split(digits, {"held_out": True, "folds": 3, "fold": 2, "seed": 4,
                                    "val_digest": fold.val_digest()})
    assert again.val_digest() == fold.val_digest()
    fraction = load_dataset(digits, 0.25, 6)
    assert held_out_split(digits, {"held_out": True, "val_fraction": 0.25, "seed": 6}).val_digest() == \
        fraction.val_digest()
    with pytest.raises(DatasetError, match="val/ folder"):
        held_out_split(digits, {"held_out": False, "val_images": 3})


def test_folds_refuse_a_train_val_folder_and_too_small_classes(digits, tmp_path):
    split_root = tmp_path / "split"
    shutil.copytree(digits, split_root / "train")
    shutil.copytree(digits, split_root / "val")
    with pytest.raises(DatasetError, match=r"^--folds 3: .* already split into train/ and val/; .* a CSV"):
        load_dataset(split_root, folds=3)
    with pytest.raises(DatasetError, match=r"^--folds 4: class 1 has only 3 images, .*use --folds 3 or fewer$"):
        load_dataset(digits, folds=4)
    with pytest.raises(DatasetError, match="--folds 1: use 2 or more"):
        load_dataset(digits, folds=1)


def test_class_counts_of_a_split(digits):
    split = load_dataset(digits, 0.25, 0)
    assert split.train.class_counts() == {"0": 7, "1": 2} and split.val.class_counts() == {"0": 2, "1": 1}
    assert split.train.labels == [s.label for s in split.train.samples]
