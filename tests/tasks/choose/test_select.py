"""`convzoo select`: a linear probe of pretrained backbones on real MNIST digits, their latency and
size, the budget's pick, the files, and the one-line errors.

One small run serves most tests: 3 digit classes x 20 images at 64 px, with
EfficientNet-Lite0 (shipped weights) and MobileNet v1 (no published weights);
one thread, as in test_bench and test_compare."""
import csv
import json
import sys

import pytest
from PIL import Image

import convzoo as cz
from convzoo.cli.select import param_count
from convzoo.tasks.choose.select import Budget, rank_and_recommend
from mnist_folder import write_mnist_folder

SMALL_RUN = ["--image-size", "64", "--rounds", "2", "--threads", "1", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=20, classes=range(3))


@pytest.fixture(scope="module")
def select_run(digits, tmp_path_factory, run_cli):
    folder = tmp_path_factory.mktemp("select")
    code, out, err = run_cli(["select", str(digits), "--models", "efficientnet_lite0", "mobilenet_v1",
                              "--max-latency-ms", "5000", "--out", str(folder / "ranking.csv"),
                              "--plot", str(folder / "select.png"), *SMALL_RUN])
    with open(folder / "ranking.csv", newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    return folder, code, out, err, rows


def test_the_probed_model_has_accuracy_with_spread_latency_and_its_size(select_run):
    _, code, out, err, rows = select_run
    assert code == 0, err
    lite = rows["efficientnet_lite0"]
    acc, std, held = float(lite["probe_acc"]), float(lite["probe_acc_std"]), float(lite["heldout_acc"])
    assert 0 <= acc <= 1 and 0 <= std <= 1 and 0 <= held <= 1
    assert acc > 0.6  # ImageNet features separate 0, 1 and 2 far better than chance (1/3)
    assert int(lite["folds"]) == 5 and int(lite["image_size"]) == 64 and int(lite["feature_dim"]) == 1280
    assert float(lite["latency_ms"]) > 0 and float(lite["latency_iqr_ms"]) >= 0
    # Counted as deployed: the backbone and a classifier for the 3 classes.
    assert int(lite["params"]) == sum(p.numel() for p in cz.get_model("efficientnet_lite0", num_classes=3).parameters())
    assert lite["rank"] == "1" and lite["fits_budget"] == "True" and lite["recommended"] == "True"
    assert out.splitlines()[-1].startswith("recommended: efficientnet_lite0: probe accuracy ")
    assert "within the budget (latency <= 5000 ms)" in out


def test_a_model_without_weights_is_skipped_with_its_reason(select_run):
    _, _, out, _, rows = select_run
    assert "skipped: mobilenet_v1: no published weights" in out.splitlines()
    assert rows["mobilenet_v1"]["note"] == "skipped: no published weights" and rows["mobilenet_v1"]["probe_acc"] == ""


def test_the_csv_and_the_png_are_written(select_run):
    folder, _, _, err, _ = select_run
    assert sorted(p.name for p in folder.iterdir()) == ["ranking.csv", "select.png"]  # no temporary file left
    with Image.open(folder / "select.png") as png:
        assert png.format == "PNG" and png.size[0] > 400
    assert f"wrote {folder / 'select.png'}" in err


def test_a_budget_below_every_candidate_says_none_fits(digits, run_cli):
    lite0 = sum(p.numel() for p in cz.get_model("efficientnet_lite0", num_classes=3).parameters())
    code, out, err = run_cli(["select", str(digits), "--models", "efficientnet_lite0", "--max-params",
                              str(lite0 - 1), "--json", *SMALL_RUN])
    assert code == 1, err  # nothing fits: a script can tell
    result = json.loads(out)
    assert result["recommendation"] is None and result["rows"][0]["fits_budget"] is False
    assert result["message"].startswith("no candidate fits the budget (params <= ")
    assert "the smallest efficientnet_lite0" in result["message"]


def _row(name, acc, std, latency_ms, params):
    return {"name": name, "probe_acc": acc, "probe_acc_std": std, "latency_ms": latency_ms, "params": params}


def test_the_recommendation_is_the_most_accurate_within_the_budget():
    rows = [_row("small", 0.80, 0.02, 5, 2_000_000), _row("big", 0.95, 0.01, 30, 20_000_000),
            _row("mid", 0.90, 0.02, 10, 5_000_000)]

    def pick(**budget):
        ranked, best, message = rank_and_recommend([dict(r) for r in rows], Budget(**budget))
        assert [r["name"] for r in ranked] == ["big", "mid", "small"]  # by probe accuracy, whatever the budget
        return (best or {}).get("name"), message

    assert pick() == ("big", pick()[1]) and "no budget set" in pick()[1]
    assert pick(max_latency_ms=15)[0] == "mid"
    assert pick(max_params=3_000_000)[0] == "small"
    assert pick(max_latency_ms=15, max_params=3_000_000)[0] == "small"
    name, message = pick(max_latency_ms=1)
    assert name is None
    assert message.startswith("no candidate fits the budget (latency <= 1 ms): of the 3 measured, the fastest is small")
    # A faster model within the recommended one's spread is pointed out.
    _, _, message = rank_and_recommend([_row("a", 0.95, 0.04, 30, 1), _row("b", 0.93, 0.02, 10, 1)], Budget())
    assert message.endswith("; b is faster (10.0 ms) and within one std (0.930)")


def test_no_candidate_with_weights_is_a_one_line_error(digits, run_cli):
    code, out, err = run_cli(["select", str(digits), "--models", "mobilenet_v1", "van_b0", *SMALL_RUN])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("convzoo: error: no candidate has pretrained weights here "
                                                   "(mobilenet_v1: no published weights; van_b0: ")


def test_a_folder_with_one_class_is_a_one_line_error(digits, tmp_path, run_cli):
    (tmp_path / "only").mkdir()
    for image in list((digits / "0").iterdir())[:5]:
        (tmp_path / "only" / image.name).write_bytes(image.read_bytes())
    code, _, err = run_cli(["select", str(tmp_path), "--models", "efficientnet_lite0", *SMALL_RUN])
    assert code == 2 and err.count("\n") == 1 and "a classifier needs at least 2" in err


def test_without_scikit_learn_the_error_names_the_extra(digits, monkeypatch, run_cli):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    code, _, err = run_cli(["select", str(digits), "--models", "efficientnet_lite0", *SMALL_RUN])
    assert code == 2
    assert err == "convzoo: error: convzoo select needs scikit-learn: pip install 'convzoo[select]'\n"


def test_param_counts_read_as_people_write_them():
    assert [param_count(t) for t in ("5M", "800k", "4e6", "1200")] == [5_000_000, 800_000, 4_000_000, 1200]
    with pytest.raises(Exception, match="not a parameter count"):
        param_count("lots")
