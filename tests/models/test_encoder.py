"""Models as encoders for dense prediction (issue 16): get_model(...,
features_only=True, out_indices=...) returns the stem's map (where its stride
is its own) and every stage's, equal to what the classifier computes."""
import pytest
import torch

import convzoo as cz
from parity import fast_then_slow, randomize_, smallest_of_each_family


FAST = sorted({*smallest_of_each_family(), "inception_v3"})
EVERY_MODEL = fast_then_slow(FAST, cz.list_models())


def _pair(name: str):
    """A randomised classifier and an encoder holding the same weights."""
    model = randomize_(cz.get_model(name)).eval()
    encoder = cz.get_model(name, features_only=True).eval()
    head = tuple(k for k in model.state_dict() if k.startswith(("head.", "aux_heads.")))
    missing, unexpected = encoder.load_state_dict(model.state_dict(), strict=False)
    assert not missing and set(unexpected) == set(head)  # the same keys, the classifier's aside
    return model, encoder


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_encoder_maps_are_the_classifiers_stage_outputs(name):
    model, encoder = _pair(name)
    size = 96 if name == "inception_v3" else 64
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        maps, stages = encoder(x), model.forward_stages(x)
        if encoder.has_stem_map:
            torch.testing.assert_close(maps[0], model.stem(x), rtol=0, atol=0)
    assert len(maps) == len(stages) + encoder.has_stem_map == len(encoder.feature_info)
    for got, want in zip(maps[encoder.has_stem_map:], stages):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    reductions = encoder.reductions
    assert reductions == sorted(reductions) and len(set(reductions)) >= 3
    for out, info in zip(maps, encoder.feature_info):
        assert out.shape[1] == info.channels
        # size / reduction, less the few pixels unpadded ("valid") convs shave off (AlexNet, Inception)
        assert size // info.reduction - 4 <= out.shape[-1] <= -(-size // info.reduction)


def test_the_stem_map_is_offered_only_where_its_stride_is_its_own():
    assert [i.module for i in cz.get_model("nasnet_a_mobile", features_only=True).feature_info][:2] == \
        ["stem", "stages.0"]  # stem /2, first stage /4
    assert cz.get_model("resnet18", features_only=True).reductions == [4, 8, 16, 32]  # stem and stage 0 both /4
    assert cz.get_model("vgg11", features_only=True).feature_info[0].module == "stages.0"  # an unstrided stem


def test_out_indices_select_and_the_encoder_stops_at_the_last_one():
    encoder = cz.get_model("resnet50", features_only=True, out_indices=(1, -1))
    assert encoder.reductions == [8, 32] and encoder.channels == [512, 2048]
    shallow = cz.get_model("resnet50", features_only=True, out_indices=(0, 1))
    assert len(shallow.stages) == 2  # stages 2 and 3 are not even built into it
    maps = shallow.eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 256, 16, 16), (1, 512, 8, 8)]


def test_bad_out_indices_list_what_there_is():
    with pytest.raises(ValueError, match=r"out_indices \(4,\): resnet18 has 4 maps \(0: stages.0 /4, 1: stages.1 /8, "
                                         r"2: stages.2 /16, 3: stages.3 /32\); choose indices among 0..3"):
        cz.get_model("resnet18", features_only=True, out_indices=(4,))
    with pytest.raises(ValueError, match="pass features_only=True with it"):
        cz.get_model("resnet18", out_indices=(1,))


def test_pretrained_weights_load_into_the_encoder():
    """The real Lite0 weights: the encoder's maps are the pretrained classifier's."""
    model = cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()
    encoder = cz.get_model("efficientnet_lite0", weights="DEFAULT", features_only=True).eval()
    assert encoder.pretrained_weights.tag == model.pretrained_weights.tag
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for got, want in zip(encoder(x), model.forward_stages(x)):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
