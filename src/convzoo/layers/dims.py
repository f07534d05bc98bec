"""One family, three input kinds: signals (1D: ECG, audio), images (2D) and
volumes (3D: CT, MRI).

Families are written with the 2D classes of torch.nn; `for_dims` swaps each for
its 1D or 3D sibling (nn.Conv2d -> nn.Conv3d, nn.BatchNorm2d -> nn.BatchNorm1d,
...), so a 3D ResNet is the 2D code run with other classes, never a copied
file. Kernel sizes, strides and paddings stay ints: torch repeats an int over
every spatial dim, which is exactly the k -> k x k x k of the 3D papers.
"""
from torch import nn

SPATIAL_DIMS = (1, 2, 3)

# The 2D class -> its (1D, 2D, 3D) siblings.
_SIBLINGS = {
    nn.Conv2d: (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    nn.BatchNorm2d: (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d),
    nn.MaxPool2d: (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
    nn.AvgPool2d: (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
    nn.AdaptiveAvgPool2d: (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d),
    nn.AdaptiveMaxPool2d: (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d),
    nn.Dropout2d: (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d),
}


def check_spatial_dims(spatial_dims: int) -> int:
    if spatial_dims not in SPATIAL_DIMS:
        raise ValueError(f"spatial_dims must be 1 (signals), 2 (images) or 3 (volumes), not {spatial_dims!r}")
    return spatial_dims


def for_dims(layer_2d, spatial_dims: int = 2):
    """The class doing what `layer_2d` does, over `spatial_dims` dims.
    Anything that is not a 2D torch.nn class (a ReLU, a partial, a family's
    own norm) is returned unchanged at 2 dims and refused at others."""
    check_spatial_dims(spatial_dims)
    if spatial_dims == 2:
        return layer_2d
    siblings = _SIBLINGS.get(layer_2d)
    if siblings is None:
        raise ValueError(f"{getattr(layer_2d, '__name__', layer_2d)!s} has no {spatial_dims}D version here: "
                         f"use spatial_dims=2, or a layer among {', '.join(c.__name__ for c in _SIBLINGS)}")
    return siblings[spatial_dims - 1]


def all_dims(layer_2d) -> tuple:
    """`layer_2d` and its 1D/3D siblings, for isinstance checks that should see
    a Conv3d where they look for a Conv2d (initialisation, for one)."""
    return _SIBLINGS.get(layer_2d, (layer_2d,))
