"""convzoo.seg: decoders (UNet against segmentation_models_pytorch's), the
segmentation model over encoders of several families, IoU by hand, the mask
folder, and a tiny training run end to end."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from PIL import Image

import convzoo as cz
from convzoo.seg import FPNDecoder, SegmentationModel, UNetDecoder, get_seg_model
from convzoo.seg.data import SegmentationFolder, find_pairs, largest_class, split_pairs
from convzoo.seg.metrics import ConfusionMatrix, mean_iou
from parity import assert_close, randomize_, smallest_of_each_family

# Finest map /2 (EfficientNet-Lite, MobileNetV3), /4 (ResNet: the stem's map), a stem
# with its own stride and a NASNet-style forward_stages aside (covered under -m slow).
FAST_ENCODERS = ["efficientnet_lite0", "resnet18", "mobilenet_v3_small", "squeezenet1_1"]


def _maps(channels, size, reductions):
    return [torch.randn(2, c, math.ceil(size / r), math.ceil(size / r)) for c, r in zip(channels, reductions)]


# ---- decoders --------------------------------------------------------------------------

def test_unet_decoder_matches_smp_unet_decoder():
    smp_decoder = pytest.importorskip("segmentation_models_pytorch.decoders.unet.decoder")
    channels, widths = [16, 24, 40, 112], [64, 32, 16]
    # smp's list starts with the input itself (dropped), and its blocks each end at the next
    # finer map's size: with one block per skip it is the same network as ours.
    reference = randomize_(smp_decoder.UnetDecoder([3, *channels], widths, n_blocks=3)).eval()
    ours = UNetDecoder(channels, widths).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    maps = _maps(channels, 33, [2, 4, 8, 16])  # odd: 17, 9, 5, 3
    with torch.no_grad():
        assert_close(ours(maps), reference([torch.randn(2, 3, 33, 33), *maps]))


def test_fpn_decoder_one_level_is_lateral_smooth_segmentation():
    decoder = randomize_(FPNDecoder([8], pyramid_channels=6, segmentation_channels=4)).eval()
    x = torch.randn(1, 8, 5, 7)
    with torch.no_grad():
        expected = decoder.segmentation[0](decoder.smooth[0](decoder.laterals[0](x)))
        assert_close(decoder([x]), expected)


def test_fpn_decoder_top_down_sums_the_enlarged_coarser_level():
    decoder = randomize_(FPNDecoder([4, 8], pyramid_channels=6, segmentation_channels=5)).eval()
    fine, coarse = torch.randn(1, 4, 9, 9), torch.randn(1, 8, 5, 5)
    with torch.no_grad():
        top = decoder.laterals[0](coarse)
        p_fine = decoder.laterals[1](fine) + torch.nn.functional.interpolate(top, size=(9, 9), mode="nearest")
        seg_coarse = torch.nn.functional.interpolate(decoder.segmentation[0](decoder.smooth[0](top)), size=(9, 9),
                                                     mode="bilinear", align_corners=False)
        expected = seg_coarse + decoder.segmentation[1](decoder.smooth[1](p_fine))
        assert_close(decoder([fine, coarse]), expected)


@pytest.mark.parametrize("decoder_cls", [UNetDecoder, FPNDecoder])
@pytest.mark.parametrize("n_maps", [1, 2, 6])
def test_decoders_take_any_number_of_maps_and_odd_sizes(decoder_cls, n_maps):
    channels = [8 * (i + 1) for i in range(n_maps)]
    maps = _maps(channels, 45, [2 ** (i + 1) for i in range(n_maps)])
    decoder = decoder_cls(channels)
    y = decoder(maps)
    assert y.shape == (2, decoder.out_channels, 23, 23)


def test_decoders_refuse_bad_widths_in_one_line():
    with pytest.raises(ValueError, match=r"3 positive widths, one per skip"):
        UNetDecoder([8, 16, 32, 64], [32, 16])
    with pytest.raises(ValueError, match="one positive count per encoder map"):
        FPNDecoder([])


# ---- the model -------------------------------------------------------------------------

@pytest.mark.parametrize("encoder", FAST_ENCODERS)
@pytest.mark.parametrize("decoder", ["unet", "fpn"])
def test_seg_model_logits_at_input_size(encoder, decoder):
    model = get_seg_model(encoder, num_classes=5, decoder=decoder).eval()
    with torch.no_grad():
        for size in ((64, 64), (37, 50)):
            assert model(torch.randn(1, 3, *size)).shape == (1, 5, *size)


def test_seg_model_encoder_equals_the_classifier_maps_and_loads_pretrained_weights():
    seg = get_seg_model("efficientnet_lite0", 3, encoder_weights="DEFAULT")
    classifier = cz.get_model("efficientnet_lite0", weights="DEFAULT")
    assert torch.equal(seg.encoder.stem[0].weight, classifier.stem[0].weight)
    # The weights' own normalisation (EfficientNet-Lite: 0.5/0.5), not ImageNet's.
    assert seg.preprocessing.mean == pytest.approx((0.498,) * 3, abs=1e-3)


def test_gradient_reaches_encoder_decoder_and_head():
    model = get_seg_model("resnet18", 3, decoder="unet")
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.randint(0, 3, (2, 32, 32)))
    loss.backward()
    for part in (model.encoder.stem, model.encoder.stages[0], model.encoder.stages[-1], model.decoder, model.head):
        grads = [p.grad for p in part.parameters()]
        assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_seg_model_scripts_and_traces():
    # Every family's encoder scripts (-m slow below); here the decoders and the model's
    # glue, over the quickest encoder to compile.
    model = randomize_(get_seg_model("resnet18", 4, decoder="unet")).eval()
    scripted = torch.jit.script(model)
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 3, 45, 38)
    with torch.no_grad():
        assert_close(scripted(x), model(x))
        assert_close(traced(x), model(x))
    fpn = randomize_(FPNDecoder([8, 16, 32], 12, 6)).eval()
    maps = _maps([8, 16, 32], 45, [4, 8, 16])
    with torch.no_grad():
        assert_close(torch.jit.script(fpn)(maps), fpn(maps))


def test_get_seg_model_options_and_errors():
    with pytest.raises(ValueError, match="unknown decoder 'deeplab': choose one of fpn, unet"):
        get_seg_model("resnet18", 3, decoder="deeplab")
    with pytest.raises(ValueError, match="one width per block"):
        get_seg_model("resnet18", 3, decoder_channels=64)
    model = get_seg_model("resnet18", 3, out_indices=(1, 2), decoder_channels=(32,))
    assert model.encoder.reductions == [8, 16] and model.decoder.out_channels == 32
    assert get_seg_model("resnet18", 3, decoder="fpn", decoder_channels=32).decoder.out_channels == 16
    dilated = get_seg_model("resnet18", 2, output_stride=8, in_chans=1)
    assert dilated.encoder.reductions[-1] == 8 and dilated(torch.randn(1, 1, 32, 32)).shape == (1, 2, 32, 32)


def test_fpn_starts_at_stride_4_by_default():
    assert min(get_seg_model("efficientnet_lite0", 3, decoder="fpn").encoder.reductions) == 4
    assert min(get_seg_model("efficientnet_lite0", 3, decoder="unet").encoder.reductions) == 2


@pytest.mark.slow
@pytest.mark.parametrize("encoder", smallest_of_each_family())
def test_seg_model_over_every_family(encoder):
    for decoder in ("unet", "fpn"):
        model = get_seg_model(encoder, num_classes=3, decoder=decoder)
        model.train()
        y = model(torch.randn(2, 3, 64, 64))
        assert y.shape == (2, 3, 64, 64)
        y.mean().backward()
        assert next(model.encoder.parameters()).grad is not None
        x = torch.randn(1, 3, 71, 67)  # odd; AlexNet's pools need about 64 px on each side
        with torch.no_grad():
            y = model.eval()(x)
            assert y.shape == (1, 3, 71, 67)
            if not model.encoder._own_forward_stages:  # NASNet's Python forward_stages does not script
                assert_close(torch.jit.script(model)(x), y)


# ---- metrics ---------------------------------------------------------------------------

def test_iou_by_hand():
    target = torch.tensor([[0, 0, 1, 1],
                           [0, 2, 2, 255]])
    predicted = torch.tensor([[0, 1, 1, 1],
                              [0, 2, 0, 1]])
    matrix = ConfusionMatrix(4)
    matrix.update(predicted, target)
    # class 0: TP 2 (the two 0s predicted 0), FP 1 (a 2 predicted 0), FN 1 (a 0 predicted 1): 2/4
    # class 1: TP 2, FP 1, FN 0: 2/3; class 2: TP 1, FN 1: 1/2; class 3 absent: NaN; 255 ignored.
    iou = matrix.iou()
    assert iou[:3] == pytest.approx([0.5, 2 / 3, 0.5]) and math.isnan(iou[3])
    assert matrix.mean_iou() == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert matrix.pixel_accuracy() == pytest.approx(5 / 7)
    logits = torch.nn.functional.one_hot(predicted, 4).permute(2, 0, 1)[None].float()
    assert mean_iou(logits, target[None], 4) == pytest.approx(matrix.mean_iou())


def test_iou_refuses_classes_beyond_num_classes():
    with pytest.raises(ValueError, match="target class 3 outside 0..2"):
        ConfusionMatrix(3).update(torch.zeros(1, 2, dtype=torch.long), torch.tensor([[0, 3]]))


# ---- data ------------------------------------------------------------------------------

def _write_folder(root, n=16, size=32, seed=0, classes=3):
    """Images with a bright square (class 1) and a dark-grey disc (class 2) on a mid
    background (class 0): the mask follows from the picture, so training can learn it."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        mask = np.zeros((size, size), np.uint8)
        x0, y0 = rng.integers(0, size // 2, 2)
        mask[y0:y0 + size // 3, x0:x0 + size // 3] = 1
        cx, cy = rng.integers(size // 4, 3 * size // 4, 2)
        if classes > 2:
            mask[(yy - cy) ** 2 + (xx - cx) ** 2 < (size // 6) ** 2] = 2
        image = np.select([mask == 1, mask == 2], [230, 20], 120).astype(np.uint8)
        image = np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).convert("RGB").save(root / "images" / f"{i:02d}.png")
        Image.fromarray(mask, mode="L").save(root / "masks" / f"{i:02d}.png")
    return root


def test_folder_pairs_images_with_masks_and_transforms_both(tmp_path):
    root = _write_folder(tmp_path / "d", n=4, size=20)
    pairs = find_pairs(root)
    assert [p[0].stem for p in pairs] == [p[1].stem for p in pairs] == ["00", "01", "02", "03"]
    assert largest_class(pairs)[0] == 2  # classes 0, 1, 2: seg-train's default num_classes is 3
    data = SegmentationFolder(pairs, image_size=33, mean=(0.5,) * 3, std=(0.25,) * 3)
    image, mask = data[0]
    assert image.shape == (3, 33, 33) and mask.shape == (33, 33) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= {0, 1, 2}  # nearest: no in-between class
    # Normalised with the given mean/std: the background (120 +- noise) sits near (120/255 - 0.5) / 0.25.
    assert image[:, mask == 0].mean().item() == pytest.approx((120 / 255 - 0.5) / 0.25, abs=0.1)
    # A training flip mirrors image and mask together.
    flipping = SegmentationFolder(pairs, 33, train=True, mean=(0.5,) * 3, std=(0.25,) * 3)
    seen = set()
    for seed in range(8):
        torch.manual_seed(seed)
        random.seed(seed)
        flipped_image, flipped_mask = flipping[0]
        same = torch.equal(flipped_mask, mask)
        seen.add(same)
        if same:
            assert torch.equal(flipped_image, image)
        else:
            assert torch.equal(flipped_mask, mask.flip(-1)) and torch.equal(flipped_image, image.flip(-1))
    assert seen == {True, False}


def test_folder_errors_name_the_problem(tmp_path):
    root = _write_folder(tmp_path / "d", n=2, size=16)
    (root / "masks" / "01.png").unlink()
    with pytest.raises(ValueError, match=r"no mask for image .*01\.png: expected .*masks.01\.png"):
        find_pairs(root)
    with pytest.raises(ValueError, match="images/ and masks/"):
        find_pairs(tmp_path / "nowhere")
    Image.new("RGB", (16, 16)).save(root / "masks" / "01.png")
    with pytest.raises(ValueError, match="single-channel"):
        SegmentationFolder(find_pairs(root), 16)[1]
    Image.new("L", (8, 8)).save(root / "masks" / "01.png")
    with pytest.raises(ValueError, match="must match its image's size"):
        SegmentationFolder(find_pairs(root), 16)[1]


def test_a_class_beyond_num_classes_is_named_before_training(tmp_path):
    root = _write_folder(tmp_path / "d", n=4, size=16)  # classes 0, 1, 2
    cfg = cz.SegTrainConfig(data=str(root), encoder="mobilenet_v3_small", encoder_weights=None, num_classes=2,
                            epochs=1, image_size=16, out=str(tmp_path / "run"), progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"masks.0\d\.png has class 2, but num_classes is 2 .*num_classes=3"):
        cz.train_segmentation(cfg)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_split_is_seeded_and_disjoint(tmp_path):
    pairs = find_pairs(_write_folder(tmp_path / "d", n=10, size=8))
    train, val = split_pairs(pairs, 0.3, seed=1)
    assert len(val) == 3 and not set(train) & set(val) and split_pairs(pairs, 0.3, seed=1) == (train, val)


# ---- training --------------------------------------------------------------------------

def test_train_segmentation_end_to_end(tmp_path):
    root = _write_folder(tmp_path / "data", n=16, size=32)
    cfg = cz.SegTrainConfig(data=str(root), encoder="mobilenet_v3_small", decoder="unet", encoder_weights=None,
                            epochs=2, batch_size=4, lr=3e-3, image_size=32, val_fraction=0.25,
                            out=str(tmp_path / "run"), progress=False, device="cpu")
    result = cz.train_segmentation(cfg)
    history = result["history"]
    assert result["num_classes"] == 3 and [row["epoch"] for row in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert 0 <= result["best_miou"] <= 1 and len(result["per_class_iou"]) == 3
    checkpoint = tmp_path / "run" / "best.safetensors"
    assert checkpoint.is_file() and (tmp_path / "run" / "metrics.json").is_file()
    assert not list((tmp_path / "run").glob("*.tmp"))  # written through a renamed temporary file
    model, meta = cz.load_seg_checkpoint(checkpoint)
    assert isinstance(model, SegmentationModel) and meta["epoch"] == result["best_epoch"]
    # The reloaded model scores the validation images as training's best epoch did.
    _, val = split_pairs(find_pairs(root), 0.25, seed=0)
    data = SegmentationFolder(val, 32, mean=model.preprocessing.mean, std=model.preprocessing.std)
    matrix = ConfusionMatrix(3)
    with torch.no_grad():
        for image, mask in data:
            matrix.update(model(image[None]).argmax(1), mask[None])
    assert matrix.mean_iou() == pytest.approx(result["best_miou"], abs=1e-6)
    with pytest.raises(ValueError, match="already holds a run"):
        cz.train_segmentation(cfg)


def test_seg_train_command_line(tmp_path, capsys):
    from convzoo.cli import main

    root = _write_folder(tmp_path / "data", n=6, size=16, classes=2)
    out = tmp_path / "run"
    code = main(["seg-train", str(root), "--encoder", "resnet18", "--encoder-weights", "none", "--epochs", "1",
                 "--batch-size", "3", "--image-size", "16", "--val-fraction", "0.34", "--out", str(out),
                 "--no-progress", "--device", "cpu", "--decoder", "fpn"])
    assert code == 0 and (out / "best.safetensors").is_file()
    assert '"num_classes": 2' in capsys.readouterr().out
    # Architecture options go into the sidecar, and the checkpoint rebuilds the same model from it.
    out = tmp_path / "run2"
    assert main(["seg-train", str(root), "--encoder", "resnet18", "--encoder-weights", "none", "--epochs", "1",
                 "--batch-size", "3", "--image-size", "16", "--val-fraction", "0.34", "--out", str(out),
                 "--no-progress", "--device", "cpu", "--decoder", "fpn", "--decoder-channels", "32",
                 "--out-indices", "1,2,3", "--output-stride", "16"]) == 0
    model, meta = cz.load_seg_checkpoint(out / "best.safetensors")
    assert meta["model_options"] == {"out_indices": [1, 2, 3], "decoder_channels": 32, "output_stride": 16}
    assert model.encoder.reductions == [8, 16, 16] and model.decoder.out_channels == 16  # stages 1-3, dilated last
    assert main(["seg-train", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "images/ and masks/" in capsys.readouterr().err
