"""VGG (with and without BatchNorm) and AlexNet twins, read off the same tables
as the PyTorch families (models/vgg.py TABLE_1, models/alexnet.py ALEXNET_CONVS).

Both end in layers/mlp_head.py's MLPHead: an adaptive average pool to a fixed
grid (7x7 VGG, 6x6 AlexNet), a (C, H, W) flatten, two hidden Linear+ReLU
layers with dropout, and `fc`. The adaptive pool is written here only where it
is an exact fixed operation on the static feature map size (see `grid_pool`).
"""
from ..layers.padding import get_padding
from ..models import alexnet as torch_alexnet
from ..models import vgg as torch_vgg
from .applications import register_twin
from .layers import activation, batch_norm, conv2d, keras, max_pool


def conv_bias_act(x, filters: int, kernel_size: int, stride: int = 1, padding: int | None = None,
                  norm: bool = False, name: str = ""):
    """layers.ConvNormAct as VGG/AlexNet build it: the conv keeps its bias (even before
    BN, as torchvision's VGG-BN does), optional `{name}-bn`, ReLU `{name}-act`.
    (layers.conv_norm_act always drops the bias, so it cannot be reused.)"""
    if padding is None:
        padding = get_padding(kernel_size, stride)
    x = conv2d(x, filters, kernel_size, stride, padding, bias=True, name=f"{name}-conv")
    if norm:
        x = batch_norm(x, f"{name}-bn")
    return activation(x, "relu", f"{name}-act")


def grid_pool(x, grid: int, name: str):
    """nn.AdaptiveAvgPool2d(grid) on a map of static size H x W, exactly.

    PyTorch's bin i covers rows floor(i*H/grid) .. ceil((i+1)*H/grid). Those bins
    are a fixed stride-k average pool only when H is a multiple of grid (k = H/grid,
    k = 1 being the identity), and pure repetition of each row k times when grid is
    a multiple of H (k = grid/H: every bin lies inside one row). Any other size
    gives overlapping bins of unequal size, which no single Keras pool reproduces,
    so it is refused rather than approximated."""
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(f"{name}: the MLP head needs a static input size (it flattens a {grid}x{grid} map); "
                         "pass input_shape=(H, W, 3)")

    def factor(size):
        if size % grid == 0:
            return "pool", size // grid
        if grid % size == 0:
            return "repeat", grid // size
        return None

    rows, cols = factor(height), factor(width)
    if rows is None or cols is None or rows[0] != cols[0]:
        raise ValueError(
            f"{name}: the last feature map is {height}x{width}; the PyTorch head average-pools it adaptively to "
            f"{grid}x{grid}, which the Keras twin reproduces exactly only when each side is a multiple or a "
            f"divisor of {grid}. Choose an input size giving such a map (e.g. the model's default size)")
    kind, (k_rows, k_cols) = rows[0], (rows[1], cols[1])
    if k_rows == 1 and k_cols == 1:
        return x  # already the grid: the pool is the identity
    if kind == "pool":
        return keras.layers.AveragePooling2D((k_rows, k_cols), (k_rows, k_cols), "valid", name=name)(x)
    return keras.layers.UpSampling2D((k_rows, k_cols), interpolation="nearest", name=name)(x)


def mlp_head(grid: int, drop_rate: float, dropout_first: bool):
    """layers.MLPHead: `head-pool` to grid x grid -> flatten in PyTorch's order (by the
    Dense's row reordering) -> `head-hidden-fc{i}` + ReLU with dropout -> `head-fc`."""
    def head(x, classes: int, name: str = "head"):
        x = grid_pool(x, grid, f"{name}-pool")
        channels = x.shape[-1]
        x = keras.layers.Flatten(name=f"{name}-flatten")(x)
        for i, width in enumerate((4096, 4096), start=1):
            drop = keras.layers.Dropout(drop_rate, name=f"{name}-hidden-drop{i}") if drop_rate > 0 else None
            if drop is not None and dropout_first:  # AlexNet drops each hidden Linear's input
                x = drop(x)
            fc = keras.layers.Dense(width, name=f"{name}-hidden-fc{i}")
            if i == 1:  # torch flattens (C, H, W); Keras flattens (H, W, C): transfer.py reorders the rows
                fc.torch_flatten_chw = (channels, grid, grid)
            x = activation(fc(x), "relu", f"{name}-hidden-act{i}")
            if drop is not None and not dropout_first:  # VGG drops each hidden layer's output
                x = drop(x)
        if classes <= 0:  # MLPHead(num_classes=0): the last hidden layer's features
            return x
        return keras.layers.Dense(classes, name=f"{name}-fc")(x)
    head.pre = None  # nothing before the pool belongs to the features
    return head


def build_vgg(cfg, batch_norm_: bool, x):
    """No stem; stage i: depth x [3x3 conv (-> BN) -> ReLU] -> 2x2/2 max pool."""
    stages = []
    for i, (depth, width) in enumerate(zip(cfg.depths, torch_vgg.STAGE_WIDTHS)):
        for j in range(1, depth + 1):
            x = conv_bias_act(x, width, 3, norm=batch_norm_, name=f"stages-{i}-conv{j}")
        x = max_pool(x, 2, 2, 0, f"stages-{i}-pool")
        stages.append(x)
    return stages, mlp_head(7, 0.5, dropout_first=False)


def build_alexnet(x):
    """Stem conv1 + ReLU, then a stage closed by each overlapping 3x3/2 max pool
    (stage 0 holds only pool1), as models/alexnet.py numbers them."""
    first, *_ = torch_alexnet.ALEXNET_CONVS
    x = conv2d(x, first.out_channels, first.kernel_size, first.stride, first.padding, bias=True, name="stem-conv")
    x = activation(x, "relu", "stem-act")
    stages = []
    for index, layer in enumerate(torch_alexnet.ALEXNET_CONVS, start=1):
        if index > 1:
            x = conv_bias_act(x, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                              name=f"stages-{len(stages)}-conv{index}")
        if layer.pool_after:
            x = max_pool(x, 3, 2, 0, f"stages-{len(stages)}-pool{len(stages) + 1}")
            stages.append(x)
    return stages, mlp_head(6, 0.5, dropout_first=True)


def _register():
    from functools import partial

    for name, cfg in torch_vgg.TABLE_1.items():
        register_twin(name, partial(build_vgg, cfg, False))
        register_twin(f"{name}_bn", partial(build_vgg, cfg, True))
    register_twin("alexnet", build_alexnet)


_register()
