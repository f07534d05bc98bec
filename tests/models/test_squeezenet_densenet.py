"""SqueezeNet 1.0/1.1 and DenseNet-121/161/169/201 against torchvision."""
import re

import pytest
import torch
import torchvision

import convzoo as cz
from parity import assert_close, assert_parity, check_anatomy, randomize_

SQUEEZENET = ["squeezenet1_0", "squeezenet1_1"]
DENSENET = ["densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("name", ["squeezenet1_1", "densenet121"])
def test_parity_small_input(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=64)


@pytest.mark.slow
@pytest.mark.parametrize("name", SQUEEZENET + DENSENET)
def test_parity_full_size(name, tmp_path):
    assert_parity(name, torchvision.models.get_model(name), tmp_path, input_size=224)


def test_squeezenet_training_mode_matches_torchvision(tmp_path):
    """The dropout sits where torchvision's does (before the conv classifier):
    the same seed draws the same mask."""
    reference = torchvision.models.squeezenet1_0()
    ours = assert_parity("squeezenet1_0", reference, tmp_path, input_size=96)
    x = torch.randn(2, 3, 96, 96)
    ours.train()
    reference.train()
    with torch.no_grad():
        torch.manual_seed(5)
        expected = reference(x)
        torch.manual_seed(5)
        got = ours(x)
    assert_close(got, expected)


def test_anatomy_densenet121():
    check_anatomy("densenet121", input_size=32)


def test_anatomy_squeezenet1_0():
    """SqueezeNet has three pools after a stride-2 stem: its last stage ends at
    stride 16 (13x13 at 224)."""
    model = cz.get_model("squeezenet1_0")
    assert [(s.channels, s.reduction) for s in model.feature_info] == [(256, 4), (512, 8), (512, 16)]
    check_anatomy("squeezenet1_0", input_size=96, last_reduction=16)

def test_densenet_stages():
    with torch.device("meta"):
        model = cz.get_model("densenet161")
    # Stage i > 0 opens with transition i (halving channels and resolution).
    assert [(s.channels, s.reduction) for s in model.feature_info] == [
        (96 + 6 * 48, 4), (192 + 12 * 48, 8), (384 + 36 * 48, 16), (1056 + 24 * 48, 32)]
    assert [len(stage.layers) for stage in model.stages] == [6, 12, 36, 24]


def _to_pre_0_4_names(state_dict):
    """Rename a current torchvision DenseNet state_dict the way checkpoints from
    before PyTorch 0.4 were named (`norm.1` for `norm1`, ...): the inverse of the
    regex in torchvision's densenet._load_state_dict. Those checkpoints also
    predate BatchNorm's `num_batches_tracked`, so it is dropped."""
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(weight|bias|running_mean|running_var)$")
    renamed = {}
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        renamed[pattern.sub(r"\1.\2.\3", key)] = value
    return renamed


def test_densenet_loads_pre_0_4_checkpoint_names(tmp_path):
    reference = randomize_(torchvision.models.densenet121()).eval()
    old = _to_pre_0_4_names(reference.state_dict())
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    assert "features.denseblock4.denselayer16.conv.2.weight" in old
    assert not any(re.search(r"denselayer\d+\.(norm|conv)[12]\.", k) for k in old)
    path = tmp_path / "densenet121_old.pth"
    torch.save(old, path)

    ours = cz.get_model("densenet121", weights=str(path)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert_close(ours(x), reference(x))


class _SavedForBackward:
    """Counts the bytes of the distinct tensors autograd keeps for backward
    (parameters aside): the activation memory of training, whatever the allocator."""

    def __init__(self, model):
        self.weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages = {}

    def pack(self, t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in self.weights:
            self.storages[storage.data_ptr()] = storage.nbytes()
        return t

    def __enter__(self):
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)

    @property
    def nbytes(self):
        return sum(self.storages.values())


def test_densenet_memory_efficient_same_results_less_saved():
    """Checkpointing the concat + BN + ReLU + 1x1 conv changes nothing but
    memory: training-mode outputs, every gradient, and the BN running
    statistics after the step (the recomputation must not update them twice)
    are the same; much less is kept for backward."""
    torch.manual_seed(0)
    plain = randomize_(cz.get_model("densenet121")).train()
    efficient = cz.get_model("densenet121", memory_efficient=True).train()
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    outputs, saved = [], []
    for model in (plain, efficient):
        with _SavedForBackward(model) as counter:
            out = model(x)
        out.square().mean().backward()
        outputs.append(out.detach())
        saved.append(counter.nbytes)
    assert_close(outputs[1], outputs[0], rtol=1e-6)
    for (name, p), q in zip(plain.named_parameters(), efficient.parameters()):
        assert q.grad is not None, name
        assert_close(q.grad, p.grad, rtol=1e-5)
    for (name, a), b in zip(plain.named_buffers(), efficient.buffers()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=f"buffer {name}")
    assert saved[1] < 0.6 * saved[0], f"saved for backward: {saved[0]} plain, {saved[1]} memory-efficient"


def test_densenet_memory_efficient_recomputes_only_when_training(monkeypatch):
    """With gradients, the bottleneck runs twice (forward, and again in
    backward); in inference (no_grad) nothing is saved, so it runs once."""
    model = cz.get_model("densenet121", memory_efficient=True)
    layer = model.stages[0].layers[0]
    calls = []

    def counted_bottleneck(*features, bottleneck=layer.bottleneck):
        calls.append(1)
        return bottleneck(*features)

    monkeypatch.setattr(layer, "bottleneck", counted_bottleneck)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        model.eval()(x)
    assert len(calls) == 1
    calls.clear()
    model.train()(x).sum().backward()
    assert len(calls) == 2
    # A frozen stem: no gradient flows into the block's input, but the block's
    # own weights train, so its bottleneck is still checkpointed.
    model.freeze(0)
    calls.clear()
    model.train()(x).sum().backward()
    assert len(calls) == 2
