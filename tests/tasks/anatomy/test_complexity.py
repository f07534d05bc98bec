"""Parameter counts and GFLOPs against torchvision's published table.

How we count: multiply-accumulates of convolutions and linear layers, one
forward pass of one image at the weights' crop size, measured on the meta
device (convzoo.tasks.anatomy.complexity.count_macs); element-wise operations are not
counted. That is what torchvision's "GFLOPS" column is (resnet50: 4.089).
"""
import csv

import pytest

import convzoo as cz
from convzoo.tasks.anatomy.complexity import count_macs

from convzoo.weights.torchvision import TABLE  # our packaged copy of torchvision's published table
from parity import fast_then_slow, smallest_of_each_family


def _rows():
    with open(TABLE) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    registered = set(cz.list_models())
    seen, out = set(), []
    for row in rows:
        key = (row["model_name"], row["crop_size"])
        if row["model_name"] in registered and key not in seen:
            seen.add(key)
            out.append(row)
    return out


ROWS = _rows()


def test_table_is_there_and_covers_our_models():
    assert len(ROWS) >= 10, f"only {len(ROWS)} rows of {TABLE} match registered models"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['model_name']}@{r['crop_size']}")
def test_params_and_gflops_match_torchvision(row):
    info = cz.model_info(row["model_name"])
    assert info.params == int(row["num_params"])
    macs = count_macs(info.build, int(row["crop_size"]))
    assert abs(macs / 1e9 - float(row["gflops"])) <= 0.02 * float(row["gflops"])


def test_model_info_gflops_is_at_the_default_input_size():
    info = cz.model_info("resnet50")
    assert info.input_size == 224
    assert abs(info.gflops - 4.089) < 0.01


def test_packaged_table_lists_every_model():
    from convzoo.registry import complexity_table

    assert sorted(complexity_table()) == sorted(cz.list_models()), "models missing from (or extra in) the table"


# Measuring costs ~0.4 s a model: the smallest of each family by default, every model with -m slow.
@pytest.mark.parametrize("name", fast_then_slow(smallest_of_each_family(), cz.list_models()))
def test_packaged_table_matches_fresh_measurements(name):
    """The table `convzoo list` reads is what the models measure now
    (regenerate it with `python -m convzoo.tasks.anatomy.complexity`)."""
    from convzoo.registry import complexity_table
    from convzoo.tasks.anatomy.complexity import measure

    assert measure(name) == complexity_table()[name], f"stale complexity figures for {name}"
