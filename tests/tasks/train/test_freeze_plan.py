"""--freeze auto (optim.auto_freeze): from pretrained weights the stem and the
high-resolution stages stay frozen, from scratch nothing; --freeze none trains
everything, the stem too; a run records what it froze."""
import json

import pytest
import torch

import convzoo as cz
from convzoo.tasks.shared.checkpoint import load_checkpoint
from convzoo.tasks.shared.seeding import seed_everything
from convzoo.tasks.train.loop import TrainConfig, build_model, train
from convzoo.tasks.train.optim import apply_freeze, auto_freeze

from mnist_folder import write_mnist_folder


@pytest.mark.parametrize("name, expected", [
    ("efficientnet_lite0", "stages:2"),  # stages at 1/2 and 1/4 of the input
    ("mobilenet_v3_large", "stages:2"),
    ("resnet50", "stages:1"),  # layer1 (1/4); Detectron2's FREEZE_AT=2
    ("convnext_tiny", "stages:1"),
    ("alexnet", "stages:0"),  # its first stage is already at 1/8: the stem alone
])
def test_pretrained_weights_keep_the_high_resolution_stages_frozen(name, expected):
    model = cz.get_model(name, weights=None)
    assert auto_freeze(model, pretrained=True) == expected
    assert auto_freeze(model, pretrained=False) == "none"


def test_freeze_none_trains_the_stem_and_stages_zero_keeps_it_frozen():
    model = cz.get_model("resnet18", weights=None)
    apply_freeze(model, 0, "stages:0")
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert all(p.requires_grad for s in model.stages for p in s.parameters())
    apply_freeze(model, 0, "none")
    assert all(p.requires_grad for p in model.parameters())


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_mnist_folder(tmp_path_factory.mktemp("digits"), per_class=6, classes=range(2))


@pytest.mark.parametrize("weights, freeze, stem_moves", [("DEFAULT", "stages:2", False), (None, "none", True)])
def test_a_run_records_what_auto_froze_and_frozen_weights_do_not_move(digits, tmp_path, weights, freeze, stem_moves):
    out = tmp_path / "run"
    cfg = TrainConfig(str(digits), model="efficientnet_lite0", weights=weights, out=str(out), epochs=1, batch_size=4,
                      image_size=32, progress=False, check_data=False, seed=0, amp="none")
    train(cfg)
    meta = json.loads((out / "last.json").read_text())
    assert meta["config"]["freeze"] == freeze
    trained, _ = load_checkpoint(out / "last.safetensors")
    seed_everything(cfg.seed)  # the run's own start: the same seed, then the same model
    start = build_model(cfg, 2)
    same = [torch.equal(a, b) for a, b in zip(start.stem.state_dict().values(), trained.stem.state_dict().values())]
    assert all(same) is not stem_moves
    if not stem_moves:  # frozen stages keep their weights and BatchNorm statistics
        assert all(torch.equal(a, b) for a, b in zip(start.stages[1].state_dict().values(),
                                                     trained.stages[1].state_dict().values()))
        assert not all(torch.equal(a, b) for a, b in zip(start.stages[2].state_dict().values(),
                                                         trained.stages[2].state_dict().values()))
