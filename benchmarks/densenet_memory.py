"""Peak training memory of DenseNet with and without `memory_efficient=True`.

    python benchmarks/densenet_memory.py                      # densenet121, 8 x 3 x 224 x 224, CPU
    python benchmarks/densenet_memory.py --batch 16 --device cuda

Each configuration runs in a fresh process (so one cannot inherit the other's
memory) and does one warm-up training step (SGD with momentum: gradients,
momentum buffers and kernel caches exist afterwards), then one measured step:
forward, cross-entropy, backward, optimizer step.

What is measured:
- CPU: the kernel's resident-set high-water mark. The worker resets it
  (`echo 5 > /proc/self/clear_refs`) just before the measured step and reads
  VmHWM from /proc/self/status afterwards; the figure is VmHWM minus the RSS
  at the reset. The worker runs with MALLOC_MMAP_THRESHOLD_ fixed at 64 KiB, so
  every tensor buffer is its own mapping, returned to the OS when freed: RSS
  follows the live tensors instead of glibc's retained heap. Without Linux
  /proc, the fallback is ru_maxrss minus the RSS before the warm-up step.
- CUDA: torch.cuda.max_memory_allocated over the measured step, minus the
  memory allocated before it.
- Both: the bytes of the distinct tensors autograd saves for backward during
  a training forward (saved_tensors_hooks), parameters left out -- the
  activation memory itself, independent of any allocator.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

MODES = {"plain": False, "memory_efficient": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="densenet121")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--worker", choices=list(MODES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = measure(args)
        print(json.dumps(result), flush=True)
        return

    print(f"{args.model}, batch {args.batch} x 3 x {args.size} x {args.size}, one training step on {args.device}",
          flush=True)
    results = {}
    for i, mode in enumerate(MODES, start=1):
        print(f"[{i}/{len(MODES)}] {mode}: starting a fresh process", flush=True)
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(64 * 1024), PYTHONUNBUFFERED="1")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--model", args.model,
               "--batch", str(args.batch), "--size", str(args.size), "--device", args.device,
               "--threads", str(args.threads)]
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
        results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[mode]
        print(f"      peak {r['peak_mib']:.0f} MiB ({r['method']}), saved for backward {r['saved_mib']:.0f} MiB, "
              f"step {r['step_s']:.2f} s", flush=True)

    plain, efficient = results["plain"], results["memory_efficient"]
    print()
    print(f"{'':18}{'peak (MiB)':>12}{'saved (MiB)':>13}{'step (s)':>10}")
    for mode, r in results.items():
        print(f"{mode:18}{r['peak_mib']:12.0f}{r['saved_mib']:13.0f}{r['step_s']:10.2f}")
    print(f"{'ratio':18}{efficient['peak_mib'] / plain['peak_mib']:12.2f}"
          f"{efficient['saved_mib'] / plain['saved_mib']:13.2f}{efficient['step_s'] / plain['step_s']:10.2f}")


def measure(args) -> dict:
    import torch

    import convzoo as cz

    def log(message):
        print(f"      {message}", file=sys.stderr, flush=True)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    log("building the model")
    model = cz.get_model(args.model, memory_efficient=MODES[args.worker]).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    target = torch.randint(0, 1000, (args.batch,), device=device)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    rss_before_warmup = _rss_bytes()
    log("warm-up step")
    step()

    log("measured step")
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base, method = torch.cuda.memory_allocated(), "cuda max_memory_allocated"
    elif _reset_peak_rss():
        base, method = _rss_bytes(), "peak RSS (VmHWM)"
    else:
        base, method = rss_before_warmup, "ru_maxrss"
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    step_s = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    elif method == "ru_maxrss":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    else:
        peak = _peak_rss_bytes()

    log("counting the tensors saved for backward")
    saved = {}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:  # the same in both modes: activations only
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), target)
    del loss
    return {"mode": args.worker, "method": method, "peak_mib": (peak - base) / 2**20,
            "saved_mib": sum(saved.values()) / 2**20, "step_s": step_s}


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M)
    except OSError:
        return None
    return int(m[1]) if m else None


def _rss_bytes() -> int:
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak_rss_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


if __name__ == "__main__":
    main()
