"""Do the fast paths keep the answers? Top-1 agreement with fp32 eager on real
images, for the real EfficientNet-Lite weights, every reduced precision.

    python benchmarks/agreement.py efficientnet_lite0 efficientnet_lite1 efficientnet_lite2

The images are tests/real_images.py's 500 (scikit-image photos with crops,
flips and a rotation; LFW faces; scikit-learn and MNIST digits, as RGB). int8
calibrates on every 5th image (100) and is scored, like every candidate, on the
other 400, so no candidate is scored on the images it was calibrated on.

Agreement is printed over all scored images, over the "confident" ones,
where fp32's top-1 probability is at least 0.5, and per source (photos,
faces, digits, MNIST): many of these images are far from ImageNet (digits,
faces, textures), fp32's best two classes are often within a hair of each
other there, and any rounding flips them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

import convzoo as cz

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_images import real_image_sources, real_images  # noqa: E402

CANDIDATES = [("torch", "bf16"), ("openvino", "bf16"), ("openvino", "int8"), ("onnxruntime", "fp32"),
              ("openvino", "fp32")]
CONFIDENT = 0.5  # fp32 top-1 probability from which an image counts as "confident"


def _split(items: list) -> tuple[list, list]:
    """(every 5th item: int8's calibration, the others: scored)."""
    return items[::5], [item for i, item in enumerate(items) if i % 5]


def agreement(name: str, images, sources: list[str], torch_int8: bool) -> list[tuple]:
    transform = cz.get_weights(name).transforms()
    calibration, scored = (torch.stack(part) for part in _split([transform(im) for im in images]))
    scored_sources = _split(sources)[1]
    model = cz.get_model(name, weights="DEFAULT").eval()
    with torch.inference_mode():
        probs = torch.cat([model(b).softmax(1) for b in scored.split(50)])
    expected, confident = probs.argmax(1), probs.max(1).values >= CONFIDENT
    rows = []
    for runtime, precision in CANDIDATES + ([("torch", "int8")] if torch_int8 else []):
        print(f"  {name}: {runtime} {precision}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        fast = cz.optimize(cz.get_model(name, weights="DEFAULT"), runtime=runtime, precision=precision,
                           calibration=calibration, compile=False, progress=False)
        with torch.inference_mode():
            got = torch.cat([fast(b).argmax(1) for b in scored.split(50)])
        same = got == expected
        by_source = {source: same[torch.tensor([s == source for s in scored_sources])].float().mean().item()
                     for source in set(scored_sources)}
        rows.append((f"{runtime} {precision}", same.float().mean().item(), int((~same).sum()),
                     same[confident].float().mean().item(), int(confident.sum()), time.perf_counter() - start,
                     by_source))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
    p.add_argument("--torch-int8", action="store_true", help="also torchao PT2E int8 (compiles: about a minute)")
    args = p.parse_args(argv)
    images, sources = real_images(), real_image_sources()
    calibration_sources, scored_sources = _split(sources)
    names = list(dict.fromkeys(sources))  # photo, face, digit, mnist
    counts = ", ".join(f"{scored_sources.count(s)} {s}" for s in names)
    print(f"{len(images)} real images: {len(calibration_sources)} calibrate int8, "
          f"{len(scored_sources)} scored ({counts})")
    for name in args.models:
        print(f"\n{name:<20} {'top-1 agree':>11} {'differ':>7} {'confident':>16} {'build+run s':>12}  "
              + " ".join(f"{s:>6}" for s in names))
        for label, same, differ, conf_same, conf_n, seconds, by_source in agreement(name, images, sources,
                                                                                    args.torch_int8):
            print(f"{label:<20} {same:>11.2%} {differ:>7} {conf_same:>7.2%} of {conf_n:>4} {seconds:>12.1f}  "
                  + " ".join(f"{by_source[s]:>6.1%}" for s in names), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
