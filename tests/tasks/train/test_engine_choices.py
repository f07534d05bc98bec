"""The training engine's automatic choices (tasks/train/engine.py) follow what the
machine has: CPU flags, GPU, cores and memory are simulated; nothing is timed.
And the decoded-image cache (data/cache.py) gives the items the uncached set gives."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from convzoo.data.cache import CachedImages, cached, estimated_bytes, fits_in_memory, split_fixed
from convzoo.data.datasets import ImageDataset, Sample
from convzoo.data.preprocessing import Preprocessing
from convzoo.data.transforms import train_transforms
from convzoo.tasks.train.engine import MAX_AUTO_WORKERS, TRIAL_STEPS, PrecisionTrial, choose_engine, decide_amp
from convzoo.utils.cpu import cpu_capabilities

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
BASE = ("sse2", "avx", "avx2", "fma")
AVX512 = ("avx512f", "avx512bw", "avx512vl", "avx512dq")
MACHINES = {  # name: (flags, whether bf16 is native)
    "Zen 3 (AVX2)": (BASE, False),
    "Skylake-SP (AVX-512, emulated bf16)": (BASE + AVX512, False),
    "Cascade Lake (AVX-512 VNNI, no bf16)": (BASE + AVX512 + ("avx512_vnni",), False),
    "Zen 4 (AVX-512 bf16)": (BASE + AVX512 + ("avx512_vnni", "avx512_bf16"), True),
    "Sapphire Rapids (AMX)": (BASE + AVX512 + ("avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"), True),
    "ARM (no x86 flags)": (("fp", "asimd", "sve"), False),
}


def auto(**overrides):
    settings = dict(amp="auto", channels_last=None, cache="auto", workers=None, device=CPU, cacheable=True,
                    cache_fits=True, cores=2)
    settings.update(overrides)
    return choose_engine(settings.pop("amp"), settings.pop("channels_last"), settings.pop("cache"),
                         settings.pop("workers"), **settings)


@pytest.mark.parametrize("fp32_s, bf16_s, expected", [(1.0, 0.8, "bf16"), (1.0, 0.97, "none"), (1.0, 1.3, "none")])
def test_where_bf16_is_native_the_first_steps_measure_the_faster_precision(fp32_s, bf16_s, expected):
    flags, _ = MACHINES["Zen 4 (AVX-512 bf16)"]
    choice = auto(caps=cpu_capabilities(flags=flags), trial=True)
    assert choice.amp == "auto" and choice.amp_trial == ("none", "bf16")
    trial = PrecisionTrial(choice.amp_trial)
    asked = []
    while trial.deciding:
        amp = trial.amp()
        asked.append(amp)
        # a precision's first step is slow (kernels built): the warm-up leaves it out
        trial.record({"none": fp32_s, "bf16": bf16_s}[amp] * (10 if asked.count(amp) == 1 else 1))
    assert len(asked) == TRIAL_STEPS and asked.count("none") == asked.count("bf16")
    assert asked[2:] == ["none", "bf16", "bf16", "none", "none", "bf16"]  # ABBA: drift favours neither
    assert trial.chosen == expected and trial.amp() == expected
    assert f"{fp32_s:.2f} s in fp32, {bf16_s:.2f} s in bf16" in trial.line


def test_the_trial_compares_medians_so_one_slow_step_does_not_decide():
    assert decide_amp({"none": [1.0, 1.0, 3.0], "bf16": [0.8, 2.5, 0.8]})[0] == "bf16"
    assert decide_amp({"none": [1.0, 1.0, 1.0], "bf16": [0.99, 0.98, 0.97]})[0] == "none"  # within the margin


@pytest.mark.parametrize("machine", [m for m, (_, native) in MACHINES.items() if not native])
def test_without_native_bf16_nothing_is_timed(machine):
    choice = auto(caps=cpu_capabilities(flags=MACHINES[machine][0]), trial=True)
    assert choice.amp == "none" and choice.amp_trial == ()


def test_a_gpu_takes_its_precision_without_timing():
    choice = auto(device=CUDA, cuda_bf16=True, trial=True)
    assert choice.amp == "bf16" and choice.amp_trial == ()


def test_without_a_trial_native_bf16_is_taken_by_the_rule():
    flags, _ = MACHINES["Zen 4 (AVX-512 bf16)"]
    choice = auto(caps=cpu_capabilities(flags=flags), trial=False)
    assert choice.amp == "bf16" and choice.amp_trial == ()


@pytest.mark.parametrize("machine", MACHINES)
def test_bf16_autocast_only_where_the_cpu_has_it_natively(machine):
    flags, native = MACHINES[machine]
    choice = auto(caps=cpu_capabilities(flags=flags))
    assert choice.amp == ("bf16" if native else "none")
    assert choice.channels_last is True
    assert any(r.startswith(f"amp {choice.amp}") for r in choice.reasons)


def test_onednn_capped_at_avx2_trains_in_fp32_on_a_bf16_cpu():
    flags, _ = MACHINES["Zen 4 (AVX-512 bf16)"]
    assert auto(caps=cpu_capabilities(flags=flags, isa_cap="AVX2")).amp == "none"


@pytest.mark.parametrize("cuda_bf16, expected", [(True, "bf16"), (False, "fp16")])
def test_a_gpu_autocasts_to_bf16_where_it_has_it_else_fp16(cuda_bf16, expected):
    choice = auto(device=CUDA, cuda_bf16=cuda_bf16, caps=cpu_capabilities(flags=BASE))
    assert choice.amp == expected and choice.channels_last is True


def test_other_devices_train_in_fp32_and_nchw():
    choice = auto(device=torch.device("mps"))
    assert choice.amp == "none" and choice.channels_last is False


@pytest.mark.parametrize("cores, world_size, expected", [(2, 1, 2), (1, 1, 1), (64, 1, MAX_AUTO_WORKERS), (8, 4, 2),
                                                          (2, 4, 1)])
def test_workers_follow_the_cores_when_images_are_decoded_every_epoch(cores, world_size, expected):
    choice = auto(cache_fits=False, cores=cores, world_size=world_size)
    assert choice.cache is False and choice.workers == expected


def test_cached_images_need_no_loader_workers():
    choice = auto(cores=16)
    assert choice.cache is True and choice.workers == 0


def test_the_cache_is_left_off_when_the_set_does_not_fit_or_the_crop_starts_from_the_whole_image():
    too_big = auto(cache_fits=False)
    assert too_big.cache is False and any("quarter of the memory" in r for r in too_big.reasons)
    resized = auto(cacheable=False)
    assert resized.cache is False and any("--crop resized" in r for r in resized.reasons)


def test_settings_given_outright_are_kept():
    flags, _ = MACHINES["Zen 4 (AVX-512 bf16)"]
    choice = choose_engine("none", False, "off", 3, device=CPU, cacheable=True, cache_fits=True,
                           caps=cpu_capabilities(flags=flags), cores=2)
    assert (choice.amp, choice.channels_last, choice.cache, choice.workers) == ("none", False, False, 3)
    assert choice.reasons == ()
    forced = choose_engine("auto", None, "memory", None, device=CPU, cacheable=True, cache_fits=False, cores=2,
                           caps=cpu_capabilities(flags=BASE))
    assert forced.cache is True and forced.workers == 0


def test_bad_engine_settings_are_one_line_each():
    with pytest.raises(ValueError, match="--cache memory needs a training crop that starts with a resize"):
        auto(cache="memory", cacheable=False)
    with pytest.raises(ValueError, match="--amp fp8: use one of auto, none, bf16, fp16"):
        auto(amp="fp8")
    with pytest.raises(ValueError, match="--cache disk: use one of auto, memory, off"):
        auto(cache="disk")


def test_fits_in_memory_takes_a_quarter_of_what_is_available():
    assert fits_in_memory(250, available=1000)
    assert not fits_in_memory(251, available=1000)


# ---------------------------------------------------------------------------- the cache

@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six real-looking images of several sizes and aspect ratios (noise with structure)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    samples = []
    for i, (w, h) in enumerate([(120, 90), (90, 120), (64, 64), (200, 70), (75, 75), (101, 57)]):
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        path = root / f"{i}.png"
        Image.fromarray(pixels).save(path)
        samples.append(Sample(path, i % 2))
    return ImageDataset(samples, ["a", "b"])


PRE = Preprocessing(48, 56, "bilinear", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.mark.parametrize("transform", [train_transforms(PRE, hflip=True, crop="scale"), PRE.transforms()],
                         ids=["train crop", "eval crop"])
def test_cached_items_equal_the_uncached_ones_under_the_same_seed(photos, transform):
    plain = photos.with_transform(transform)
    cache = cached(photos, transform, threads=2)
    assert isinstance(cache, CachedImages) and len(cache) == len(plain)
    assert all(t.dtype == torch.uint8 for t in cache.images)
    for i in range(len(plain)):
        torch.manual_seed(i)
        x, y = plain[i]
        torch.manual_seed(i)
        cx, cy = cache[i]
        assert y == cy and torch.equal(x, cx)
    assert cache.labels == plain.labels and cache.class_counts() == plain.class_counts()


def test_a_transform_that_starts_with_a_random_resized_crop_is_not_cacheable(photos):
    assert split_fixed(train_transforms(PRE, crop="resized")) is None
    with pytest.raises(ValueError, match="nothing fixed to cache"):
        cached(photos, train_transforms(PRE, crop="resized"))


def test_the_estimate_reads_the_headers(photos):
    # every short side resized to 56 px: 3 bytes x 56 x 56 x (long / short), summed
    exact = sum(3 * 56 * 56 * max(Image.open(s.path).size) / min(Image.open(s.path).size) for s in photos.samples)
    assert estimated_bytes(photos, 56) == pytest.approx(exact, rel=0.01)


def image_folder(photos, root):
    """`photos` written as root/train/<class>/ and root/val/<class>/ (the same images in both)."""
    for split in ("train", "val"):
        for s in photos.samples:
            folder = root / split / photos.classes[s.label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.open(s.path).save(folder / s.path.name)
    return root


def test_a_training_run_records_the_engine_it_resolved(tmp_path, photos):
    from convzoo.tasks.train.loop import TrainConfig, train

    data = image_folder(photos, tmp_path / "data")
    out = tmp_path / "run"
    result = train(TrainConfig(str(data), model="mobilenet_v3_small", weights=None, out=str(out), epochs=1,
                               batch_size=2, image_size=32, progress=False, check_data=False, max_steps_per_epoch=1))
    config = json.loads((out / "best.json").read_text())["config"]
    assert config["cache"] == "memory" and config["workers"] == 0 and config["channels_last"] is True
    assert config["amp"] == ("bf16" if cpu_capabilities().native_bf16 else "none")  # this machine's CPU
    assert result["history"][0]["elapsed_s"] > 0


@pytest.mark.parametrize("amp, machine, kept", [
    ("auto", "Zen 4 (AVX-512 bf16)", True), ("bf16", "Zen 3 (AVX2)", True),
    ("auto", "Zen 3 (AVX2)", False), ("none", "Zen 4 (AVX-512 bf16)", False)])
def test_a_cpu_run_keeps_depthwise_convolutions_fp32_where_it_may_train_in_bf16(tmp_path, photos, monkeypatch,
                                                                              amp, machine, kept):
    """loop.py keeps them fp32 (depthwise.py) when the run may train in bf16 (auto on a CPU with
    native bf16, simulated; bf16 outright), and leaves the model alone when it trains in fp32."""
    import convzoo.tasks.train.engine as engine
    import convzoo.tasks.train.loop as loop

    flags, _ = MACHINES[machine]
    monkeypatch.setattr(engine, "cpu_capabilities", lambda: cpu_capabilities(flags=flags))
    calls = []
    monkeypatch.setattr(loop, "keep_depthwise_fp32", lambda model: calls.append(model) or 0)
    data = image_folder(photos, tmp_path / "data")
    loop.train(loop.TrainConfig(str(data), model="mobilenet_v3_small", weights=None, out=str(tmp_path / "run"),
                                epochs=1, batch_size=2, image_size=32, amp=amp, progress=False, check_data=False,
                                max_steps_per_epoch=1))
    assert len(calls) == kept


@pytest.mark.parametrize("epochs, world_size, amp, expected", [
    (20, 1, "auto", True), (1, 1, "auto", False), (20, 2, "auto", False), (20, 1, "none", False)])
def test_a_trial_runs_only_in_a_run_long_enough_on_one_process(photos, epochs, world_size, amp, expected):
    """A run shorter than the trial, one under torchrun, or one given its precision measures nothing."""
    from convzoo.tasks.shared.distributed import DistContext
    from convzoo.tasks.train.loop import TrainConfig, trial_allowed

    cfg = TrainConfig("unused", batch_size=2, epochs=epochs, amp=amp)
    assert trial_allowed(cfg, DistContext(0, world_size, 0, CPU), len(photos)) is expected


def test_a_run_long_enough_records_the_precision_its_trial_chose(tmp_path, photos, monkeypatch):
    """On a CPU with native bf16 (simulated) the first steps alternate; the checkpoint records the choice."""
    import convzoo.tasks.train.engine as engine
    from convzoo.tasks.train.loop import TrainConfig, train

    flags, _ = MACHINES["Zen 4 (AVX-512 bf16)"]
    monkeypatch.setattr(engine, "cpu_capabilities", lambda: cpu_capabilities(flags=flags))
    data = image_folder(photos, tmp_path / "data")
    out = tmp_path / "run"
    epochs = -(-2 * TRIAL_STEPS // (len(photos) // 2))  # just long enough
    result = train(TrainConfig(str(data), model="mobilenet_v3_small", weights=None, out=str(out), epochs=epochs,
                               batch_size=2, image_size=32, progress=False, check_data=False, mlflow=True))
    config = json.loads((out / "last.json").read_text())["config"]
    assert config["amp"] in ("none", "bf16")
    assert len(result["history"]) == epochs
    # MLflow keeps the config's "auto" (a param cannot change) and adds what the trial chose
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(out / "mlruns").as_uri())
    (found,) = client.search_runs([client.get_experiment_by_name("convzoo").experiment_id])
    assert found.data.params["amp"] == "auto" and found.data.params["amp_chosen"] == config["amp"]
