"""See inside a network (`convzoo visualize`): the first layer's filters as an
image grid, each stage's strongest feature maps for one image, and the
per-layer table (tasks/layer_table.py) as text and CSV.

Each picture is scaled for a person to look at: kernels and maps are
min-max normalised one by one (their absolute scales differ by orders of
magnitude) and enlarged with nearest-neighbour sampling, so a 3x3 kernel
stays nine visible squares.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from ...data.images import load_image
from ...factory import default_preprocessing, default_weights, get_model, model_info
from ...utils.atomic import atomic_path, write_text_atomic
from .layer_table import format_layer_table, layer_table, layer_table_csv

FILTER_TILE = 24  # about this many pixels per kernel tile: 3x3 -> x8, 7x7 -> x3, 11x11 -> x2
MAP_TILE = 96  # at least this many pixels per feature-map tile
GAP = 1  # pixels between tiles
LABEL_HEIGHT = 26  # the band above a feature-map grid: two lines of PIL's default font


def filter_scale(kernel: int) -> int:
    """How many times a `kernel`-wide kernel is enlarged in the filter grid."""
    return max(1, FILTER_TILE // kernel)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of the filter grid: about square, ceil(sqrt(n)) columns."""
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def min_max_scaled(values: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """`values` scaled to [0, 1] over `dims`, each slice on its own (a constant slice gives 0)."""
    low = values.amin(dim=dims, keepdim=True)
    high = values.amax(dim=dims, keepdim=True)
    return (values - low) / (high - low).clamp_min(1e-12)


def check_top(top: int) -> None:
    if top < 1:
        raise ValueError(f"top={top}: show at least one channel per stage (top >= 1)")


def normalised_kernels(model: torch.nn.Module) -> torch.Tensor:
    """The first conv's kernels (out, in, k, k), each min-max scaled to [0, 1] on its own."""
    weight = model.get_parameter(model.first_conv).detach().float().cpu()
    if weight.dim() != 4:
        raise ValueError(f"the filter grid draws 2D kernels; this model's first conv has {weight.dim() - 2}D ones "
                         "(build it with spatial_dims=2)")
    return min_max_scaled(weight, (1, 2, 3))


def first_layer_filters(model: torch.nn.Module) -> Image.Image:
    """Every kernel of the first conv as one tile of a grid (RGB for an RGB
    input, grey otherwise: the mean over input channels), 1 px white gaps."""
    kernels = normalised_kernels(model)
    n, channels, kh, kw = kernels.shape
    tiles = kernels if channels == 3 else kernels.mean(1, keepdim=True).expand(n, 3, kh, kw)
    scale = filter_scale(max(kh, kw))
    tiles = tiles.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    pixels = _to_uint8(tiles.permute(0, 2, 3, 1).numpy())  # (n, h, w, 3)
    return Image.fromarray(_tile(pixels, *grid_shape(n), background=255))


def strongest_channels(stage_output: torch.Tensor, top: int) -> list[int]:
    """The `top` channels of one image's map (C, H, W) with the largest mean activation, strongest first."""
    return stage_output.mean(dim=(1, 2)).topk(min(top, stage_output.shape[0])).indices.tolist()


def stage_feature_maps(model: torch.nn.Module, image_tensor: torch.Tensor, top: int = 8) -> list[Image.Image]:
    """Per stage, a grey grid of the `top` channels with the largest mean
    activation for `image_tensor` (1, C, H, W, preprocessed), under a label
    with the stage, its output shape and the channels shown (also in
    `image.info["channels"]`). Each map is min-max scaled on its own."""
    check_top(top)
    with torch.no_grad():
        outputs = model.eval().forward_stages(image_tensor)
    pictures = []
    for index, out in enumerate(outputs):
        maps = out[0].float().cpu()
        channels = strongest_channels(maps, top)
        chosen = min_max_scaled(maps[channels], (1, 2))
        scale = max(1, math.ceil(MAP_TILE / max(maps.shape[1:])))
        chosen = chosen.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
        cols = min(len(channels), 4)
        grid = _tile(_to_uint8(chosen.numpy()), math.ceil(len(channels) / cols), cols, background=255)
        picture = Image.new("L", (grid.shape[1], grid.shape[0] + LABEL_HEIGHT), 255)
        picture.paste(Image.fromarray(grid), (0, LABEL_HEIGHT))
        draw = ImageDraw.Draw(picture)
        draw.text((2, 1), f"stage {index}: {'x'.join(map(str, maps.shape))}", fill=0)
        draw.text((2, 13), "top by mean: " + " ".join(map(str, channels)), fill=0)
        picture.info.update(stage=index, channels=channels, scale=scale)
        pictures.append(picture)
    return pictures


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)


def _tile(tiles: np.ndarray, rows: int, cols: int, background: int) -> np.ndarray:
    """Tiles (n, h, w[, 3]) laid out row by row, GAP pixels apart."""
    n, h, w = tiles.shape[:3]
    canvas = np.full((rows * h + (rows - 1) * GAP, cols * w + (cols - 1) * GAP, *tiles.shape[3:]), background,
                     dtype=np.uint8)
    for i in range(n):
        y, x = divmod(i, cols)
        canvas[y * (h + GAP):y * (h + GAP) + h, x * (w + GAP):x * (w + GAP) + w] = tiles[i]
    return canvas


def _save_png(picture: Image.Image, path: Path) -> Path:
    text = PngInfo()
    for key in ("stage", "channels"):
        if key in picture.info:
            text.add_text(key, str(picture.info[key]))
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG", pnginfo=text)
    return path


def visualize(name: str, image=None, weights: str | dict | None = "DEFAULT", out: str | Path = ".",
              top: int = 8) -> dict[str, Path]:
    """Write OUT/NAME_filters.png, NAME_layers.txt and NAME_layers.csv, and with
    `image` (a path or a PIL image) OUT/NAME_stage{i}.png per stage. A model
    without published weights is drawn at random initialisation (a warning
    says so). Returns the paths written, by kind."""
    # The name and the image are checked first: a bad one stops everything before a file is written.
    model_info(name)  # an unknown name: a ValueError with the closest names
    check_top(top)
    picture = None if image is None else image if isinstance(image, Image.Image) else load_image(image)
    note = None
    if weights == "DEFAULT" and default_weights(name) is None:
        weights = None
        note = f"{name} has no published weights: drawn at random initialisation (no learned structure to see)"
        warnings.warn(note, stacklevel=2)
    elif weights is None:
        note = f"{name} at random initialisation (weights=None)"
    net = get_model(name, weights=weights).eval()
    spec = net.pretrained_weights
    preprocessing = spec.preprocessing if spec is not None else default_preprocessing(name)
    table = layer_table(net, input_size=preprocessing.crop_size)

    out = Path(out)
    written = {"filters": _save_png(first_layer_filters(net), out / f"{name}_filters.png")}
    if picture is not None:
        x = preprocessing.transforms()(picture.convert("RGB"))[None]
        for grid in stage_feature_maps(net, x, top=top):
            written[f"stage{grid.info['stage']}"] = _save_png(grid, out / f"{name}_stage{grid.info['stage']}.png")
    source = note or f"weights: {getattr(spec, 'tag', None) or 'a checkpoint'}"
    write_text_atomic(out / f"{name}_layers.txt", f"{source}\n{format_layer_table(table)}\n")
    written["layers.txt"] = out / f"{name}_layers.txt"
    write_text_atomic(out / f"{name}_layers.csv", layer_table_csv(table))
    written["layers.csv"] = out / f"{name}_layers.csv"
    return written
