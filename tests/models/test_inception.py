"""GoogLeNet and Inception v3 against torchvision, and their auxiliary classifiers."""
import pytest
import torch
import torchvision
from torch import nn

import convzoo as cz
from convzoo.tasks.train.loop import loss_and_logits
from parity import assert_close, assert_parity, check_anatomy, count_params, randomize_

FULL_SIZE = {"googlenet": 224, "inception_v3": 299}


def reference(name, **kwargs):
    """torchvision's model; init_weights=False skips its slow scipy-free init
    (randomize_ overwrites every weight anyway)."""
    return torchvision.models.get_model(name, init_weights=False, **kwargs)


def train_mode_without_noise(model: nn.Module) -> nn.Module:
    """Training mode (so the auxiliary heads run), but BN on running statistics
    and no dropout: deterministic, comparable outputs."""
    model.train()
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.Dropout)):
            m.eval()
    return model


# Fast: the two published configurations (aux heads + transform_input as the
# weights, neither); slow: every combination at full size.
FAST_FLAGS = [dict(aux_logits=True, transform_input=True), dict(aux_logits=False, transform_input=False)]
ALL_FLAGS = [dict(aux_logits=a, transform_input=t) for a in (True, False) for t in (True, False)]


@pytest.mark.parametrize("flags", FAST_FLAGS, ids=str)
def test_googlenet_parity_small_input(flags, tmp_path):
    assert_parity("googlenet", reference("googlenet", **flags), tmp_path, input_size=112, **flags)


@pytest.mark.parametrize("flags", FAST_FLAGS, ids=str)
def test_inception_v3_parity_small_input(flags, tmp_path):
    assert_parity("inception_v3", reference("inception_v3", **flags), tmp_path, input_size=160, batch=1, **flags)


@pytest.mark.slow
@pytest.mark.parametrize("flags", ALL_FLAGS, ids=str)
@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_parity_full_size(name, flags, tmp_path):
    assert_parity(name, reference(name, **flags), tmp_path, input_size=FULL_SIZE[name], **flags)


def _aux_parity(name, size, tmp_path):
    """The auxiliary heads compute torchvision's function too (eval parity
    never runs them): training mode, BN and dropout frozen."""
    ref = train_mode_without_noise(randomize_(reference(name, aux_logits=True)))
    path = tmp_path / "ref.pth"
    torch.save(ref.state_dict(), path)
    ours = train_mode_without_noise(cz.get_model(name, weights=str(path), aux_logits=True))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    if name == "googlenet":  # torchvision: (logits, aux2, aux1); ours: in the order of depth
        expected = (expected.logits, expected.aux_logits1, expected.aux_logits2)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert_close(g, e)


def test_googlenet_aux_heads_match_torchvision(tmp_path):
    _aux_parity("googlenet", 112, tmp_path)


@pytest.mark.slow
def test_inception_v3_aux_head_matches_torchvision(tmp_path):
    _aux_parity("inception_v3", 299, tmp_path)  # the aux head needs 17x17 maps: 299 px


@pytest.mark.parametrize("name, size, n_aux, aux_loss_weight", [
    ("googlenet", 112, 2, 0.3),  # the paper's Section 5
    pytest.param("inception_v3", 299, 1, 0.4, marks=pytest.mark.slow),  # its aux head needs 299 px; TF-slim's 0.4
])
def test_aux_training_step(name, size, n_aux, aux_loss_weight):
    """Training mode: (logits, aux...) all (N, num_classes); the model's own
    weighted auxiliary loss (what `convzoo train` uses) trains the aux heads.
    Eval: logits only."""
    torch.manual_seed(0)
    model = cz.get_model(name, num_classes=5, aux_logits=True).train()
    assert model.aux_loss_weight == aux_loss_weight
    x, y = torch.randn(2, 3, size, size), torch.tensor([1, 4])
    out = model(x)
    assert isinstance(out, tuple) and len(out) == 1 + n_aux
    assert all(o.shape == (2, 5) for o in out)
    ce = nn.functional.cross_entropy
    loss, logits = loss_and_logits(out, y, ce, model.aux_loss_weight)
    assert logits is out.logits
    torch.testing.assert_close(loss, ce(out.logits, y) + aux_loss_weight * sum(ce(aux, y) for aux in out[1:]))
    before = {k: p.detach().clone() for k, p in model.aux_heads.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    unchanged = [k for k, p in model.aux_heads.named_parameters() if torch.equal(p, before[k])]
    assert not unchanged, f"aux head weights not updated: {unchanged}"

    model.eval()
    with torch.no_grad():
        logits = model(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 5)


def test_reset_classifier_resets_aux_heads():
    model = cz.get_model("googlenet", aux_logits=True)
    model.reset_classifier(3)
    assert model.num_classes == 3
    assert [aux.fc.out_features for aux in model.aux_heads.values()] == [3, 3]
    model.train()
    assert [o.shape for o in model(torch.randn(2, 3, 64, 64))] == [(2, 3)] * 3
    model.reset_classifier(0)  # features only: the aux heads give their hidden features
    assert all(isinstance(aux.fc, nn.Identity) for aux in model.aux_heads.values())


def test_aux_logits_false_has_no_aux_heads():
    model = cz.get_model("googlenet", num_classes=4).train()
    assert not model.aux_logits and len(model.aux_heads) == 0
    out = model(torch.randn(2, 3, 64, 64))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 4)


def test_anatomy_googlenet_with_aux():
    check_anatomy("googlenet", input_size=96, aux_logits=True)


def test_anatomy_inception_v3():
    # The aux head only runs on 299 px inputs (see test_aux_training_step);
    # 171 px is the smallest where every stage's stride rounds right.
    check_anatomy("inception_v3", input_size=171, aux_logits=False)


def test_stage_layout():
    with torch.device("meta"):
        googlenet, inception_v3 = cz.get_model("googlenet"), cz.get_model("inception_v3")
    assert [(s.channels, s.reduction) for s in googlenet.feature_info] == [
        (192, 4), (480, 8), (832, 16), (1024, 32)]
    assert [(s.channels, s.reduction) for s in inception_v3.feature_info] == [
        (192, 4), (288, 8), (768, 16), (2048, 32)]


def test_torchvision_checkpoint_with_aux_into_model_without(tmp_path):
    """torchvision's googlenet file holds the aux heads; our default googlenet
    has none: the heads are dropped on load, the rest computes the same."""
    ref = randomize_(reference("googlenet", aux_logits=True)).eval()
    path = tmp_path / "googlenet_with_aux.pth"
    torch.save(ref.state_dict(), path)
    ours = cz.get_model("googlenet", weights=str(path)).eval()
    assert not ours.aux_logits
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert_close(ours(x), ref(x))

    trained = cz.get_model("googlenet", aux_logits=True)  # our own layout, with aux heads
    cz.load_weights(ours, trained.state_dict())
    torch.testing.assert_close(ours.stem.conv1.conv.weight, trained.stem.conv1.conv.weight)


def test_new_num_classes_skips_every_classifier(tmp_path):
    ref = randomize_(reference("googlenet", aux_logits=True))
    path = tmp_path / "ref.pth"
    torch.save(ref.state_dict(), path)
    ours = cz.get_model("googlenet", weights=str(path), aux_logits=True, num_classes=10)
    assert ours.head.fc.out_features == 10
    assert [aux.fc.out_features for aux in ours.aux_heads.values()] == [10, 10]
    torch.testing.assert_close(ours.aux_heads["inception4a"].hidden[0].weight, ref.aux1.fc1.weight)
    torch.testing.assert_close(ours.stages[3].inception5b.branch_pool[1].conv.weight,
                               ref.inception5b.branch4[1].conv.weight)


def test_paper_5x5_kernel_option():
    """large_kernel=5: the paper's 5x5 branch (torchvision's weights have 3x3)."""
    paper = cz.get_model("googlenet", large_kernel=5)
    conv5 = paper.stages[1].inception3a.branch5x5[1].conv
    assert conv5.kernel_size == (5, 5)
    assert count_params(paper) > cz.model_info("googlenet").params
    with torch.no_grad():
        assert paper.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_transform_input_with_grey_input():
    """Published weights set transform_input; a grey model gets the RGB
    channels' average scale and shift."""
    model = cz.get_model("googlenet", in_chans=1, transform_input=True).eval()
    assert model.stem.input_transform.scale.shape == (1, 1, 1, 1)
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 1000)
