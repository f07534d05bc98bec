"""LayerNorm over channels of NCHW tensors: which implementation is fastest?

Candidates (all compute nn.LayerNorm over the channel dim; checked here):

  permute_view      ours (convzoo.layers.norm.LayerNorm2d): F.layer_norm on the
                    (N, H, W, C) permuted view, result permuted back as a view
                    (channels_last memory). Also what torchvision and timm do.
  permute_roundtrip the same, but made contiguous on both sides so the result
                    is plain NCHW memory again (`x.permute(..).contiguous()` ->
                    LayerNorm -> `.permute(..).contiguous()`).
  var_mean_dim1     no permute: torch.var_mean over dim 1, then normalise and
                    scale (timm's channels-first fallback).
  official_cf       the ConvNeXt authors' "channels_first" LayerNorm: mean,
                    squared deviation mean, divide by sqrt, scale.

Measured on the shapes LayerNorm2d sees in ConvNeXt-T at 224x224 (the stem's
norm and the three downsampling norms), with both input memory layouts: NCHW
contiguous (what a stem conv fed an NCHW image produces) and channels_last
(what the blocks produce when the network runs channels_last), in eval forward
and in train forward+backward. Then whole convnext_tiny, with LayerNorm2d's
forward swapped for each candidate, because a candidate's output layout
changes the speed of every op after it.

Candidates run round-robin within each repetition so that load on the machine
hits all alike; the figures are medians, and "x ours" is candidate time / our
time (above 1: ours is faster).

    python benchmarks/layernorm2d.py                  # CPU, all threads
    python benchmarks/layernorm2d.py --threads 1 --batch 8 --reps 15
    python benchmarks/layernorm2d.py --device cuda --batch 64
    python benchmarks/layernorm2d.py --no-model       # only the op itself
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import convzoo as cz
from convzoo.layers.norm import LayerNorm2d


def permute_view(x, w, b, eps):
    return F.layer_norm(x.permute(0, 2, 3, 1), w.shape, w, b, eps).permute(0, 3, 1, 2)


def permute_roundtrip(x, w, b, eps):
    y = F.layer_norm(x.permute(0, 2, 3, 1).contiguous(), w.shape, w, b, eps)
    return y.permute(0, 3, 1, 2).contiguous()


def var_mean_dim1(x, w, b, eps):
    var, mean = torch.var_mean(x, dim=1, correction=0, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * w[:, None, None] + b[:, None, None]


def official_cf(x, w, b, eps):
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(s + eps)
    return w[:, None, None] * x + b[:, None, None]


CANDIDATES = {f.__name__: f for f in (permute_view, permute_roundtrip, var_mean_dim1, official_cf)}
OURS = "permute_view"

# (channels, height = width) of every LayerNorm2d in ConvNeXt-T at 224:
# the stem's norm and the norms that open the downsampling layers 1-3.
CONVNEXT_T_SHAPES = [(96, 56), (96, 56), (192, 28), (384, 14)]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device, inner: int) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    sync(device)
    return (time.perf_counter() - start) / inner


def race(calls: dict, device, reps: int, inner: int, warmup: int = 2) -> dict:
    """Median seconds per call of each entry, run round-robin."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in calls}
    for _ in range(reps):
        for name, fn in calls.items():
            times[name].append(time_call(fn, device, inner))
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, medians: dict) -> None:
    ours = medians[OURS]
    cells = "  ".join(f"{name} {t * 1e3:8.2f} ms ({t / ours:4.2f}x ours)" for name, t in medians.items())
    print(f"{title:<34} {cells}")


def check_exact(device) -> None:
    """Every candidate equals nn.LayerNorm on the permuted tensor, in value and gradient."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 96, 14, 14, generator=g).to(device) * 3 + 1
    w = (torch.rand(96, generator=g) + 0.5).to(device)
    b = (torch.randn(96, generator=g) * 0.1).to(device)
    ref_ln = nn.LayerNorm(96, eps=1e-6).to(device)
    with torch.no_grad():
        ref_ln.weight.copy_(w)
        ref_ln.bias.copy_(b)
    xr = x.clone().requires_grad_()
    ref = ref_ln(xr.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    grad_out = torch.randn_like(ref)
    ref.backward(grad_out)
    print("max |candidate - nn.LayerNorm(permuted)|, forward / input grad:")
    for name, fn in CANDIDATES.items():
        xc = x.clone().requires_grad_()
        out = fn(xc, w, b, 1e-6)
        out.backward(grad_out)
        print(f"  {name:<18} {(out - ref).abs().max().item():.2e} / {(xc.grad - xr.grad).abs().max().item():.2e}")


def bench_op(args, device) -> None:
    print(f"\nLayerNorm2d alone, ConvNeXt-T shapes at 224, batch {args.batch}; "
          f"sum over the 4 LayerNorm2d sites:")
    for layout in ("nchw", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        inputs = []
        for c, hw in CONVNEXT_T_SHAPES:
            x = torch.randn(args.batch, c, hw, hw, device=device).contiguous(memory_format=fmt)
            w = torch.rand(c, device=device) + 0.5
            b = torch.randn(c, device=device) * 0.1
            inputs.append((x, w, b, torch.randn_like(x)))

        def eval_fn(f):
            def run():
                with torch.no_grad():
                    for x, w, b, _ in inputs:
                        f(x, w, b, 1e-6)
            return run

        def train_fn(f):
            leaves = [(x.detach().requires_grad_(), w.detach().requires_grad_(), b.detach().requires_grad_(), go)
                      for x, w, b, go in inputs]

            def run():
                for x, w, b, go in leaves:
                    f(x, w, b, 1e-6).backward(go)
                    x.grad = w.grad = b.grad = None
            return run

        report(f"{layout} input, eval forward", race({n: eval_fn(f) for n, f in CANDIDATES.items()},
                                                     device, args.reps, args.inner))
        report(f"{layout} input, train fwd+bwd", race({n: train_fn(f) for n, f in CANDIDATES.items()},
                                                      device, args.reps, args.inner))


def bench_model(args, device) -> None:
    size = args.model_size
    print(f"\nconvnext_tiny at {size}x{size}, batch {args.model_batch}, NCHW input, "
          f"LayerNorm2d.forward swapped per candidate:")
    torch.manual_seed(0)
    model = cz.get_model("convnext_tiny").to(device)
    x = torch.randn(args.model_batch, 3, size, size, device=device)
    target = torch.randint(0, 1000, (args.model_batch,), device=device)
    original_forward = LayerNorm2d.forward

    def with_candidate(f, train: bool):
        def forward(self, t):
            return f(t, self.weight, self.bias, self.eps)

        def run():
            LayerNorm2d.forward = forward
            try:
                if train:
                    model.train()
                    nn.functional.cross_entropy(model(x), target).backward()
                    model.zero_grad(set_to_none=True)
                else:
                    model.eval()
                    with torch.no_grad():
                        model(x)
            finally:
                LayerNorm2d.forward = original_forward
        return run

    reps = args.model_reps
    report("eval forward", race({n: with_candidate(f, False) for n, f in CANDIDATES.items()}, device, reps, 1, 1))
    report("train fwd+bwd", race({n: with_candidate(f, True) for n, f in CANDIDATES.items()}, device, reps, 1, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--batch", type=int, default=8, help="batch of the op benchmark")
    parser.add_argument("--reps", type=int, default=11, help="repetitions (medians are reported)")
    parser.add_argument("--inner", type=int, default=3, help="calls per timed repetition")
    parser.add_argument("--no-op", action="store_true", help="skip the benchmark of the op alone")
    parser.add_argument("--no-model", action="store_true", help="skip the whole-model benchmark")
    parser.add_argument("--model-reps", type=int, default=5)
    parser.add_argument("--model-batch", type=int, default=4)
    parser.add_argument("--model-size", type=int, default=224)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
             f", {torch.get_num_threads()} threads"))
    check_exact(device)
    if not args.no_op:
        bench_op(args, device)
    if not args.no_model:
        bench_model(args, device)


if __name__ == "__main__":
    main()
