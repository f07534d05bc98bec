"""`convzoo serve`: the web page and REST API on this machine (needs [serve])."""
from __future__ import annotations

from .options import Unset, add_options, add_runtime_options, non_negative_float, positive_int, runtime_options

DEFAULT_MODELS = ["efficientnet_lite*"]


def add_serve_parser(sub) -> None:
    from ..serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, DEFAULT_QUEUE_SIZE

    p = sub.add_parser("serve", help="a local web page and REST API: upload images, compare models (needs [serve])",
                       description="Serves / (the page), POST /v1/predict, GET /v1/models, GET /v1/chart, "
                                   "GET /metrics (Prometheus) and GET /healthz. Pretrained models are built on "
                                   "their first request and kept; fine-tuned ones (--checkpoint) are loaded at "
                                   "start. Concurrent requests to a model share one forward pass (--max-batch).")
    add_options(p, models=Unset(f"{' '.join(DEFAULT_MODELS)}, or none when --checkpoint is given"))
    add_options(p, "checkpoints")
    checkpoint = next(a for a in p._actions if "--checkpoint" in a.option_strings)
    checkpoint.metavar = "[NAME=]CHECKPOINT"
    checkpoint.help += (". In serve, not an ensemble: each one is a model served on its own, named NAME or its "
                        "run folder's name")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--bench", help="`convzoo bench --out` results (.csv/.json): the chart's latencies")
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="the largest upload accepted")
    p.add_argument("--max-batch", type=positive_int, default=DEFAULT_MAX_BATCH,
                   help="the most requests one forward pass answers (1: one request at a time)")
    p.add_argument("--max-wait-ms", type=non_negative_float, default=DEFAULT_MAX_WAIT_MS,
                   help="how long a model waits for more requests to fill a batch, after the first")
    p.add_argument("--queue-size", type=positive_int, default=DEFAULT_QUEUE_SIZE,
                   help="requests that may wait per model; beyond, 503 with Retry-After")
    # Not the shared --workers (data-loading processes): here, whole server processes.
    p.add_argument("--workers", type=positive_int, default=1,
                   help="server processes, each with its own copy of the models and cores // N torch threads "
                        "(benchmarks/serve_load.py measures what they buy on your machine)")
    add_options(p, "max_pixels", "device")
    add_runtime_options(p)
    p.set_defaults(run=_cmd_serve)


def _cmd_serve(args) -> int:
    import dataclasses

    from ..serve import SERVE_MISSING, require_fastapi
    from ..serve.workers import ServeSettings, build_app, prepare_server_process, run_workers

    require_fastapi()
    try:
        import uvicorn
    except ImportError:
        raise ValueError(SERVE_MISSING) from None
    patterns = args.models if args.models is not None else ([] if args.checkpoint else DEFAULT_MODELS)
    options = runtime_options(args)
    if options.calibration is not None:
        options = dataclasses.replace(options, calibration=str(options.calibration))
    settings = ServeSettings(patterns, list(args.checkpoint or []), args.device, dataclasses.asdict(options),
                             args.max_batch, args.max_wait_ms, args.queue_size, args.bench, args.max_upload_mb,
                             args.max_pixels, args.workers)
    # Built here in every case: a bad checkpoint or pattern is one line before any worker starts.
    app = build_app(settings)
    names = app.state.pool.names
    print(f"convzoo serve: {len(names)} model(s) ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''}) "
          f"on http://{args.host}:{args.port}/, batches of up to {args.max_batch} within {args.max_wait_ms:g} ms"
          + (f", {settings.workers} worker processes" if settings.workers > 1 else ""), flush=True)
    if options.needs_images and options.calibration is None:
        print("convzoo serve: note: --fast/int8 without --calibration chooses and calibrates the runtime on the "
              "first batch served (a few images); give --calibration DIR (your images) for a sounder choice",
              flush=True)
    if settings.workers > 1:
        del app
        run_workers(settings, args.host, args.port)
    else:
        prepare_server_process()
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
