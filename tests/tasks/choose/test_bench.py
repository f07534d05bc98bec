"""`convzoo bench`: every column measured and sane, files written, --vs ratios, bad patterns.

One small run serves most tests (resnet18, efficientnet_lite0 with its shipped
weights, mobilenet_v1 with none; 64 px, batch 1 and 2, one thread: the
machines that run the suite may be busy, and two threads fighting a
neighbour for two cores are slower than one)."""
import csv

import pytest
import torch
from PIL import Image

import convzoo as cz
from convzoo.tasks.choose.pareto import pareto_front

MODELS = ["resnet18", "efficientnet_lite0", "mobilenet_v1"]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, run_cli):
    folder = tmp_path_factory.mktemp("bench")
    code, out, err = run_cli(["bench", *MODELS, "--image-size", "64", "--batch-sizes", "1,2", "--rounds", "2",
                              "--threads", "1", "--train", "--vs", "torchvision", "--out", str(folder / "results.csv"),
                              "--plot", str(folder / "pareto.png"), "--no-progress"])
    assert code == 0, err
    with open(folder / "results.csv", newline="") as f:
        rows = {row["name"]: row for row in csv.DictReader(f)}
    return folder, rows, out, err


def number(text):
    return None if text == "" else float(text)


def test_every_model_has_a_row_with_sane_measurements(bench_run):
    _, rows, out, _ = bench_run
    assert list(rows) == MODELS
    for name, row in rows.items():
        model = cz.get_model(name)
        assert int(row["params"]) == sum(p.numel() for p in model.parameters())
        assert int(row["image_size"]) == 64 and int(row["latency_batch"]) == 1 and int(row["throughput_batch"]) == 2
        assert number(row["gflops"]) > 0
        assert number(row["latency_ms"]) > 0 and number(row["latency_iqr_ms"]) >= 0
        assert number(row["throughput"]) > 0
        assert number(row["train_throughput"]) > 0
        # Measured in a fresh process, the peak holds at least the fp32 weights themselves.
        assert number(row["peak_memory_mb"]) >= int(row["params"]) * 4 / 2**20
        assert name in out  # the table on screen


def test_gflops_at_the_image_size_used(bench_run):
    _, rows, _, _ = bench_run
    # At 64 px a network does (64/224)^2 of its 224-px work, give or take the borders of its feature maps.
    at_224 = cz.model_info("resnet18").gflops_at(224)
    assert number(rows["resnet18"]["gflops"]) == pytest.approx(at_224 * (64 / 224) ** 2, rel=0.1)


def test_accuracy_is_the_published_one_or_none(bench_run):
    _, rows, _, _ = bench_run
    assert number(rows["efficientnet_lite0"]["acc1"]) == cz.get_weights("efficientnet_lite0").meta["acc1"] == 75.1
    assert number(rows["resnet18"]["acc1"]) == cz.get_weights("resnet18").meta["acc1"]
    assert rows["mobilenet_v1"]["acc1"] == ""


def test_vs_torchvision_ratios_and_notes(bench_run):
    _, rows, out, _ = bench_run
    resnet = rows["resnet18"]
    assert resnet["vs"] == "torchvision" and resnet["note"] == ""
    assert number(resnet["vs_latency_ratio"]) > 0 and number(resnet["vs_throughput_ratio"]) > 0
    for lacking in ("efficientnet_lite0", "mobilenet_v1"):
        assert rows[lacking]["vs_latency_ratio"] == rows[lacking]["vs_throughput_ratio"] == ""
        assert rows[lacking]["note"] == f"torchvision has no model named {lacking}"
        assert f"note: {lacking}: torchvision has no model named {lacking}" in out


def test_files_are_written_whole(bench_run):
    folder, _, _, err = bench_run
    assert sorted(p.name for p in folder.iterdir()) == ["pareto.png", "results.csv"]  # no temporary file left
    with Image.open(folder / "pareto.png") as png:
        assert png.format == "PNG" and png.size == (800, 550)
    assert "left out of the plot (no published acc@1): mobilenet_v1" in err


def test_python_api_rows_at_one_batch_size():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows = cz.bench("mobilenet_v3_small", batch_sizes=[1], image_size=32, rounds=2, threads=1, memory=False,
                        progress=False)
        assert torch.get_num_threads() == 2  # threads=1 held for the run only
    finally:
        torch.set_num_threads(before)
    assert [r["name"] for r in rows] == ["mobilenet_v3_small"]
    row = rows[0]
    assert row["throughput_batch"] == row["latency_batch"] == 1
    assert row["throughput"] == pytest.approx(1000 / row["latency_ms"])  # the same timings, one batch size
    assert row["train_throughput"] is None and row["peak_memory_mb"] is None and "vs" not in row
    assert row["acc1"] == cz.get_weights("mobilenet_v3_small").meta["acc1"]
    assert row["threads"] == 1 and row["runtime"] == "torch" and row["precision"] == "fp32"


def test_unknown_pattern_is_one_line_with_close_names(run_cli):
    code, out, err = run_cli(["bench", "resnet18", "resnt5*", "--no-progress"])
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and "no model matches 'resnt5*'" in err and "resnet50" in err


def test_json_output_and_a_bad_suffix(tmp_path):
    from convzoo.tasks.choose.bench_output import write_results

    rows = [{"name": "a", "acc1": None, "latency_ms": 1.5}]
    write_results(rows, tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text().startswith("[")
    with pytest.raises(ValueError, match=r"\.csv or a \.json"):
        write_results(rows, tmp_path / "r.txt")


def test_pareto_front_keeps_the_models_nothing_beats():
    rows = [{"name": "fast", "latency_ms": 1, "acc1": 70}, {"name": "slow_worse", "latency_ms": 5, "acc1": 69},
            {"name": "slow_better", "latency_ms": 4, "acc1": 76}, {"name": "slowest_best", "latency_ms": 9, "acc1": 80},
            {"name": "no_acc", "latency_ms": 0.5, "acc1": None}]
    assert [r["name"] for r in pareto_front(rows)] == ["fast", "slow_better", "slowest_best"]
