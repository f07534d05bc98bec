"""`convzoo serve`: the web page and REST API on this machine (needs [serve])."""
from __future__ import annotations

from .options import add_options


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="a local web page and REST API: upload images, compare models (needs [serve])",
                       description="Serves / (the page), POST /v1/predict, GET /v1/models, GET /v1/chart and "
                                   "GET /healthz. Models are built on their first request and kept.")
    add_options(p, "models")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--bench", help="`convzoo bench --out` results (.csv/.json): the chart's latencies")
    p.add_argument("--max-upload-mb", type=float, default=10.0, help="the largest upload accepted")
    add_options(p, "max_pixels", "device")
    p.set_defaults(run=_cmd_serve)


def _cmd_serve(args) -> int:
    from ..serve import SERVE_MISSING, require_fastapi
    from ..serve.app import create_app
    from ..serve.chart import read_bench_results
    from ..serve.pool import ModelPool

    require_fastapi()
    try:
        import uvicorn
    except ImportError:
        raise ValueError(SERVE_MISSING) from None
    pool = ModelPool.matching(args.models, device=args.device)
    bench = read_bench_results(args.bench) if args.bench else None
    app = create_app(pool, bench=bench, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels)
    print(f"convzoo serve: {len(pool.names)} model(s) ({', '.join(pool.names[:6])}"
          f"{', ...' if len(pool.names) > 6 else ''}) on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
