"""`convzoo visualize` (issue 17, item 3) on the real, packaged Lite0 weights
and the cat photo: the filter grid holds the first conv's kernels, the maps
shown are each stage's strongest channels, the files are all written or none."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo as cz
from convzoo.cli import main
from convzoo.tasks.anatomy.visualize import (GAP, LABEL_HEIGHT, filter_scale, first_layer_filters, grid_shape,
                                     normalised_kernels, stage_feature_maps, visualize)

from paths import EXAMPLES

CAT = EXAMPLES / "chelsea.png"


@pytest.fixture(scope="module")
def lite0():
    return cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()


def test_filter_grid_holds_every_kernel(lite0):
    weight = lite0.stem.conv.weight  # 32 kernels of 3x3x3
    grid = np.asarray(first_layer_filters(lite0))
    tile = 3 * filter_scale(3)
    rows, cols = grid_shape(32)
    assert (rows, cols) == (6, 6) and tile == 24
    assert grid.shape == (rows * tile + (rows - 1) * GAP, cols * tile + (cols - 1) * GAP, 3)
    # Tile 0 is kernel 0, scaled to [0, 1] on its own, each weight a tile // 3 square.
    kernel0 = weight[0].detach()
    expected = ((kernel0 - kernel0.min()) / (kernel0.max() - kernel0.min())).permute(1, 2, 0).numpy()
    expected = np.round(expected * 255).repeat(tile // 3, 0).repeat(tile // 3, 1)
    assert np.array_equal(grid[:tile, :tile], expected.astype(np.uint8))
    # Tile 7 (second row, second column) is kernel 7; the tiles past the 32nd are background.
    y = x = tile + GAP
    assert np.array_equal(grid[y:y + tile:tile // 3, x:x + tile:tile // 3],
                          np.round(normalised_kernels(lite0)[7].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    assert (grid[-tile:, 2 * (tile + GAP):] == 255).all()


def test_feature_maps_show_the_strongest_channels(lite0):
    preprocessing = lite0.pretrained_weights.preprocessing
    x = preprocessing.transforms()(Image.open(CAT).convert("RGB"))[None]
    grids = stage_feature_maps(lite0, x, top=8)
    with torch.no_grad():
        stages = lite0.forward_stages(x)
    assert len(grids) == len(stages) == 5
    for grid, out in zip(grids, stages):
        means = out[0].mean(dim=(1, 2))
        expected = means.argsort(descending=True)[:8].tolist()
        assert grid.info["channels"] == expected
        # The first tile is the strongest channel's map, min-max scaled, enlarged `scale` times.
        scale = grid.info["scale"]
        strongest = out[0, expected[0]]
        h, w = strongest.shape
        tile = np.asarray(grid)[LABEL_HEIGHT:LABEL_HEIGHT + h * scale:scale, :w * scale:scale]
        want = ((strongest - strongest.min()) / (strongest.max() - strongest.min())).numpy()
        assert np.abs(tile.astype(float) - want * 255).max() <= 1


def test_cli_writes_every_file(tmp_path, capsys):
    out = tmp_path / "inside"
    assert main(["visualize", "efficientnet_lite0", "--image", str(CAT), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    stages = [f"efficientnet_lite0_stage{i}.png" for i in range(5)]
    assert names == sorted(["efficientnet_lite0_filters.png", "efficientnet_lite0_layers.csv",
                            "efficientnet_lite0_layers.txt", *stages])
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == names
    text = (out / "efficientnet_lite0_layers.txt").read_text()
    assert text.startswith("weights: ") and "stem.conv" in text and "stage 4  output 320x7x7" in text
    assert Image.open(out / "efficientnet_lite0_stage4.png").info["stage"] == "4"


def test_without_image_or_weights(tmp_path):
    with pytest.warns(UserWarning, match="random initialisation"):
        written = visualize("mobilenet_v1", out=tmp_path)
    assert sorted(written) == ["filters", "layers.csv", "layers.txt"]
    assert (tmp_path / "mobilenet_v1_layers.txt").read_text().startswith("mobilenet_v1 has no published weights")


def test_cli_unknown_model_suggests_names(tmp_path, capsys):
    assert main(["visualize", "efficientnet_lite9", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "efficientnet_lite0" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_cli_corrupt_image_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "inside"
    assert main(["visualize", "efficientnet_lite0", "--image", str(bad), "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
