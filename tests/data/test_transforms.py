"""Training crops: the transfer default keeps the evaluation scale."""
import pytest
import torch
from torchvision.transforms import v2

from convzoo.data.preprocessing import Preprocessing
from convzoo.data.transforms import train_transforms
from convzoo.tasks.train.loop import TrainConfig

PRE = Preprocessing(64, 73, "bilinear", (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # identity normalisation


def _image():
    return torch.rand(3, 90, 120, generator=torch.Generator().manual_seed(0))


def _is_window_of(crop: torch.Tensor, big: torch.Tensor) -> bool:
    c = crop.shape[-1]
    return any(torch.allclose(crop, big[:, t:t + c, l:l + c], atol=1e-6)
               for t in range(big.shape[1] - c + 1) for l in range(big.shape[2] - c + 1))


def test_default_crop_is_a_window_of_the_eval_resize():
    """Nothing is zoomed: every training crop is a 64x64 window of the image
    resized exactly as evaluation resizes it (shorter side 73)."""
    assert TrainConfig(data="").crop == "scale"
    resized = v2.Resize(73, antialias=True)(_image())
    transform = train_transforms(PRE, hflip=False)
    for seed in range(5):
        torch.manual_seed(seed)
        assert _is_window_of(transform(_image()), resized)


def test_resized_crop_zooms():
    """ImageNet's random-resized crop (from 8% of the area) gives crops that are no window of it."""
    resized = v2.Resize(73, antialias=True)(_image())
    transform = train_transforms(PRE, hflip=False, scale=(0.08, 0.1), crop="resized")
    torch.manual_seed(0)
    assert not _is_window_of(transform(_image()), resized)


def test_unknown_crop_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown crop 'zoom': use one of scale, resized"):
        train_transforms(PRE, crop="zoom")
