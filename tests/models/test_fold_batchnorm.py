"""layers.fold_batchnorm: each ConvNormAct's BatchNorm folded into its convolution
computes what the model computed (fp32 rounding aside), across the families."""
import copy

import pytest
import torch
from torch import nn

import convzoo as cz
from convzoo.layers import ConvNormAct, fold_batchnorm

# One model per family whose blocks are written with ConvNormAct (conv -> bn), plus
# families with other orders or norms: ResNet v2 and DenseNet (bn -> act -> conv),
# ConvNeXt (LayerNorm), SqueezeNet (no norm), which must come out unchanged where
# nothing may be folded.
MODELS = ["efficientnet_lite0", "efficientnet_b0", "efficientnet_v2_s", "mobilenet_v3_small", "mobilenet_v1",
          "mnasnet0_5", "shufflenet_v2_x0_5", "resnet18", "regnet_y_400mf", "vgg11_bn", "googlenet",
          "nasnet_a_mobile", "van_b0", "resnet50_v2", "densenet121", "convnext_tiny", "squeezenet1_1"]
NOTHING_TO_FOLD = {"resnet50_v2", "densenet121", "convnext_tiny", "squeezenet1_1"}


def _with_trained_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine terms, so that folding has something to fold
    (fresh BatchNorms are the identity, mean 0 and variance 1)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.05)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.2)
    return model.eval()


def _batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def _unfolded_batchnorms(model: nn.Module) -> int:
    return sum(isinstance(m, ConvNormAct) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)
               for m in model.modules())


@pytest.mark.parametrize("name", MODELS)
def test_folded_model_computes_what_the_model_computes(name):
    torch.manual_seed(0)
    model = _with_trained_statistics(cz.get_model(name, num_classes=10))
    folded = fold_batchnorm(copy.deepcopy(model))
    x = torch.randn(2, 3, 96, 96)
    with torch.inference_mode():
        expected, got = model(x), folded(x)
    scale = expected.abs().max().item()
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * max(scale, 1.0)), (got - expected).abs().max()
    # exactly the ConvNormAct units' BatchNorms are gone, no other
    assert _unfolded_batchnorms(folded) == 0
    assert _batchnorms(folded) == _batchnorms(model) - _unfolded_batchnorms(model)
    if name not in NOTHING_TO_FOLD:
        assert _unfolded_batchnorms(model) > 0, "this family is written with ConvNormAct: something should fold"


def test_only_conv_then_bn_is_folded_and_training_mode_is_refused():
    """A pre-activation unit (bn -> act -> conv, as ResNet v2's) keeps its BatchNorm; a
    model in training mode is refused, since folding bakes in the running statistics."""
    pre_activation = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    unit = ConvNormAct(4, 4, 3)
    model = _with_trained_statistics(nn.Sequential(pre_activation, unit))
    folded = fold_batchnorm(copy.deepcopy(model))
    assert isinstance(folded[0][0], nn.BatchNorm2d) and isinstance(folded[1].bn, nn.Identity)
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(folded(x), model(x), atol=1e-5)
    with pytest.raises(ValueError, match="model.eval"):
        fold_batchnorm(model.train())
