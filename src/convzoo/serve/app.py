"""The FastAPI application: the REST API (/v1/predict, /v1/models, /v1/chart,
/healthz, /metrics) and the page (/ and /static/).

/v1/predict is async: the image is decoded and preprocessed in a worker
thread (as many at once as there are cores), then waits on its model's batching queue without holding a thread, so
/healthz and /metrics (async too) answer at once however full the queues are.

Every error a client can cause is a 4xx with a one-line `detail`: a file that
is not an image (400, naming it), an upload over the limit (413), a model not
served (404, with close matches), a bad field (422, FastAPI's own). A model
whose weights cannot be had here is 503: the server's state, not the client's;
so is a full queue (503 with Retry-After).
"""
# No `from __future__ import annotations` here: FastAPI reads the route
# signatures' annotations at runtime, and the names they use (File, Form,
# UploadFile) are imported inside create_app, where a string could not find them.

import asyncio
import time
from pathlib import Path
from typing import Annotated

from ..data.images import DEFAULT_MAX_PIXELS, ImageError, load_image_bytes
from ..utils.cpu import available_cores
from ..version import __version__
from . import require_fastapi
from .chart import chart_points
from .batching import QueueFull
from .limits import BoundedBody
from .metrics import ServeMetrics
from .pool import ModelPool, NotServed

PAGE = Path(__file__).parent / "page"
DEFAULT_MAX_UPLOAD_MB = 10.0
MAX_TOPK = 20


def create_app(pool: ModelPool, bench: dict[str, dict] | None = None,
               max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, max_pixels: int | None = DEFAULT_MAX_PIXELS):
    """The app serving `pool`'s models; `bench`: `convzoo bench` rows by name (chart.read_bench_results);
    uploads over `max_upload_mb`, or images over `max_pixels` once decoded (0: no limit), are refused."""
    fastapi = require_fastapi()
    from fastapi import File, Form, HTTPException, UploadFile
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse, Response
    from fastapi.staticfiles import StaticFiles

    app = fastapi.FastAPI(title="convzoo", version=__version__,
                          description="Classify images with the zoo's pretrained models and your fine-tuned ones.")
    app.add_middleware(BoundedBody, max_bytes=int(max_upload_mb * 2**20))
    app.mount("/static", StaticFiles(directory=PAGE), name="static")
    bench = bench or {}
    app.state.pool = pool
    # Decoding and preprocessing, a few uploads at a time: more at once than there are cores
    # only hold more decoded images in memory and slow each other down (the GIL, the cache).
    preparing = asyncio.Semaphore(max(2, available_cores()))
    metrics = ServeMetrics(pool.names, pool.queue_depth)
    pool.on_batch = metrics.batch

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(PAGE / "index.html")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "version": __version__, "models": len(pool.names)}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics():
        body, content_type = metrics.text()
        return Response(body, media_type=content_type)

    @app.get("/v1/models")
    def models():
        return {"models": pool.describe(), "max_upload_mb": max_upload_mb, "max_topk": MAX_TOPK}

    @app.get("/v1/chart")
    def chart():
        return {"points": chart_points(pool.describe(), bench)}

    @app.post("/v1/predict")
    async def predict(file: Annotated[UploadFile, File(description="an image file (JPEG, PNG, WebP, ...)")],
                      models: Annotated[str, Form(description="model names, comma-separated")] = "",
                      topk: Annotated[int, Form(ge=1, le=MAX_TOPK)] = 5,
                      explain: Annotated[bool, Form(description="add a Grad-CAM overlay per model")] = False):
        """Classify one image with each named model (default: the first served one).

        The answer: `{"image": {"name", "width", "height"}, "results": [...]}`, one
        result per model, in the order named: `{"model", "weights", "decision",
        "probability", "topk": [{"index", "label", "probability"}, ...], "ms"}`, plus
        `"heatmap"` (a PNG data URL) and `"heatmap_label"` with `explain`.
        `decision` is the class the model's decision rule chose and `probability`
        its probability (a pretrained ImageNet model decides by the argmax: its
        top-1; a fine-tuned one by its checkpoint's rule: threshold, temperature);
        `ms` is the preprocessing of this image and the forward pass of its batch."""
        names = [n.strip() for n in models.split(",") if n.strip()] or pool.names[:1]
        start, status = time.perf_counter(), 500
        try:
            answer = await _answer(file, names, topk, explain)
            status = 200
            return answer
        except HTTPException as exc:
            status = exc.status_code
            raise
        finally:
            metrics.request(names, status, time.perf_counter() - start)

    async def _answer(file, names: list[str], topk: int, explain: bool) -> dict:
        try:
            for name in names:
                pool.check(name)
        except NotServed as exc:
            raise HTTPException(404, str(exc)) from None
        source = file.filename or "upload"
        data = await file.read()
        try:
            async with preparing:
                picture = await run_in_threadpool(load_image_bytes, data, source, max_pixels)
                futures = await run_in_threadpool(pool.submit, picture, names, topk, explain)
            for name in names:
                metrics.depth_changed(name)
            results = [await asyncio.wrap_future(future) for future in futures]
        except ImageError as exc:
            raise HTTPException(400, f"not a usable image: {exc}") from None
        except QueueFull as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        except (OSError, RuntimeError, ValueError) as exc:
            raise HTTPException(503, f"cannot run the model here: {' '.join(str(exc).split())}") from None
        return {"image": {"name": source, "width": picture.width, "height": picture.height},
                "results": [r.to_json() for r in results]}

    return app
