"""A `convzoo predict` run: inputs in, a stream of results out.

- Inputs: files, folders (their image files), http(s) URLs, `-` (stdin).
- Each bad input is one line on stderr and a record with its error; the run
  goes on. The exit code is 1 if any input failed.
- Results are printed (or written to `--out`) batch by batch, as computed;
  a progress bar on stderr when folders are given.
- Under `torchrun --nproc_per_node N`, rank r takes every N-th input, writes a
  part file, and rank 0 merges the parts into `--out` after a barrier.
- Each answer carries the decision of the checkpoint's rule (`convzoo calibrate`:
  a temperature and a threshold on the positive class), or of --threshold; with
  several checkpoints (an ensemble), their averaged probabilities decide.
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
    checkpoint: list[str] | str | None = None  # several: an ensemble, their probabilities averaged
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
    tta: str | None = None  # "flip" | "crops": probabilities averaged over the views
    threshold: str | float | None = None  # "auto" | "none" | P; None: the checkpoint's saved rule, if any
    positive: str | None = None  # the class a threshold is for (None: the checkpoint's, else the rarer one)


def run_predict(opts: PredictOptions) -> int:
    checkpoint = _checkpoint_of(opts)
    _check_rule_options(opts, checkpoint)
    out = output.check_format(opts.out) if opts.out else None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and out is None:  # checked before joining the group
        raise ValueError("under torchrun, predict writes one merged file: give --out FILE.csv or FILE.jsonl")
    ctx = init_distributed(opts.device)
    try:
        return _run(opts, checkpoint, out, ctx)
    finally:
        ctx.close()


def _checkpoint_of(opts: PredictOptions) -> list[str] | None:
    """The `convzoo train` checkpoints to use (one, or an ensemble), given as --checkpoint or as --weights."""
    if opts.checkpoint:
        if opts.model or opts.weights:
            raise ValueError("--checkpoint brings its own model and weights: give either --checkpoint, "
                             "or --model/--weights, not both")
        return [opts.checkpoint] if isinstance(opts.checkpoint, (str, Path)) else [str(c) for c in opts.checkpoint]
    if opts.weights and _is_convzoo_checkpoint(opts.weights):
        from ..shared.checkpoint import read_sidecar

        trained = read_sidecar(opts.weights)["model"]
        if opts.model and opts.model != trained:
            raise ValueError(f"{opts.weights} is a checkpoint of {trained}, not {opts.model}: "
                             f"drop --model (or use --checkpoint {opts.weights})")
        return [opts.weights]
    return None


def _check_rule_options(opts: PredictOptions, checkpoint: list[str] | None) -> None:
    """A threshold decides between a trained checkpoint's classes; a pretrained
    model answers its most probable class (--tta works with both)."""
    if checkpoint:
        return
    if opts.threshold not in (None, "none"):
        raise ValueError(f"--threshold {opts.threshold} is for a `convzoo train` checkpoint (--checkpoint PATH), "
                         f"whose classes it decides between; a pretrained model answers its most probable class")
    if opts.positive is not None:
        raise ValueError(f"--positive {opts.positive} is for a `convzoo train` checkpoint (--checkpoint PATH) "
                         f"and its --threshold; a pretrained model answers its most probable class")


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


def _classifier(opts: PredictOptions, checkpoint: list[str] | None, device: str, sources: list) -> Classifier:
    options = opts.runtime_options
    if options.calibration is None and options.needs_images:
        options = dataclasses.replace(options, calibration=sources)
    runtime = dict(runtime_options=options, progress=opts.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeChoiceWarning)  # its text is the note printed below
        if checkpoint:
            clf = Classifier.from_checkpoint(checkpoint, device=device, batch_size=opts.batch_size, tta=opts.tta,
                                             threshold=opts.threshold, positive=opts.positive, **runtime)
        else:
            clf = Classifier(opts.model or DEFAULT_MODEL, weights=chosen_weights(opts.weights),
                             device=device, batch_size=opts.batch_size, tta=opts.tta, **runtime)
    if clf.optimized is not None and clf.optimized.note:
        print(f"convzoo: runtime: {clf.optimized.note}", file=sys.stderr, flush=True)
    return clf


def _ensemble_note(opts: PredictOptions, clf: Classifier, checkpoint: list[str] | None) -> str | None:
    """Why an ensemble whose first member was calibrated still answers its argmax (Classifier.from_checkpoint)."""
    saved = (getattr(clf, "meta", None) or {}).get("decision") or {}
    if len(clf.members) > 1 and opts.threshold is None and saved.get("threshold") is not None:
        return (f"convzoo: note: {checkpoint[0]}'s saved threshold was chosen for it alone, not for the ensemble's "
                f"averaged probabilities: the ensemble answers its most probable class (give --threshold P to "
                f"decide otherwise)")
    return None


def producer_of(clf: Classifier) -> output.Producer:
    """What the results name as their maker: model, weights, the rule in force and the tta."""
    rule = clf.rule
    if len(clf.members) > 1:  # each member divides its logits by its own temperature
        text = dataclasses.replace(rule, temperature=1.0).describe()
        if any(member.temperature != 1.0 for member in clf.members):
            text += ", each member at its own temperature"
    else:
        text = rule.describe()
    return output.Producer(clf.model_name, clf.weights_name, text, clf.tta)


def _decision_note(clf: Classifier) -> str | None:
    """The table's decision line, for a checkpoint with a saved rule or a given threshold (None: top-1 says it)."""
    calibrated = any(member.temperature != 1.0 for member in clf.members)
    if clf.rule.threshold is None and not calibrated:
        return None
    return output.decision_note(clf.rule.positive, clf.rule.threshold, calibrated)


def _run(opts: PredictOptions, checkpoint: list[str] | None, out: Path | None, ctx: DistContext) -> int:
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
    producer = producer_of(clf)
    note = _ensemble_note(opts, clf, checkpoint)
    if note:
        ctx.log(note)

    mine = list(range(ctx.rank, len(sources), ctx.world_size))  # rank r takes every N-th input
    results = None
    if out is not None:
        done = output.completed_sources(out, producer)
        skipped = {i for i in mine if names[i] in done and not isinstance(sources[i], EncodedImage)}
        if skipped:
            ctx.log(f"convzoo: {len(skipped)} input(s) already in {out}, skipped (delete it to start over)")
        mine = [i for i in mine if i not in skipped]
        results = output.ResultsFile(out if ctx.world_size == 1 else output.part_path(out, ctx.rank), producer)
    elif not opts.json:
        print(output.table_header(producer, show_rule=_decision_note(clf) is not None), flush=True)

    try:
        failed = _stream(opts, clf, producer, [sources[i] for i in mine], results, ctx,
                         bar=opts.progress and ctx.is_main and any(Path(str(s)).is_dir() for s in opts.inputs))
    finally:  # interrupted too (Ctrl-C, a crash): keep what was computed, for the rerun to skip
        if results is not None:
            results.flush()
    failed, total = _sum_over_ranks(ctx, failed, len(mine))
    ctx.barrier()
    if out is not None and ctx.is_main:
        count = output.merge_parts(out, names) if output.part_paths(out) else len(results.records)
        ctx.log(f"convzoo: {count} result(s) in {out} (model {producer.model}, weights {producer.weights})")
    if failed:
        ctx.log(f"convzoo: {failed} of {total} inputs failed")
    return 1 if failed else 0


def _stream(opts: PredictOptions, clf: Classifier, producer: output.Producer, items: list, results,
            ctx: DistContext, bar: bool) -> int:
    """Classify `items` batch by batch, printing or recording each result as it comes; the failures."""
    from tqdm import tqdm

    note = _decision_note(clf)
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
            record = output.prediction_record(pred, producer)
            if pred.error:
                failed += 1
                say(f"convzoo: error: {pred.source}: {' '.join(pred.error.split())}", sys.stderr)  # one line
            if results is not None:
                results.add(record)
            elif opts.json:
                say(json.dumps(record), sys.stdout)
            elif not pred.error:
                say(output.format_table(pred, note), sys.stdout)
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
