"""A `convzoo predict` run: inputs in, a stream of results out.

- Inputs: files, folders (their image files), http(s) URLs, `-` (stdin).
- Each bad input is one line on stderr and a record with its error; the run
  goes on. The exit code is 1 if any input failed.
- Results are printed (or written to `--out`) batch by batch, as computed;
  a progress bar on stderr when folders are given.
- Under `torchrun --nproc_per_node N`, rank r takes every N-th input, writes a
  part file, and rank 0 merges the parts into `--out` after a barrier.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...data.images import DEFAULT_MAX_PIXELS
from ...data.sources import DEFAULT_TIMEOUT, STDIN, EncodedImage, describe, expand_sources, read_stdin
from ...factory import chosen_weights
from ..deploy.optimize import RuntimeChoiceWarning, RuntimeOptions
from ..shared.distributed import DistContext, init_distributed
from . import output
from .classifier import Classifier

DEFAULT_MODEL = "efficientnet_lite0"


@dataclass
class PredictOptions:
    inputs: list[str]
    model: str | None = None  # None: DEFAULT_MODEL, or the checkpoint's
    weights: str | None = None  # None: DEFAULT; "none": random
    checkpoint: str | None = None
    topk: int = 5
    batch_size: int = 32
    device: str = "auto"
    json: bool = False
    out: str | None = None
    workers: int | None = None  # None: chosen from the number of inputs and CPUs
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout: float = DEFAULT_TIMEOUT
    progress: bool = True
    # calibration: a folder, or None for the inputs themselves, when the runtime needs images
    runtime_options: RuntimeOptions = field(default_factory=RuntimeOptions)


def run_predict(opts: PredictOptions) -> int:
    checkpoint = _checkpoint_of(opts)
    out = output.check_format(opts.out) if opts.out else None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and out is None:  # checked before joining the group
        raise ValueError("under torchrun, predict writes one merged file: give --out FILE.csv or FILE.jsonl")
    ctx = init_distributed(opts.device)
    try:
        return _run(opts, checkpoint, out, ctx)
    finally:
        ctx.close()


def _checkpoint_of(opts: PredictOptions) -> str | None:
    """The `convzoo train` checkpoint to use, given as --checkpoint or as --weights."""
    if opts.checkpoint:
        if opts.model or opts.weights:
            raise ValueError("--checkpoint brings its own model and weights: give either --checkpoint, "
                             "or --model/--weights, not both")
        return opts.checkpoint
    if opts.weights and _is_convzoo_checkpoint(opts.weights):
        from ..shared.checkpoint import read_sidecar

        trained = read_sidecar(opts.weights)["model"]
        if opts.model and opts.model != trained:
            raise ValueError(f"{opts.weights} is a checkpoint of {trained}, not {opts.model}: "
                             f"drop --model (or use --checkpoint {opts.weights})")
        return opts.weights
    return None


def _is_convzoo_checkpoint(weights: str) -> bool:
    path = Path(weights)
    sidecar = path.with_suffix(".json")
    if path.suffix != ".safetensors" or not path.is_file() or not sidecar.is_file():
        return False
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and "model" in meta and "classes" in meta


def _classifier(opts: PredictOptions, checkpoint: str | None, device: str, sources: list) -> Classifier:
    options = opts.runtime_options
    if options.calibration is None and options.needs_images:
        options = dataclasses.replace(options, calibration=sources)
    runtime = dict(runtime_options=options, progress=opts.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeChoiceWarning)  # its text is the note printed below
        if checkpoint:
            clf = Classifier.from_checkpoint(checkpoint, device=device, batch_size=opts.batch_size, **runtime)
        else:
            clf = Classifier(opts.model or DEFAULT_MODEL, weights=chosen_weights(opts.weights),
                             device=device, batch_size=opts.batch_size, **runtime)
    if clf.optimized is not None and clf.optimized.note:
        print(f"convzoo: runtime: {clf.optimized.note}", file=sys.stderr, flush=True)
    return clf


def _run(opts: PredictOptions, checkpoint: str | None, out: Path | None, ctx: DistContext) -> int:
    sources = expand_sources(opts.inputs)
    if not sources:
        raise ValueError(f"no image files found in {', '.join(opts.inputs)} (looked for "
                         f".jpg, .png, .webp, ... in folders and their sub-folders)")
    if STDIN in sources:
        if ctx.world_size > 1:
            raise ValueError("`-` (an image on stdin) is for a single process, not torchrun")
        stdin = read_stdin()
        sources = [stdin if s == STDIN else s for s in sources]
    names = [describe(s, i) for i, s in enumerate(sources)]
    clf = _classifier(opts, checkpoint, str(ctx.device), sources)
    model, weights = clf.model_name, clf.weights_name

    mine = list(range(ctx.rank, len(sources), ctx.world_size))  # rank r takes every N-th input
    results = None
    if out is not None:
        done = output.completed_sources(out, model, weights)
        skipped = {i for i in mine if names[i] in done and not isinstance(sources[i], EncodedImage)}
        if skipped:
            ctx.log(f"convzoo: {len(skipped)} input(s) already in {out}, skipped (delete it to start over)")
        mine = [i for i in mine if i not in skipped]
        results = output.ResultsFile(out if ctx.world_size == 1 else output.part_path(out, ctx.rank), model, weights)
    elif not opts.json:
        print(output.table_header(model, weights), flush=True)

    try:
        failed = _stream(opts, clf, [sources[i] for i in mine], results, ctx,
                         bar=opts.progress and ctx.is_main and any(Path(str(s)).is_dir() for s in opts.inputs))
    finally:  # interrupted too (Ctrl-C, a crash): keep what was computed, for the rerun to skip
        if results is not None:
            results.flush()
    failed, total = _sum_over_ranks(ctx, failed, len(mine))
    ctx.barrier()
    if out is not None and ctx.is_main:
        count = output.merge_parts(out, names) if output.part_paths(out) else len(results.records)
        ctx.log(f"convzoo: {count} result(s) in {out} (model {model}, weights {weights})")
    if failed:
        ctx.log(f"convzoo: {failed} of {total} inputs failed")
    return 1 if failed else 0


def _stream(opts: PredictOptions, clf: Classifier, items: list, results, ctx: DistContext, bar: bool) -> int:
    """Classify `items` batch by batch, printing or recording each result as it comes; the failures."""
    from tqdm import tqdm

    workers = opts.workers if opts.workers is not None else _auto_workers(len(items), opts.batch_size, ctx)
    failed = 0
    with tqdm(total=len(items), unit="img", file=sys.stderr, disable=not bar, dynamic_ncols=True) as progress:
        # tqdm.write keeps the bar below the printed lines instead of tearing through them.
        def say(text: str, file) -> None:
            if bar:
                tqdm.write(text, file=file)
            else:
                print(text, file=file, flush=True)

        for pred in clf.predict_iter(items, opts.topk, errors="report", workers=workers,
                                     max_pixels=opts.max_pixels, timeout=opts.timeout):
            record = output.prediction_record(pred, clf.model_name, clf.weights_name)
            if pred.error:
                failed += 1
                say(f"convzoo: error: {pred.source}: {' '.join(pred.error.split())}", sys.stderr)  # one line
            if results is not None:
                results.add(record)
            elif opts.json:
                say(json.dumps(record), sys.stdout)
            elif not pred.error:
                say(output.format_table(pred), sys.stdout)
            progress.update(1)
    return failed


def _auto_workers(count: int, batch_size: int, ctx: DistContext) -> int:
    """Decoding processes: none for a batch or less (starting them costs more),
    else the CPUs this rank can spare from the model, at most 4."""
    if count <= batch_size:
        return 0
    return min(4, max(0, (os.cpu_count() or 1) // ctx.world_size - 1))


def _sum_over_ranks(ctx: DistContext, failed: int, total: int) -> tuple[int, int]:
    if ctx.world_size == 1:
        return failed, total
    import torch.distributed as dist

    counts = torch.tensor([failed, total], device=ctx.device)
    dist.all_reduce(counts)
    return int(counts[0]), int(counts[1])
