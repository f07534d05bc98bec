"""The fully connected head of AlexNet and VGG: fixed-grid pool -> hidden MLP -> fc.

Both papers end in two 4096-wide hidden layers with dropout, fed by the last
feature map flattened. The feature map is first average-pooled to the grid the
networks were designed for (6x6 for AlexNet, 7x7 for VGG at 224 pixels), so the
head, and pretrained weights, work at any input size: at the design size the
pool is the identity. 1D and 3D models (`spatial_dims`) pool to a side-7 signal
or a 7x7x7 volume (VGG), and the first Linear reads channels * side^d.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from .dims import for_dims
from .head import ResettableHead


class MLPHead(ResettableHead):
    """AdaptiveAvgPool to `pool_size` -> flatten -> hidden Linear+ReLU layers with
    dropout -> `fc`.

    `spatial_dims`: 1|2|3, the maps it pools (signals, images, volumes).

    `dropout_first`: AlexNet drops the *input* of each hidden Linear (Krizhevsky
    et al.); VGG drops each hidden layer's *output*. In eval mode both are the
    same function; in training they drop different tensors.

    Follows the head protocol (see `ClassifierHead`): `num_classes`, and
    `reset(num_classes)` replaces only the last Linear `fc`, keeping the
    hidden layers (pretrained features of transfer learning);
    `num_classes=0` gives the last hidden layer's features.
    """

    def __init__(
        self,
        in_channels: int,
        pool_size: int,
        num_classes: int = 1000,
        hidden_features: Sequence[int] = (4096, 4096),
        drop_rate: float = 0.5,
        dropout_first: bool = False,
        spatial_dims: int = 2,
    ):
        super().__init__()
        self.pool = for_dims(nn.AdaptiveAvgPool2d, spatial_dims)(pool_size)
        self.flatten = nn.Flatten(1)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width = in_channels * pool_size ** spatial_dims
        for i, out_features in enumerate(hidden_features, start=1):
            drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
            if dropout_first:
                layers[f"drop{i}"] = drop
            layers[f"fc{i}"] = nn.Linear(width, out_features)
            layers[f"act{i}"] = nn.ReLU(inplace=True)
            if not dropout_first:
                layers[f"drop{i}"] = drop
            width = out_features
        self.hidden = nn.Sequential(layers)
        self.in_features = width
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)
        for m in self.hidden.modules():
            if isinstance(m, nn.Linear):
                _init_linear(m)

    def _make_fc(self, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        return _init_linear(nn.Linear(self.in_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.hidden(self.flatten(self.pool(x))))


def _init_linear(linear: nn.Linear) -> nn.Linear:
    # N(0, 0.01) weights and zero biases: AlexNet's paper and torchvision's VGG
    # (the VGG paper's "10^-2 variance" is a larger std, 0.1).
    nn.init.normal_(linear.weight, 0.0, 0.01)
    nn.init.zeros_(linear.bias)
    return linear
