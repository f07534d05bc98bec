"""The main job: classify real photos with shipped pretrained weights, offline."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from convzoo.cli import main

from paths import EXAMPLES

CATS = {"tabby", "tiger cat", "Egyptian cat"}


def test_default_classifier_on_real_photos(lite0_classifier):
    coffee, cat = lite0_classifier.predict([EXAMPLES / "coffee.png", EXAMPLES / "chelsea.png"], topk=5)
    assert coffee.labels[0] == "espresso" and coffee.indices[0] == 967
    assert cat.labels[0] in CATS
    for pred in (coffee, cat):
        assert pred.probs == sorted(pred.probs, reverse=True) and 0 < sum(pred.probs) <= 1.0001


def test_inputs_of_every_kind_agree(lite0_classifier):
    """Path, PIL, uint8 array, float tensor (CHW) and RGBA give the same answer;
    grey images (2-D arrays) work too."""
    path = EXAMPLES / "coffee.png"
    pil = Image.open(path).convert("RGB")
    arr = np.array(pil)
    tensor = torch.from_numpy(arr).permute(2, 0, 1).float() / 255
    rgba = pil.copy()
    rgba.putalpha(255)
    preds = lite0_classifier.predict([str(path), pil, arr, tensor, rgba], topk=1)
    assert {p.indices[0] for p in preds} == {967}
    grey = lite0_classifier.predict(np.asarray(pil.convert("L")), topk=3)[0]
    assert len(grey.labels) == 3 and grey.error is None


def test_bad_inputs_are_reported_and_good_ones_classified(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(EXAMPLES / "coffee.png", folder / "good.png")
    (folder / "notes.txt").write_text("not an image")  # skipped in a folder, an error when named
    data = (EXAMPLES / "chelsea.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 3])
    missing = tmp_path / "missing.jpg"
    code = main(["predict", str(folder), str(folder / "notes.txt"), str(missing), "--json", "--topk", "2"])
    out, err = capsys.readouterr()
    assert code != 0
    results = {Path(r["source"]).name: r for r in map(json.loads, out.strip().splitlines())}
    assert results["good.png"]["labels"][0] == "espresso"
    assert "not an image" in results["notes.txt"]["error"]
    assert "damaged" in results["truncated.png"]["error"]
    assert "no such file" in results["missing.jpg"]["error"]
    for name in ("notes.txt", "truncated.png", "missing.jpg"):
        assert name in err
    assert "3 of 4 inputs failed" in err


def test_table_output(capsys):
    assert main(["predict", str(EXAMPLES / "chelsea.png"), "--topk", "3"]) == 0
    out = capsys.readouterr().out
    assert "chelsea.png" in out and out.count("%") == 3


def test_unknown_model_and_tag_are_one_line_errors(capsys):
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--model", "efficientnet_lite"]) == 2
    assert "efficientnet_lite0" in capsys.readouterr().err
    assert main(["predict", str(EXAMPLES / "coffee.png"), "--weights", "IMAGENET1K_V9"]) == 2
    assert "available" in capsys.readouterr().err


def test_cli_entry_point_offline(tmp_path):
    """The installed `convzoo` command, with no network and an empty cache."""
    env = dict(os.environ, CONVZOO_OFFLINE="1", CONVZOO_HOME=str(tmp_path))
    exe = Path(sys.executable).with_name("convzoo")
    proc = subprocess.run([str(exe), "predict", str(EXAMPLES / "coffee.png"), "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["labels"][0] == "espresso"
    assert not any(tmp_path.iterdir()), "the packaged weights must be used, not downloaded"


def test_list_and_info_commands(capsys):
    assert main(["list", "resnet*", "--pretrained"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "80.9" in out  # torchvision's IMAGENET1K_V2 acc@1
    assert main(["info", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "stage 3" in out and "IMAGENET1K_V1" in out
    assert main(["info", "resnet05"]) == 2
    assert "resnet50" in capsys.readouterr().err
