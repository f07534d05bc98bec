"""Why `convzoo serve` shortens Python's GIL switch interval (serve/workers.py).

    python benchmarks/gil_contention.py

An eager forward pass hands the GIL back during each operator and takes it
again between two. Beside a thread that runs Python (the server's event loop
parsing an upload, a thread decoding the next image), it waits for that thread
to give the GIL up: up to one switch interval (CPython's default 5 ms) each
time. This times efficientnet_lite0 in bf16 on a batch of 8 alone, then beside
a busy pure-Python thread and beside a thread decoding PNGs, at each switch
interval; ms per image, all in one run.
"""
from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

import torch

import convzoo as cz


def per_image_ms(model, x, rounds: int = 20) -> float:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
        start = time.perf_counter()
        for _ in range(rounds):
            model(x)
    return (time.perf_counter() - start) / rounds / len(x) * 1000


def main() -> int:
    import skimage
    from PIL import Image

    model = cz.get_model("efficientnet_lite0", weights="DEFAULT").eval()
    x = torch.randn(8, 3, 224, 224)
    png = (Path(skimage.__file__).parent / "data" / "astronaut.png").read_bytes()
    stop = threading.Event()

    def python_work():
        while not stop.is_set():
            sum(range(1000))

    def decoding():
        while not stop.is_set():
            Image.open(io.BytesIO(png)).convert("RGB").resize((256, 256))

    print(f"alone: {per_image_ms(model, x):.1f} ms per image")
    default = sys.getswitchinterval()
    try:
        for label, work in (("beside a busy Python thread", python_work), ("beside a PNG-decoding thread", decoding)):
            for interval in (0.005, 0.0005):
                sys.setswitchinterval(interval)
                stop.clear()
                thread = threading.Thread(target=work, daemon=True)
                thread.start()
                ms = per_image_ms(model, x)
                stop.set()
                thread.join()
                print(f"{label}, switch interval {interval * 1000:g} ms: {ms:.1f} ms per image")
    finally:
        sys.setswitchinterval(default)
    return 0


if __name__ == "__main__":
    sys.exit(main())
