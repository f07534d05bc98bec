"""`convzoo serve`: a local web app and REST API over the zoo's classifiers.

pool.py holds the served models (one Classifier each: pretrained ones built on
first use, fine-tuned checkpoints loaded at start) and answers predictions and
Grad-CAM overlays; batching.py is each model's worker, which answers
concurrent requests with one forward pass, behind a bounded queue; metrics.py
is /metrics (Prometheus); limits.py bounds request bodies; chart.py joins
accuracy with measured latency; app.py is the FastAPI application (routes and
error mapping); page/ is the one web page it serves. FastAPI, uvicorn,
python-multipart and prometheus-client are the optional `[serve]` extra.
"""
from __future__ import annotations

SERVE_MISSING = "convzoo serve needs FastAPI and uvicorn: pip install 'convzoo[serve]'"


def require_fastapi():
    try:
        import fastapi
        import python_multipart  # noqa: F401  (FastAPI's form parser, for uploads)
    except ImportError:
        raise ValueError(SERVE_MISSING) from None
    return fastapi
