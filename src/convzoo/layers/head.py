"""Classifier heads: global pool -> dropout -> linear, and the reset protocol."""

import torch
from torch import nn

from .dims import for_dims


class ResettableHead(nn.Module):
    """The head protocol every model's head follows: `num_classes`, a classifier
    `fc` reading `in_features`, and `reset(num_classes)` replacing only `fc`
    (0 classes: `fc` is the identity, the head returns features).
    Subclasses whose classifier is not a plain Linear override `_make_fc`."""

    in_features: int
    num_classes: int

    def _make_fc(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.in_features, num_classes) if num_classes > 0 else nn.Identity()

    def reset(self, num_classes: int) -> None:
        self.num_classes = num_classes
        device = next(self.parameters(), torch.empty(0)).device
        self.fc = self._make_fc(num_classes).to(device)


class ClassifierHead(ResettableHead):
    """Optional pre-pool layers, global average pool, dropout and `fc`.

    Every head in the zoo offers `reset(num_classes)` and `num_classes`: that is
    what `ConvNet.reset_classifier` relies on. `num_classes=0` gives pooled
    features (no classifier), as timm does.
    `pre`: final conv/norm that follows the last stage (EfficientNet's 1x1 conv head).
    `spatial_dims`: 1|2|3, the maps it pools (signals, images, volumes).
    """

    def __init__(self, in_features: int, num_classes: int = 1000, drop_rate: float = 0.0, pre: nn.Module | None = None,
                 spatial_dims: int = 2):
        super().__init__()
        self.pre = pre if pre is not None else nn.Identity()
        self.pool = for_dims(nn.AdaptiveAvgPool2d, spatial_dims)(1)
        self.flatten = nn.Flatten(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.in_features = in_features
        self.num_classes = num_classes
        self.fc = self._make_fc(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.pre(x)))
        return self.fc(self.drop(x))
