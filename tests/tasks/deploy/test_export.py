"""`convzoo export` / convzoo.export (issue 14): the file is written atomically,
read back in its own runtime and compared with eager; its JSON sidecar is
enough to deploy it without convzoo; bad requests are one-line errors that
leave nothing behind."""
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import convzoo as cz
from convzoo.cli import main
from convzoo.data.preprocessing import Preprocessing
from convzoo.factory import get_model
from convzoo.tasks.shared.checkpoint import save_checkpoint
from convzoo.tasks.deploy.export import FORMATS, sidecar_path
from parity import randomize_
from paths import EXAMPLES

PHOTOS = sorted(EXAMPLES.glob("*.png"))


def preprocess_as_the_sidecar_says(path: Path, pre: dict) -> np.ndarray:
    """What a deployment without convzoo (or torchvision) does with the sidecar:
    PIL and numpy only."""
    image = Image.open(path).convert("RGB")
    scale = pre["resize_size"] / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)),
                         getattr(Image.Resampling, pre["interpolation"].upper()))
    left, top = (image.width - pre["crop_size"]) // 2, (image.height - pre["crop_size"]) // 2
    image = image.crop((left, top, left + pre["crop_size"], top + pre["crop_size"]))
    x = (np.asarray(image, dtype=np.float32) / 255 - pre["mean"]) / pre["std"]
    return x.transpose(2, 0, 1)[None].astype(np.float32)


@pytest.fixture(scope="module")
def lite0_top1():
    """efficientnet_lite0 (real ImageNet weights) eager top-1 of each example photo."""
    clf = cz.Classifier("efficientnet_lite0", device="cpu")
    return {p.name: clf.predict([str(p)], topk=1)[0].labels[0] for p in PHOTOS}


def run_file(fmt: str, path: Path):
    return FORMATS[fmt].load(path)


# TFLite's converter takes ~20 s; its files are checked against eager in the default
# run too (test_tflite_export.py).
@pytest.mark.parametrize("fmt", ["onnx", "openvino", pytest.param("tflite", marks=pytest.mark.slow)])
def test_real_weights_keep_their_answers_deployed_from_the_sidecar(fmt, tmp_path, lite0_top1):
    """Lite0's file, fed as the sidecar describes (PIL + numpy preprocessing),
    names the same class as the eager model for every example photo."""
    suffix = FORMATS[fmt].suffix
    report = cz.export("efficientnet_lite0", fmt, tmp_path / f"lite0{suffix}")
    meta = json.loads(sidecar_path(report.path).read_text())
    assert meta["model"] == "efficientnet_lite0" and meta["weights"] == "IMAGENET1K_LUKEMELAS"
    assert len(meta["classes"]) == 1000 and meta["input"]["shape"] == [1, 3, 224, 224]
    run = run_file(fmt, report.path)
    for photo in PHOTOS:
        logits = run(preprocess_as_the_sidecar_says(photo, meta["preprocessing"]))
        assert meta["classes"][int(np.argmax(logits))] == lite0_top1[photo.name], photo.name


# TFLite's twin of this test runs in a pytest process apart: test_tflite_export.py.
@pytest.mark.parametrize("fmt", ["openvino"])
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_openvino_files_compute_what_the_model_does(name, fmt, tmp_path):
    model = randomize_(get_model(name)).eval()
    report = cz.export(model, fmt, tmp_path / f"{name}{FORMATS[fmt].suffix}", image_size=96, tolerance=1e-4)
    assert report.max_relative_difference <= 1e-4
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x).numpy()
    got = run_file(fmt, report.path)(x.numpy())
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    if fmt == "openvino":
        assert sorted(f.name for f in report.files) == [f"{name}.bin", f"{name}.xml", f"{name}.xml.json"]


def test_openvino_conversion_keeps_torch_jit_notices_from_the_user(recwarn, tmp_path):
    """openvino.convert_model traces with torch.jit, which torch 2.14 marks deprecated (a FutureWarning
    per conversion): OpenVINO's notice, not something the user can act on, so export and optimize keep
    it quiet. Either path printing it again fails here."""
    model = get_model("resnet18").eval()
    cz.export(model, "openvino", tmp_path / "r.xml", image_size=64)
    cz.optimize(model, runtime="openvino", input_size=64)
    shown = [str(w.message) for w in recwarn if "torch.jit" in str(w.message)]
    assert shown == []


def test_tflite_refuses_a_free_batch_size(tmp_path):
    with pytest.raises(ValueError, match="'tflite' has a fixed batch size: drop dynamic_batch"):
        cz.export(get_model("resnet18"), "tflite", tmp_path / "r.tflite", dynamic_batch=True)
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_a_checkpoint_with_its_classes_and_preprocessing(tmp_path, capsys):
    model = get_model("mobilenet_v3_small", num_classes=3)
    meta = {"model": "mobilenet_v3_small", "classes": ["ok", "scratch", "dent"],
            "preprocessing": Preprocessing(64, 73).to_dict()}
    checkpoint = save_checkpoint(tmp_path / "run", "best", model, meta)
    out = tmp_path / "deploy" / "inspector.pt"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "torchscript", "--out", str(out),
                 "--dynamic-batch"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"wrote {out}") and "torch.jit.load: max relative difference to eager" in line
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar["classes"] == ["ok", "scratch", "dent"]
    assert sidecar["preprocessing"]["crop_size"] == 64 and sidecar["input"]["shape"] == ["batch", 3, 64, 64]
    loaded = torch.jit.load(str(out))
    x = torch.randn(5, 3, 64, 64)
    reference = cz.get_model("mobilenet_v3_small", weights=str(checkpoint), num_classes=3).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x))


def test_sidecar_carries_the_checkpoints_decision_rule_and_deciding_by_it_matches_convzoo(tmp_path, capsys):
    """A calibrated checkpoint's rule (temperature, positive class, threshold) is in the
    exported sidecar with how to apply it; applied to the file's logits, with numpy only,
    it gives Classifier.from_checkpoint's decisions and probabilities (issue 26)."""
    torch.manual_seed(0)
    meta = {"model": "resnet18", "classes": ["good", "defect"], "preprocessing": Preprocessing(32, 37).to_dict(),
            "decision": {"positive": "defect", "threshold": 0.5, "temperature": 1.7,
                         "chosen_on": {"images": 40, "target": {"recall": 0.95}, "fingerprints": ["0" * 16] * 40}}}
    checkpoint = save_checkpoint(tmp_path / "run", "best", get_model("resnet18", num_classes=2), meta)
    photos = [Image.open(p).convert("RGB") for p in PHOTOS]
    photos += [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for image in photos]
    photos += [image.crop((0, 0, 150, 150)) for image in photos]
    # The threshold: halfway between the middle two calibrated defect probabilities (random weights, all near 0.5).
    clf = cz.Classifier.from_checkpoint(checkpoint, threshold="none", progress=False)
    batch = torch.stack([clf.transform(image) for image in photos])
    defect = sorted(clf.probabilities(batch)[:, 1].tolist())
    meta["decision"]["threshold"] = (defect[3] + defect[4]) / 2  # of 8
    checkpoint.with_suffix(".json").write_text(json.dumps(meta))

    out = tmp_path / "inspector.pt"
    assert main(["export", "--checkpoint", str(checkpoint), "--format", "torchscript", "--out", str(out),
                 "--dynamic-batch"]) == 0
    rule = json.loads(sidecar_path(out).read_text())["decision"]
    assert {k: rule[k] for k in ("positive", "threshold", "temperature")} == {
        "positive": "defect", "threshold": meta["decision"]["threshold"], "temperature": 1.7}
    assert "softmax(logits / temperature)" in rule["apply"] and "'defect' when its probability >= threshold" in \
        rule["apply"]
    assert rule["chosen_on"] == {"images": 40, "target": {"recall": 0.95}}  # the fingerprints stay home

    with torch.no_grad():  # deployment code: the file's logits, the sidecar's rule, numpy
        logits = torch.jit.load(str(out))(batch).numpy()
    scaled = logits / rule["temperature"]
    probs = np.exp(scaled - scaled.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    positive = ["good", "defect"].index(rule["positive"])
    decided = np.where(probs[:, positive] >= rule["threshold"], positive, 1 - positive)
    expected = cz.Classifier.from_checkpoint(checkpoint, progress=False).predict(photos)
    assert [["good", "defect"][i] for i in decided] == [p.decision for p in expected]
    assert sorted(p.decision for p in expected).count("defect") == 4  # the threshold splits the images
    np.testing.assert_allclose(probs[np.arange(len(photos)), decided], [p.probability for p in expected], atol=1e-5)


def test_cli_refuses_weights_beside_a_checkpoint(tmp_path, capsys):
    assert main(["export", "--checkpoint", str(tmp_path / "x.safetensors"), "--weights", "DEFAULT",
                 "--format", "onnx"]) == 2
    assert "--checkpoint brings its own model and weights" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["export", "--format", "onnx"], "name a model (convzoo export resnet18 ...) or give --checkpoint PATH"),
    (["export", "resnt18", "--format", "onnx"], "unknown model 'resnt18'. Did you mean: resnet18"),
])
def test_cli_bad_requests_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_unknown_format_lists_the_formats(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "resnet18", "--format", "pdf"])
    assert exit_.value.code == 2
    assert "invalid choice: 'pdf' (choose from 'onnx', 'exported-program'" in capsys.readouterr().err


def test_unknown_format_names_the_formats():
    with pytest.raises(ValueError, match="unknown export format 'pdf': choose one of onnx, exported-program, "
                                         "torchscript, openvino, tflite"):
        cz.export(get_model("resnet18"), "pdf")


class DataDependent(nn.Module):
    """A branch on the values of the input: no graph capture can keep it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:
            return y.mean((2, 3))
        return -y.mean((2, 3))


@pytest.mark.parametrize("fmt", ["exported-program", "onnx"])
def test_a_model_that_cannot_be_captured_is_a_clear_error_and_leaves_nothing(fmt, tmp_path):
    with pytest.raises(cz.ExportError, match=rf"cannot export DataDependent to {fmt}: \w+"):
        cz.export(DataDependent(), fmt, tmp_path / f"m{FORMATS[fmt].suffix}", image_size=16)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_disagrees_with_the_model_is_not_written(tmp_path, monkeypatch):
    """Verification runs before the rename: a file whose runtime answers 1% off never lands."""
    fmt = FORMATS["torchscript"]
    monkeypatch.setitem(FORMATS, "torchscript", dataclasses.replace(
        fmt, load=lambda path: (lambda x: fmt.load(path)(x) * 1.01)))
    with pytest.raises(cz.ExportError, match=r"does not compute what the model does: max relative difference "
                                             r"1\.0\de-02 > 0\.001 .* nothing was written"):
        cz.export(get_model("squeezenet1_1"), "torchscript", tmp_path / "s.pt", image_size=64)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_replaced_only_by_a_verified_one(tmp_path):
    target = tmp_path / "s.pt"
    target.write_bytes(b"previous")
    with pytest.raises(ValueError, match="does not run on a"):
        cz.export(get_model("squeezenet1_1"), "torchscript", target, image_size=8)
    assert target.read_bytes() == b"previous"
    cz.export(get_model("squeezenet1_1"), "torchscript", target, image_size=64)
    assert target.read_bytes() != b"previous"


@pytest.mark.parametrize("out, message", [
    ("blocker/m.onnx", "blocker is a file, not a folder; choose another output path"),
    ("folder", "it is a folder; give a file name"),
    ("m.json", ".json is the sidecar's name"),
])
def test_unwritable_output_paths(out, message, tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file")
    (tmp_path / "folder").mkdir()
    assert main(["export", "squeezenet1_1", "--weights", "none", "--format", "onnx", "--out",
                 str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_formats_whose_runtime_needs_their_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"an openvino file must end in \.xml: name it .*m\.xml"):
        cz.export(get_model("squeezenet1_1"), "openvino", tmp_path / "m.ir")
    with pytest.raises(ValueError, match=r"must end in \.pt2"):
        cz.export(get_model("squeezenet1_1"), "exported-program", tmp_path / "m.pt")


@pytest.mark.parametrize("module, fmt, extra", [("litert_torch", "tflite", "tflite"),
                                                ("openvino", "openvino", "openvino"),
                                                ("onnxruntime", "onnx", "onnx")])
def test_a_missing_runtime_names_its_extra(module, fmt, extra, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like to import
    with pytest.raises(ValueError, match=rf"format '{fmt}' needs the optional dependency '{module}': "
                                         rf"pip install 'convzoo\[{extra}\]'"):
        cz.export(get_model("squeezenet1_1"), fmt, tmp_path / f"m{FORMATS[fmt].suffix}")
    assert list(tmp_path.iterdir()) == []


def test_weights_over_the_protobuf_limit_go_to_a_data_file_beside_the_onnx(tmp_path, monkeypatch):
    """regnet_y_128gf's 2.6 GB cannot sit inside one protobuf: the weights go to
    MODEL.onnx.data, which moves in with the graph and is named in the sidecar
    (shown here on a small model, with the limit lowered)."""
    from convzoo.tasks.deploy.export import onnx_format

    monkeypatch.setattr(onnx_format, "MAX_INLINE_BYTES", 1000)
    report = cz.export(get_model("squeezenet1_1"), "onnx", tmp_path / "s.onnx", image_size=64)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["s.onnx", "s.onnx.data", "s.onnx.json"]
    assert json.loads(sidecar_path(report.path).read_text())["files"] == ["s.onnx.data", "s.onnx"]
    assert (tmp_path / "s.onnx.data").stat().st_size > (tmp_path / "s.onnx").stat().st_size
    assert report.max_relative_difference <= 1e-4
