"""A load test of `convzoo serve` with Locust, headless (issue 28): how many
classifications a second the server answers under concurrent clients, how
long they wait, whether its memory stays flat, and what batching requests
together buys over serving them one at a time.

    pip install -e '.[serve,load]' scikit-image
    python benchmarks/serve_load.py                          # 32 users, 60 s per configuration
    python benchmarks/serve_load.py --users 8 --seconds 15   # a short run
    python benchmarks/serve_load.py --threads 2 --out /tmp/serve_load.md
    python benchmarks/serve_load.py --server-args '' --server-args '--precision bf16' --server-args '--workers 2'

Configurations: the script reads `convzoo serve --help`. When the server has
`--max-batch` it runs it twice in the same run, `--max-batch 1` (one request
at a time) and its default batching (`--max-wait-ms`, `--queue-size` left at
their defaults, or --batching-args), and reports the throughput ratio batching / one-at-a-time.
Without the flag it runs the current server once and says so. Each --server-args
is a variant (a runtime, a precision, --workers N) run both ways, so that its own
ratio is measured in the same run.

Per configuration: a fresh `convzoo serve --models efficientnet_lite0 --host
127.0.0.1 --port P` (P a free port; --device passed only when given), waited
for on GET /healthz; warm-up: --warmup requests one after the other (the first
builds the model), then --warmup-seconds of the very load measured, not counted
(so that batches of every size have been through the server, and its allocator
has grown to them, before memory is measured); RSS of the server's process (and
any children) after warm-up; then Locust's Python API
(locust.env.Environment, a local runner, every user spawned at once) with
--users HttpUsers, no wait between requests, each POSTing real photographs
(scikit-image's coffee, chelsea, astronaut, rocket and motorcycle, the files as
shipped: PNG and JPEG, 200-500 KB) to /v1/predict, for --seconds or
--max-requests requests, whichever comes first, against 127.0.0.1 only. A 503
with a Retry-After header is the server's deliberate refusal (its queue is
full): counted apart, and that user waits Retry-After seconds (at most
--retry-cap) before its next request; any other non-200 (or a connection
error) is an error. The server is always stopped (terminate, then kill).

Report, per configuration: requests finished, 200s, deliberate 503s, other
errors; p50/p99 latency of the 200s (measured by the client around each
request; Locust's own bucketed percentiles over every request are kept in the
JSON); throughput (200s per second of load); RSS after warm-up, at the end and
its peak (sampled every second; every fifth sample is kept in the JSON), and
end / warm-up (acceptance: within 10%), as single points and as the medians of
the samples in the last 10 s of warm-up and of load (RSS swings by 10-20% from
second to second under load: images decoded and queued, allocator arenas); the mean batch (images per forward pass,
from the server's /metrics when it has them); CPU seconds used by the server
and by this process (Locust shares the machine with the server: on a small
machine it takes cores the server could have used), and 200s per server CPU
second (the work per image, less disturbed by other jobs than req/s).
Then the throughput ratio batching / one-at-a-time (acceptance: >= 2x).
Writes OUT (default benchmarks/results/serve_load.md, atomically): the
markdown table, the CPU (lscpu's model name), the thread settings (the
server's OMP_NUM_THREADS and torch's thread counts under the same environment)
and the load average before each configuration, then every figure as JSON in
a fenced block; prints the table.
"""
# Locust monkey-patches the standard library with gevent when imported: it comes first.
from locust import HttpUser, constant, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import gevent
import gevent.event
import psutil
import requests

from machine import cpu_model  # benchmarks/machine.py, beside this script

MODEL = "efficientnet_lite0"
PHOTOS = ["coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]
DEFAULT_OUT = Path(__file__).parent / "results" / "serve_load.md"
MIB = 2**20


# ---------------------------------------------------------------------------- the machine

def torch_threads(env: dict) -> dict:
    """torch's thread counts in a fresh interpreter with the server's environment."""
    code = "import torch; print(torch.get_num_threads(), torch.get_num_interop_threads(), torch.__version__)"
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True, timeout=120).stdout.split()
        return {"intra_op": int(out[0]), "inter_op": int(out[1]), "torch": out[2]}
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return {}


def convzoo_command() -> list[str]:
    exe = Path(sys.executable).parent / "convzoo"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("convzoo")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from convzoo.cli import main; sys.exit(main())"]


def serve_help() -> str:
    return subprocess.run(convzoo_command() + ["serve", "--help"], capture_output=True, text=True,
                          check=True, timeout=120).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photos() -> list[tuple[str, bytes, str]]:
    import skimage
    folder = Path(skimage.__file__).parent / "data"
    out = []
    for name in PHOTOS:
        path = folder / name
        if path.exists():
            out.append((name, path.read_bytes(), "image/jpeg" if name.endswith(".jpg") else "image/png"))
    if not out:
        raise SystemExit(f"no photographs found in {folder} (pip install scikit-image)")
    return out


# ---------------------------------------------------------------------------- the server

def tree_rss(pid: int) -> int:
    """Resident memory of the process and its children, bytes."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            pass
    return total


def tree_cpu(pid: int) -> float:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    total = times.user + times.system
    for child in proc.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def wait_healthy(base: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        gevent.sleep(0.25)
    raise RuntimeError(f"no answer from {base}/healthz after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def post(base: str, photo: tuple[str, bytes, str], timeout: float = 120) -> requests.Response:
    return requests.post(base + "/v1/predict", files={"file": photo}, data={"models": MODEL}, timeout=timeout)


def warm_up(base: str, images: list, sequential: int) -> None:
    for i in range(sequential):
        r = post(base, images[i % len(images)])
        if r.status_code != 200:
            raise RuntimeError(f"warm-up request {i}: HTTP {r.status_code}: {r.text[:300]}")


def batch_sizes(metrics: str | None) -> tuple[float, float] | None:
    """(sum, count) of the server's batch-size histogram, over its models, from /metrics."""
    if metrics is None:
        return None
    total = {"sum": 0.0, "count": 0.0}
    for line in metrics.splitlines():
        for key in total:
            if line.startswith(f"convzoo_batch_size_{key}"):
                total[key] += float(line.rsplit(None, 1)[1])
    return (total["sum"], total["count"]) if total["count"] else None


def metrics_text(base: str) -> str | None:
    try:
        r = requests.get(base + "/metrics", timeout=5)
    except requests.RequestException:
        return None
    return r.text if r.status_code == 200 else None


# ---------------------------------------------------------------------------- the load

class Record:
    def __init__(self):
        self.sent = 0
        self.ok_ms: list[float] = []
        self.rejected = 0  # 503 + Retry-After: the server's queue is full
        self.errors: Counter = Counter()  # any other outcome, by status (0: no HTTP answer)


def user_class(images: list, record: Record, retry_cap: float, timeout: float) -> type:
    class Client(HttpUser):
        wait_time = constant(0)

        @task
        def predict(self):
            photo = images[record.sent % len(images)]
            record.sent += 1
            wait = 0.0
            start = time.perf_counter()
            with self.client.post("/v1/predict", files={"file": photo}, data={"models": MODEL},
                                  name="/v1/predict", timeout=timeout, catch_response=True) as r:
                ms = (time.perf_counter() - start) * 1000
                if r.status_code == 200:
                    record.ok_ms.append(ms)
                    r.success()
                elif r.status_code == 503 and r.headers.get("Retry-After") is not None:
                    record.rejected += 1
                    r.failure("503 with Retry-After (queue full)")
                    try:
                        wait = min(float(r.headers["Retry-After"]), retry_cap)
                    except ValueError:
                        wait = retry_cap
                else:
                    record.errors[r.status_code or 0] += 1
                    r.failure(f"HTTP {r.status_code}")
            if wait > 0:
                gevent.sleep(wait)

    return Client


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run_load(base: str, pid: int, images: list, args, seconds: float) -> dict:
    record = Record()
    env = Environment(user_classes=[user_class(images, record, args.retry_cap, args.timeout)], host=base)
    runner = env.create_local_runner()
    peak = [tree_rss(pid)]
    samples = []  # (seconds into the load, bytes), every second
    done = gevent.event.Event()

    def sample_rss():
        while not done.is_set():
            try:
                rss = tree_rss(pid)
            except psutil.Error:
                return
            peak[0] = max(peak[0], rss)
            samples.append((time.perf_counter() - start, rss))
            done.wait(1.0)

    me = psutil.Process()
    client_cpu0 = sum(me.cpu_times()[:2])
    server_cpu0 = tree_cpu(pid)
    start = time.perf_counter()
    sampler = gevent.spawn(sample_rss)
    runner.start(args.users, spawn_rate=args.users)
    deadline = start + seconds
    while time.perf_counter() < deadline and record.sent < args.max_requests:
        gevent.sleep(0.1)
    elapsed = time.perf_counter() - start
    runner.quit()  # the users' requests in flight are abandoned, not counted
    runner.greenlet.join(timeout=30)
    done.set()
    sampler.join(timeout=5)
    total = env.stats.total
    ok = len(record.ok_ms)
    server_cpu = tree_cpu(pid) - server_cpu0
    errors = sum(record.errors.values())
    return {
        "seconds": round(elapsed, 2),
        "requests": ok + record.rejected + errors,
        "ok": ok,
        "rejected_503": record.rejected,
        "errors": errors,
        "errors_by_status": {str(k): v for k, v in sorted(record.errors.items())},
        "p50_ms": round(percentile(record.ok_ms, 0.50), 1) if ok else None,
        "p99_ms": round(percentile(record.ok_ms, 0.99), 1) if ok else None,
        "mean_ms": round(statistics.fmean(record.ok_ms), 1) if ok else None,
        "throughput_rps": round(ok / elapsed, 2),
        "rss_peak_mib": round(peak[0] / MIB, 1),
        # every fifth sample (MiB) for the JSON: a leak climbs, a warm-up settles
        "rss_series_mib": [[round(t, 1), round(b / MIB, 1)] for t, b in samples[::5]],
        "_samples": samples,
        "server_cpu_s": round(server_cpu, 1),
        "ok_per_server_cpu_s": round(ok / server_cpu, 2) if server_cpu > 0 else None,
        "client_cpu_s": round(sum(me.cpu_times()[:2]) - client_cpu0, 1),
        "locust": {"requests": total.num_requests, "failures": total.num_failures,
                   "p50_ms": total.get_response_time_percentile(0.5),
                   "p99_ms": total.get_response_time_percentile(0.99),
                   "errors": {e.error: e.occurrences for e in env.stats.errors.values()}},
    }


def window_median(samples: list, end: float, default: int, window: float = 10.0) -> float:
    """Median RSS of the samples taken in the last `window` seconds before `end`."""
    values = [b for t, b in samples if t >= end - window]
    return statistics.median(values) if values else default


def run_config(name: str, extra: list[str], images: list, server_env: dict, args) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = convzoo_command() + ["serve", "--models", MODEL, "--host", "127.0.0.1", "--port", str(port)] + extra
    if args.device:
        cmd += ["--device", args.device]
    print(f"[{name}] {' '.join(cmd[1:] if len(cmd) > 1 else cmd)}", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    log = Path(tempfile.mkstemp(prefix="serve_load_", suffix=".log")[1])
    with open(log, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=server_env)
    try:
        t0 = time.perf_counter()
        wait_healthy(base, proc, log, args.start_timeout)
        started = time.perf_counter() - t0
        warm_up(base, images, args.warmup)
        rss_first = tree_rss(proc.pid)
        warm = run_load(base, proc.pid, images, args, args.warmup_seconds) if args.warmup_seconds > 0 else None
        rss_warm = tree_rss(proc.pid)
        print(f"[{name}] up in {started:.1f} s, warmed up; RSS {rss_first / MIB:.0f} MiB after "
              f"{args.warmup} requests, {rss_warm / MIB:.0f} MiB after {args.warmup_seconds:g} s of load; "
              f"{args.users} users for {args.seconds:g} s", file=sys.stderr, flush=True)
        before = batch_sizes(metrics_text(base))
        result = run_load(base, proc.pid, images, args, args.seconds)
        rss_end = tree_rss(proc.pid)
        # RSS swings by 10-20% from second to second under load (images decoded and queued, the
        # allocator's arenas): the medians of the last 10 s of warm-up and of load, besides the points
        warm_median = window_median(warm["_samples"] if warm else [], args.warmup_seconds, rss_warm)
        end_median = window_median(result.pop("_samples"), result["seconds"], rss_end)
        metrics = metrics_text(base)
        after = batch_sizes(metrics)
        mean_batch = None
        if after is not None and after[1] > (before or (0, 0))[1]:
            b = before or (0.0, 0.0)
            mean_batch = round((after[0] - b[0]) / (after[1] - b[1]), 2)
        result.update({
            "configuration": name,
            "server_args": extra,
            "startup_s": round(started, 1),
            "mean_batch": mean_batch,
            "warmup_load": None if warm is None else {k: warm[k] for k in ("seconds", "ok", "rejected_503", "errors",
                                                                            "throughput_rps", "rss_peak_mib")},
            "rss_first_mib": round(rss_first / MIB, 1),
            "rss_warm_mib": round(rss_warm / MIB, 1),
            "rss_end_mib": round(rss_end / MIB, 1),
            "rss_ratio": round(rss_end / rss_warm, 3),
            "rss_warm_median_mib": round(warm_median / MIB, 1),
            "rss_end_median_mib": round(end_median / MIB, 1),
            "rss_median_ratio": round(end_median / warm_median, 3),
            "loadavg_before": [round(x, 2) for x in load_before],
            "metrics": [line for line in metrics.splitlines() if line and not line.startswith("#")][:80]
            if metrics is not None else None,
        })
        print(f"[{name}] {result['ok']} ok, {result['rejected_503']} 503, {result['errors']} errors; "
              f"{result['throughput_rps']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; "
              f"RSS {result['rss_warm_mib']:.0f} -> {result['rss_end_mib']:.0f} MiB", file=sys.stderr, flush=True)
        return result
    finally:
        stop(proc)
        log.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the report

def fmt(x, spec="") -> str:
    return "-" if x is None else format(x, spec)


def render(report: dict) -> str:
    s = report["settings"]
    rows = report["configurations"]
    lines = [
        "# Load test of `convzoo serve` (benchmarks/serve_load.py)", "",
        (f"{report['cpu']}, {report['cpus']} logical CPUs; torch {report['threads'].get('torch', '?')}, "
        f"server threads: OMP_NUM_THREADS={report['omp_num_threads'] or 'unset'}, torch intra-op "
        f"{report['threads'].get('intra_op', '?')}, inter-op {report['threads'].get('inter_op', '?')}. "
        f"Model {MODEL}, device {s['device'] or 'the server default'}; Locust {report['locust_version']} "
        f"in the same machine: {s['users']} users, no wait, {s['seconds']:g} s (at most {s['max_requests']} "
        f"requests) per configuration, photographs {', '.join(report['photos'])}; {report['date']}."), "",
        report["configurations_note"], "",
        ("Latencies are those of the 200s, measured by the client; throughput is 200s per second of load. "
         "503: deliberate refusals (503 with Retry-After); errors: any other failure. "
         "CPU s: CPU seconds used during the load by the server / by Locust; 200 per server CPU s: the server's "
         "work per image, which other jobs on the machine disturb less than req/s. Mean batch: images per forward "
         "pass during the load (the server's /metrics). RSS warm: after the warm-up "
         f"({s['warmup']} requests, then {s['warmup_seconds']:g} s of the same load, not counted); 10 s medians: "
         "the medians of the per-second RSS samples in the last 10 s of warm-up and of load (RSS swings under load)."),
        "",
        ("| configuration | requests | 200 | 503 | errors | p50 ms | p99 ms | req/s | mean batch "
         "| RSS warm MiB | RSS end MiB | end / warm | end / warm, 10 s medians | RSS peak MiB "
         "| CPU s server / client | 200 per server CPU s | load avg before |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['configuration']} | {r['requests']} | {r['ok']} | {r['rejected_503']} | {r['errors']} "
            f"| {fmt(r['p50_ms'], '.1f')} | {fmt(r['p99_ms'], '.1f')} | {r['throughput_rps']:.2f} "
            f"| {fmt(r['mean_batch'], '.2f')} "
            f"| {r['rss_warm_mib']:.0f} | {r['rss_end_mib']:.0f} | {r['rss_ratio']:.3f} | {r['rss_median_ratio']:.3f} "
            f"| {r['rss_peak_mib']:.0f} "
            f"| {r['server_cpu_s']:.0f} / {r['client_cpu_s']:.0f} | {fmt(r['ok_per_server_cpu_s'], '.1f')} "
            f"| {r['loadavg_before'][0]:.2f} |")
    lines.append("")
    acc = report["acceptance"]
    for r in rows:
        within = {True: "within", False: "NOT within"}
        lines.append(f"- {r['configuration']}: RSS end / warm-up {r['rss_ratio']:.3f} "
                     f"({within[abs(r['rss_ratio'] - 1) <= 0.10]} 10%); medians of the last 10 s "
                     f"{r['rss_median_ratio']:.3f} ({within[abs(r['rss_median_ratio'] - 1) <= 0.10]} 10%).")
    if acc.get("throughput_ratio"):
        for variant, ratio in acc["throughput_ratio"].items():
            lines.append(f"- Throughput batching / one-at-a-time, {variant or 'defaults'}: {ratio:.2f}x "
                         f"({'meets' if ratio >= 2 else 'does NOT meet'} the 2x target); per server CPU second: "
                         f"{fmt(acc['cpu_efficiency_ratio'].get(variant), '.2f')}x.")
    else:
        lines.append("- Throughput batching / one-at-a-time: not measured (the server has no --max-batch).")
    lines += ["", "Every figure:", "", "```json", json.dumps(report, indent=1), "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=32, help="concurrent Locust users (default 32)")
    p.add_argument("--seconds", type=float, default=60, help="seconds of load per configuration (default 60)")
    p.add_argument("--max-requests", type=int, default=100_000,
                   help="stop a configuration's load after this many requests sent (default 100000)")
    p.add_argument("--warmup", type=int, default=5, help="sequential warm-up requests (the first builds the model)")
    p.add_argument("--warmup-seconds", type=float, default=20,
                   help="then this many seconds of the same load, not counted, before RSS is taken (default 20)")
    p.add_argument("--threads", type=int, help="the server's OMP_NUM_THREADS/MKL_NUM_THREADS (default: unset)")
    p.add_argument("--device", help="passed to convzoo serve --device (default: not passed)")
    p.add_argument("--timeout", type=float, default=60, help="a request's timeout, seconds")
    p.add_argument("--retry-cap", type=float, default=1.0, help="longest wait after a 503's Retry-After, seconds")
    p.add_argument("--start-timeout", type=float, default=180, help="seconds to wait for /healthz")
    p.add_argument("--batching-args", default="",
                   help="extra server arguments for the batching configuration, e.g. '--max-batch 4 --max-wait-ms 2' "
                        "(default: none, the server's defaults)")
    p.add_argument("--server-args", action="append", default=None, metavar="ARGS",
                   help="a variant: server arguments for both of its configurations, e.g. '--precision bf16' or "
                        "'--workers 2'; repeat for several variants in one run ('' is the defaults; default: '')")
    p.add_argument("--only", choices=["current", "both"], default="both",
                   help="current: the server's defaults only, even if it has --max-batch")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the markdown report (default {DEFAULT_OUT})")
    args = p.parse_args(argv)

    import locust

    from convzoo.utils.atomic import write_text_atomic

    images = photos()
    server_env = dict(os.environ)
    if args.threads:
        server_env["OMP_NUM_THREADS"] = server_env["MKL_NUM_THREADS"] = str(args.threads)
    help_text = serve_help()
    has_batch = "--max-batch" in help_text
    flags = [f for f in ("--max-batch", "--max-wait-ms", "--queue-size") if f in help_text]
    variants = args.server_args if args.server_args is not None else [""]
    configs = []  # (name, server arguments, variant)
    if has_batch and args.only == "both":
        batching = args.batching_args.split()
        which = f"its batching with {' '.join(batching)}" if batching else "its default batching"
        note = (f"The server has {', '.join(flags)}: per variant, both configurations ran in this run, "
                f"--max-batch 1 and {which}.")
        for variant in variants:
            suffix = f", {variant}" if variant else ""
            label = f"batching ({' '.join(batching) or 'defaults'}{suffix})"
            configs += [(f"one at a time (--max-batch 1{suffix})", variant.split() + ["--max-batch", "1"], variant),
                        (label, variant.split() + batching, variant)]
    else:
        configs = [(f"current server{', ' + v if v else ''}", v.split(), v) for v in variants]
        note = ("The server has no --max-batch: only the current server ran (no batching comparison)."
                if not has_batch else "--only current: the server's defaults only.")
    print(note, file=sys.stderr, flush=True)

    results = []
    for name, extra, variant in configs:
        results.append(run_config(name, extra, images, server_env, args))
        results[-1]["variant"] = variant
    ratios, cpu_ratios = {}, {}
    for variant in variants:
        pair = [r for r in results if r["variant"] == variant]
        if len(pair) == 2 and pair[0]["throughput_rps"] > 0:
            ratios[variant] = round(pair[1]["throughput_rps"] / pair[0]["throughput_rps"], 2)
            if pair[0]["ok_per_server_cpu_s"] and pair[1]["ok_per_server_cpu_s"]:
                cpu_ratios[variant] = round(pair[1]["ok_per_server_cpu_s"] / pair[0]["ok_per_server_cpu_s"], 2)
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu_model(), "cpus": os.cpu_count(),
        "omp_num_threads": server_env.get("OMP_NUM_THREADS"),
        "threads": torch_threads(server_env),
        "locust_version": locust.__version__,
        "photos": [name for name, _, _ in images],
        "server_flags": flags,
        "variants": variants,
        "configurations_note": note,
        "settings": {"users": args.users, "seconds": args.seconds, "max_requests": args.max_requests,
                     "warmup": args.warmup, "warmup_seconds": args.warmup_seconds, "device": args.device,
                     "retry_cap": args.retry_cap},
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "configurations": results,
        "acceptance": {
            "rss_within_10pct": {r["configuration"]: abs(r["rss_ratio"] - 1) <= 0.10 for r in results},
            "rss_medians_within_10pct": {r["configuration"]: abs(r["rss_median_ratio"] - 1) <= 0.10
                                         for r in results},
            "throughput_ratio": ratios,
            "throughput_ratio_at_least_2x": {v: r >= 2 for v, r in ratios.items()},
            "cpu_efficiency_ratio": cpu_ratios,
        },
    }
    text = render(report)
    write_text_atomic(args.out, text)
    print(text.split("\nEvery figure:")[0])
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
