"""`convzoo explain` (issue 17, Grad-CAM via torchcam): on the real Lite0 weights
and the cat photo, the heat lies on the cat."""
import sys

import numpy as np
import pytest
from PIL import Image

from convzoo.cli import main
from convzoo.tasks import explain as explain_module
from convzoo.tasks.anatomy.explain import explain

from paths import EXAMPLES

CAT = EXAMPLES / "chelsea.png"  # 451 x 300
# Drawn by hand on the photo (x0, y0, x1, y1): the cat, which fills all but the
# background strip on the right; its face (eyes to chin); that background strip.
CAT_BOX = (0, 0, 400, 300)
FACE_BOX = (110, 40, 360, 290)
BACKGROUND = (405, 0, 451, 300)


def _heat(heatmap, box):
    x0, y0, x1, y1 = box
    return heatmap[y0:y1, x0:x1]


@pytest.fixture(scope="module")
def cat_explained():
    return explain(CAT, model="efficientnet_lite0", weights="DEFAULT")


def test_gradcam_of_the_real_weights_lies_on_the_cat(cat_explained):
    e = cat_explained
    assert e.label in {"tabby", "tiger cat", "Egyptian cat"}
    assert e.heatmap.shape == (300, 451) and 0 <= e.heatmap.min() and e.heatmap.max() <= 1
    inside = _heat(e.heatmap, CAT_BOX).sum() / e.heatmap.sum()
    assert inside > 0.93, f"only {inside:.0%} of the heat inside the box around the cat"
    face, background = _heat(e.heatmap, FACE_BOX).mean(), _heat(e.heatmap, BACKGROUND).mean()
    assert face > 2.5 * background, f"face {face:.2f} vs background {background:.2f}"


def test_another_class_gets_another_map(cat_explained):
    other = explain(CAT, model="efficientnet_lite0", weights="DEFAULT", class_index=404)  # airliner
    assert other.class_index == 404 and other.probability < cat_explained.probability
    assert not np.allclose(other.heatmap, cat_explained.heatmap, atol=0.05)


def test_cli_writes_the_overlay(tmp_path, capsys):
    assert main(["explain", str(CAT), "--out", str(tmp_path)]) == 0
    written = tmp_path / "chelsea_efficientnet_lite0_gradcam.png"
    out = capsys.readouterr().out
    assert written.name in out and "cat" in out
    assert Image.open(written).size == (451, 300)
    assert [p.name for p in tmp_path.iterdir()] == [written.name]  # no temporary file left


def test_cli_bad_image_is_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert main(["explain", str(bad), "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["broken.png"]


def test_missing_torchcam_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcam", None)
    with pytest.raises(ValueError, match=r"pip install 'convzoo\[explain\]'"):
        explain_module.require_torchcam()
