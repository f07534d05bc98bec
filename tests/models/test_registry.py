"""The registry and the weight loader, independent of any one family."""
import pytest
import torch

import convzoo as cz
from convzoo.weights.loading import read_checkpoint


def test_list_models_pattern():
    names = cz.list_models("resnet*")
    assert "resnet50" in names and "resnext50_32x4d" not in names
    assert names.index("resnet18") < names.index("resnet101")
    assert set(cz.list_models()) >= set(names)


def test_unknown_model_names_close_matches():
    with pytest.raises(ValueError, match="resnet50"):
        cz.get_model("resnet05")


def test_one_matcher_answers_every_command_with_close_names():
    """factory.match_models (bench, compare, select, serve, smp) and the registry's lookup
    (get_model, info, export) name the same close matches: registry.close_names."""
    from convzoo.factory import match_models
    from convzoo.registry import close_names

    # Once each, in pattern order.
    assert match_models(["mobilenet_v3_small", "resnet1*", "resnet18"]) == \
        ["mobilenet_v3_small"] + cz.list_models("resnet1*")
    assert close_names("efficentnet*")[0] == "efficientnet*"  # a misspelt family: its pattern first
    with pytest.raises(ValueError, match=r"^no model matches 'resnt5\*': did you mean .*resnet50"):
        match_models(["resnet18", "resnt5*"])
    with pytest.raises(ValueError, match=r"unknown model 'resnt50'\. Did you mean: resnet50"):
        cz.model_info("resnt50")
    # With pretrained=True a real model without weights is named as such, with no guesses.
    with pytest.raises(ValueError, match=r"^no model with published weights matches 'van_b3' \(`convzoo list"):
        match_models(["van_b3"], pretrained=True)
    assert match_models("efficientnet_lite*", pretrained=True)[:2] == ["efficientnet_lite0", "efficientnet_lite1"]


def test_model_info_has_paper_year_params_gflops():
    info = cz.model_info("resnet18")
    assert info.family == "resnet" and info.year == 2015
    assert "Residual" in info.paper.title
    assert info.params == sum(p.numel() for p in cz.get_model("resnet18").parameters())
    assert 1.7 < info.gflops < 1.9


def test_num_classes_zero_gives_pooled_features():
    model = cz.get_model("resnet18", num_classes=0).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 512)


def test_freeze_keeps_bn_statistics_and_grads_off():
    model = cz.get_model("resnet18")
    model.freeze(stages=2)
    model.train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert not model.stem.bn.training and model.stages[2][0].conv1.bn.training
    mean_before = model.stages[0][0].conv1.bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(model.stages[0][0].conv1.bn.running_mean, mean_before)
    with pytest.raises(ValueError, match="has 4"):
        model.freeze(stages=5)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoint_formats_and_wrappers(tmp_path, suffix):
    model = cz.get_model("resnet18")
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / f"ckpt{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(sd, str(path))
    else:  # DDP prefix inside a training-checkpoint dict
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in sd.items()}}, path)
    loaded = cz.get_model("resnet18", weights=str(path))
    for k, v in loaded.state_dict().items():
        torch.testing.assert_close(v, sd[k])


def test_corrupt_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(cz.WeightsMismatchError, match="broken.pth"):
        read_checkpoint(path)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        cz.get_model("resnet18", weights=str(tmp_path / "nowhere.pth"))


def test_non_strict_load_reports_nothing_but_loads_what_fits():
    src = cz.get_model("resnet18", num_classes=10)
    dst = cz.get_model("resnet18")
    cz.load_weights(dst, {k: v for k, v in src.state_dict().items() if not k.startswith("head")}, strict=False)
    torch.testing.assert_close(dst.stem.conv.weight, src.stem.conv.weight)
