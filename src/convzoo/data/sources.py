"""Where an image comes from: a file, a folder of them, an http(s) URL, or
bytes already read (stdin, `-` on the command line).

Every source decodes through images.decode_image, so a download or stdin gets
the same checks (pixel limit, EXIF orientation, damage) as a file.
"""
from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from PIL import Image

from ..version import __version__
from .images import DEFAULT_MAX_PIXELS, ImageError, expand_inputs, load_image_bytes, to_pil_rgb

STDIN = "-"
DEFAULT_TIMEOUT = 30.0  # seconds without an answer before a download is given up
MAX_DOWNLOAD_BYTES = 256 * 2**20  # no photo is this large; a misdirected URL (a video, a dump) may be


@dataclass(frozen=True)
class EncodedImage:
    """An encoded image file held in memory; `name` names it in results and errors."""

    name: str
    data: bytes

    def __str__(self) -> str:
        return self.name


def is_url(item) -> bool:
    return isinstance(item, str) and item.lower().startswith(("http://", "https://"))


def expand_sources(inputs: Iterable[str | os.PathLike]) -> list[str | Path]:
    """expand_inputs for the command line: URLs and `-` (stdin) kept as given
    (a Path would fold a URL's "//"), folders expanded to their image files."""
    out: list[str | Path] = []
    for item in inputs:
        if is_url(item) or item == STDIN:
            out.append(str(item))
        else:
            out.extend(expand_inputs([item]))
    return out


def read_stdin() -> EncodedImage:
    """One image from standard input (read in this process: DataLoader workers have no stdin)."""
    return EncodedImage("<stdin>", sys.stdin.buffer.read())


def describe(item, index: int) -> str:
    """How an input is named in results and errors: its path, URL or name, else its position."""
    if isinstance(item, (str, EncodedImage)) or hasattr(item, "__fspath__"):
        return str(item)
    return f"<input {index}>"


def load_input(item, source: str, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               timeout: float = DEFAULT_TIMEOUT) -> Image.Image:
    """Any input (path, URL, EncodedImage, PIL image, array, tensor) as an RGB image."""
    if isinstance(item, EncodedImage):
        return load_image_bytes(item.data, source, max_pixels)
    if is_url(item):
        return load_image_bytes(fetch_url(item, timeout), source, max_pixels)
    return to_pil_rgb(item, source, max_pixels)


def fetch_url(url: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The body of an http(s) URL; any failure is an ImageError naming the URL."""
    request = urllib.request.Request(url, headers={"User-Agent": f"convzoo/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ImageError(url, f"download failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise ImageError(url, f"no answer within {timeout:g} s (offline, or a slow server?)") from None
        raise ImageError(url, f"cannot be fetched: {reason} (offline? check the URL and the network)") from None
    except (TimeoutError, socket.timeout):
        raise ImageError(url, f"no answer within {timeout:g} s (offline, or a slow server?)") from None
    except OSError as exc:  # connection reset mid-body, ...
        raise ImageError(url, f"download failed: {exc}") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ImageError(url, f"larger than {MAX_DOWNLOAD_BYTES // 2**20} MiB: not an image to classify")
    return data
