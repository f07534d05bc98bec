"""2D weights for a 3D model: kernel inflation, I3D style.

"Quo Vadis, Action Recognition?" (Carreira & Zisserman, 2017) starts a 3D
network from an image network's weights by giving every k x k kernel a depth
of k. Two ways of filling that depth, `mode`:

- "mean" (the paper's): the 2D kernel repeated along depth, divided by its
  depth. On a volume that is constant along depth (the paper's "boring video",
  an image repeated), a conv then sums k equal terms of weight/k: it gives the
  2D conv's output on every depth slice whose window lies inside the volume.
  The border slices read the zero padding for part of their window (a 7-deep
  kernel at the first slice reads 3 padded slices: 4/7 of the 2D response), and
  the error, small at first, travels inward by each later conv's reach. So
  the logits, which average every slice, differ from the 2D model's.
- "center": the 2D kernel in the middle depth slice, zeros elsewhere. Each
  depth slice is then convolved with the 2D kernel alone, so on a
  depth-constant volume every slice of every layer is the 2D model's, border
  included, and so are the logits. Until trained, it ignores depth.

Which tensors are inflated is read from the shapes, not from a list of
layer names:
- a conv weight (out, in, kh, kw) where the model holds (out, in, kd, kh, kw);
  the first conv may also differ in `in` (in_chans: the loader adapts it after);
- a Linear reading a flattened pooled map (VGG's 512 x 7 x 7 features, AlexNet's
  256 x 6 x 6) whose 3D input has a pool side's more values, C x s x s ->
  C x s x s x s: its weight is inflated alike along the new axis (mean: repeated,
  divided by s; center: the middle slice). A depth-constant map makes either exact.
Tensors of equal shape (norms, 1D biases, a classifier on globally pooled
features) are kept; a classifier whose class count differs is left for the
loader (num_classes); any other mismatch is an error naming the keys.
"""
from __future__ import annotations

import torch
from torch import nn

from .convert import StateDict
from .loading import closest_layout

INFLATE_MODES = ("mean", "center")


def inflate_state_dict(state_dict_2d: StateDict, model_3d: nn.Module, mode: str = "mean") -> StateDict:
    """`state_dict_2d` (any key layout the model's family reads) with its 2D
    kernels inflated to `model_3d`'s 3D ones; the result is in our key layout,
    ready for `load_weights(model_3d, ...)`."""
    if mode not in INFLATE_MODES:
        raise ValueError(f"inflate mode must be 'mean' (I3D: kernel repeated along depth / depth) or 'center' "
                         f"(2D kernel in the middle depth slice), not {mode!r}")
    if model_spatial_dims(model_3d) != 3:
        raise ValueError(f"inflation makes 2D weights 3D, and {_name(model_3d)} is "
                         f"{model_spatial_dims(model_3d)}D: build it with spatial_dims=3")
    _, converted, _, _, _ = closest_layout(model_3d, state_dict_2d)
    expected = model_3d.state_dict()
    first_conv = getattr(model_3d, "first_conv", None)
    classifier = tuple(getattr(model_3d, "classifier_prefixes", ("head.fc.",)))
    out, unfit = {}, []
    for key, weight in converted.items():
        target = expected.get(key)
        if target is None or weight.shape == target.shape:
            out[key] = weight  # equal, or not the model's: the loader reports the latter
        elif _is_conv_to_inflate(weight, target, allow_in_chans=key == first_conv):
            out[key] = _inflate_axis(weight.unsqueeze(2), target.shape[2], 2, mode)
        elif _flat_pool_side(weight, target):
            side = _flat_pool_side(weight, target)
            out_features, in_features = weight.shape
            per_channel = weight.reshape(out_features, in_features // side ** 2, 1, side ** 2)
            out[key] = _inflate_axis(per_channel, side, 2, mode).reshape(target.shape)
        elif key.startswith(classifier) and weight.shape[1:] == target.shape[1:]:
            out[key] = weight  # another num_classes: the loader keeps the model's own classifier
        else:
            unfit.append(f"{key} {tuple(weight.shape)} vs {tuple(target.shape)}")
    if unfit:
        raise ValueError(f"cannot inflate to {_name(model_3d)}: these 2D weights are neither a kernel to give a "
                         f"depth nor a Linear on a flattened pooled map: {', '.join(unfit)}")
    return out


def model_spatial_dims(model: nn.Module) -> int:
    """1, 2 or 3: the rank of the model's first conv kernel."""
    return model.get_parameter(model.first_conv).dim() - 2


def weights_spatial_dims(state_dict: StateDict) -> int | None:
    """The kernel rank of a checkpoint's convs (None: no conv weights in it)."""
    ranks = [t.dim() for t in state_dict.values() if isinstance(t, torch.Tensor) and t.dim() >= 3]
    return max(ranks) - 2 if ranks else None


def _is_conv_to_inflate(weight: torch.Tensor, target: torch.Tensor, allow_in_chans: bool) -> bool:
    if weight.dim() != 4 or target.dim() != 5:
        return False
    same_in = weight.shape[1] == target.shape[1] or allow_in_chans
    return weight.shape[0] == target.shape[0] and same_in and weight.shape[2:] == target.shape[3:]


def _flat_pool_side(weight: torch.Tensor, target: torch.Tensor) -> int:
    """s when `weight` reads C*s*s flattened values and `target` C*s*s*s; else 0."""
    if weight.dim() != 2 or target.dim() != 2 or weight.shape[0] != target.shape[0]:
        return 0
    side, rest = divmod(target.shape[1], weight.shape[1])
    if rest or side < 2 or weight.shape[1] % side ** 2:
        return 0
    return side


def _inflate_axis(weight: torch.Tensor, size: int, axis: int, mode: str) -> torch.Tensor:
    """`weight`, of size 1 along `axis`, made `size` long: repeated and divided
    by `size` ("mean"), or put in the middle, zeros around it ("center")."""
    if mode == "mean":
        repeats = [1] * weight.dim()
        repeats[axis] = size
        return weight.repeat(repeats) / size
    shape = list(weight.shape)
    shape[axis] = size
    inflated = weight.new_zeros(shape)
    inflated.narrow(axis, size // 2, 1).copy_(weight)
    return inflated


def _name(model: nn.Module) -> str:
    return getattr(model, "name", None) or type(model).__name__
