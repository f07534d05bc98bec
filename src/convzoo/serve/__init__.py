"""`convzoo serve`: a local web app and REST API over the zoo's classifiers.

pool.py holds the loaded models (one Classifier each, built on first use) and
answers predictions and Grad-CAM overlays; limits.py bounds request bodies;
chart.py joins accuracy with measured latency; app.py is the FastAPI
application (routes and error mapping); page/ is the one web page it serves.
FastAPI, uvicorn and python-multipart are the optional `[serve]` extra.
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
