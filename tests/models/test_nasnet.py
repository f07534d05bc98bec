"""NASNet-A against Cadene's pretrainedmodels (mobile and large) and timm (large).

pretrainedmodels hard-codes its final pool to the native map size (7x7 for
mobile at 224, 11x11 for large at 331): at other input sizes the reference's
logits are taken as fc(mean(relu(features))), which is what its head computes
at the native size. Its padding tricks equal TF "SAME" (ours) only where the
strided cells see the sizes it expects, so small inputs are chosen for that:
mobile 96 (stem cells at 47 and 24, reductions at 12 and 6), large-shaped 75
(37, 19, 10, 5).

The narrow large-shaped net "6 @ 384" (stem 16) has NASNet-A Large's wiring at
a fraction of its cost, for the fast tests; both references can build it.
"""

import pytest
import torch
import torch.nn.functional as F

import convzoo as cz
from convzoo.models.nasnet import NASNetConfig
from parity import assert_close, assert_parity, check_anatomy, check_drop_path, count_params, randomize_

NARROW_LARGE = NASNetConfig(normal_cells=6, penultimate_filters=384, stem_width=16, skip_reduction_input=True)


def import_pretrainedmodels():
    import pretrainedmodels
    import pretrainedmodels.models.nasnet

    return pretrainedmodels


def pooled_forward(reference):
    """The reference's head with a global pool in place of its fixed-size one."""
    return lambda x: reference.last_linear(F.relu(reference.features(x)).mean((2, 3)))


def narrow_timm(**kwargs):
    import timm

    return timm.create_model("nasnetalarge", stem_size=NARROW_LARGE.stem_width,
                             num_features=NARROW_LARGE.penultimate_filters, **kwargs)


# ---- fast: parity at small inputs -------------------------------------------
def test_parity_pretrainedmodels_mobile(tmp_path):
    reference = import_pretrainedmodels().nasnetamobile(num_classes=1000, pretrained=None)
    assert_parity("nasnet_a_mobile", reference, tmp_path, input_size=96, ref_forward=pooled_forward(reference))


def test_parity_pretrainedmodels_large_wiring(tmp_path):
    pm = import_pretrainedmodels()
    reference = pm.models.nasnet.NASNetALarge(num_classes=1000, stem_filters=NARROW_LARGE.stem_width,
                                              penultimate_filters=NARROW_LARGE.penultimate_filters)
    assert_parity("nasnet_a_large", reference, tmp_path, input_size=75, ref_forward=pooled_forward(reference),
                  cfg=NARROW_LARGE)


def test_parity_timm_with_counted_padding(tmp_path):
    """timm's "SAME" strided average pools count the zero padding: with
    avg_pool_counts_padding we match it, at an even size (asymmetric padding
    everywhere but the first stem cell); the TF-exact default does not."""
    reference = narrow_timm()
    ours = assert_parity("nasnet_a_large", reference, tmp_path, input_size=96, cfg=NARROW_LARGE,
                         avg_pool_counts_padding=True)
    assert any(getattr(m, "counts_padding", False) for m in ours.modules())
    default = cz.get_model("nasnet_a_large", cfg=NARROW_LARGE).eval()
    default.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected, got = reference(x), default(x)
    with pytest.raises(AssertionError):
        assert_close(got, expected)


def test_cadene_1001_class_checkpoint_drops_background(tmp_path):
    """Cadene's nasnetalarge file has TF-slim's 1001 classes, background first."""
    pm = import_pretrainedmodels()
    reference = randomize_(pm.models.nasnet.NASNetALarge(
        num_classes=1001, stem_filters=NARROW_LARGE.stem_width,
        penultimate_filters=NARROW_LARGE.penultimate_filters)).eval()
    path = tmp_path / "nasnetalarge_1001.pth"
    torch.save(reference.state_dict(), path)
    ours = cz.get_model("nasnet_a_large", weights=str(path), cfg=NARROW_LARGE).eval()
    assert ours.num_classes == 1000
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        assert_close(ours(x), pooled_forward(reference)(x)[:, 1:])


# ---- fast: anatomy and the paper's figures ----------------------------------
def test_anatomy():
    check_anatomy("nasnet_a_mobile", input_size=96)


def test_drop_path():
    check_drop_path("nasnet_a_mobile", input_size=64)


@pytest.mark.parametrize("name, channels", [
    ("nasnet_a_mobile", [44, 264, 528, 1056]),
    ("nasnet_a_large", [168, 1008, 2016, 4032]),
])
def test_feature_info(name, channels):
    """Stages end at strides 4, 8, 16, 32; the last is the "P" of "N @ P"."""
    with torch.device("meta"):
        model = cz.get_model(name)
    assert [s.channels for s in model.feature_info] == channels
    assert [s.reduction for s in model.feature_info] == [4, 8, 16, 32]
    assert model.head.in_features == channels[-1]


@pytest.mark.parametrize("name, params, mult_adds, input_size", [
    ("nasnet_a_mobile", 5.3e6, 564e6, 224),  # 4 @ 1056
    ("nasnet_a_large", 88.9e6, 23.8e9, 331),  # 6 @ 4032
])
def test_size_matches_paper_table_2(name, params, mult_adds, input_size):
    info = cz.model_info(name)
    assert info.input_size == input_size
    assert info.params == pytest.approx(params, rel=0.01)
    assert info.gflops * 1e9 == pytest.approx(mult_adds, rel=0.005)


def test_forward_stages_keeps_features_intact():
    """The head's ReLU must not rectify the features it is handed in place."""
    model = cz.get_model("nasnet_a_mobile", num_classes=5).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        copy = features.clone()
        model.forward_head(features)
    assert (copy < 0).any()
    torch.testing.assert_close(features, copy)


# ---- slow: every model at its published size ---------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, builder, input_size", [
    ("nasnet_a_mobile", "nasnetamobile", 224),
    ("nasnet_a_large", "nasnetalarge", 331),
])
def test_parity_pretrainedmodels_full_size(name, builder, input_size, tmp_path):
    reference = getattr(import_pretrainedmodels(), builder)(num_classes=1000, pretrained=None)
    ours = assert_parity(name, reference, tmp_path, input_size=input_size, batch=1)
    assert count_params(ours) == cz.model_info(name).params


@pytest.mark.slow
def test_parity_timm_large_full_size(tmp_path):
    import timm

    assert_parity("nasnet_a_large", timm.create_model("nasnetalarge"), tmp_path, input_size=331, batch=1,
                  avg_pool_counts_padding=True)
