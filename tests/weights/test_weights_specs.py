"""Weights specs: torchvision's whole table, the packaged Lite weights, tags and errors."""
import csv
import re

import pytest

import convzoo as cz
from convzoo.weights.download import DownloadError
from convzoo.weights.torchvision import TABLE


def _rows():
    with open(TABLE) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    registered = set(cz.list_models())
    return [r for r in rows if r["model_name"] in registered]


ROWS = _rows()


def test_torchvision_rows_cover_registered_models():
    assert len(ROWS) >= 10


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["weights_enum_entry"])
def test_torchvision_tag_resolves_url_hash_and_preprocessing(row, tmp_path, monkeypatch):
    name, tag = row["model_name"], row["weights_enum_entry"].split(".", 1)[1]
    spec = cz.get_weights(name, tag)
    assert spec.url == row["url"]
    assert spec.file_name == row["url"].rsplit("/", 1)[1]
    assert spec.hash_prefix == re.search(r"-([0-9a-f]+)\.pth$", row["url"]).group(1)
    p = spec.preprocessing
    assert (p.resize_size, p.crop_size, p.interpolation) == (int(row["resize_size"]), int(row["crop_size"]), row["interpolation"])
    published = float(row["acc1"])
    assert spec.meta["acc1"] == (None if published != published else published)
    assert len(spec.categories) == 1000
    if row["is_default"] == "True":
        assert cz.get_weights(name) is spec
    # get_model resolves the same file (offline, so it names it instead of fetching it).
    monkeypatch.setenv("CONVZOO_HOME", str(tmp_path))
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    monkeypatch.delenv("CONVZOO_WEIGHTS_URL", raising=False)
    with pytest.raises(DownloadError, match=re.escape(row["url"])):
        cz.get_model(name, weights=tag)


def test_unknown_tag_names_close_matches():
    with pytest.raises(ValueError, match="IMAGENET1K_V2"):
        cz.get_weights("resnet50", "IMAGENET1K_V3")


def test_list_models_pretrained():
    pretrained = cz.list_models(pretrained=True)
    assert "resnet50" in pretrained
    assert set(pretrained) <= set(cz.list_models())


def test_transforms_give_normalised_crop():
    import numpy as np
    from PIL import Image

    t = cz.get_weights("resnet50", "IMAGENET1K_V2").transforms()
    x = t(Image.fromarray(np.full((300, 400, 3), 128, np.uint8)))
    assert tuple(x.shape) == (3, 224, 224)
    assert abs(x[0].mean().item() - (128 / 255 - 0.485) / 0.229) < 1e-3
