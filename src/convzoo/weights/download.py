"""Download weights files into the cache: verified, atomic, resumable by rerun.

- Cache: $CONVZOO_HOME/weights (default ~/.cache/convzoo/weights).
- Mirror for air-gapped sites: with CONVZOO_WEIGHTS_URL=<base>, a file is
  fetched as <base>/<file name> instead of from its published URL.
- Offline: with CONVZOO_OFFLINE=1 nothing is fetched; a missing file is an
  error naming the URL to fetch and the path to put it at.
- The download goes to a temporary file beside the target, is hashed while it
  streams, and is renamed into place only when the hash matches: a failed,
  interrupted or mismatched download leaves nothing in the cache.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..utils.atomic import atomic_path
from ..utils.home import convzoo_home

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A weights file could not be fetched or did not verify."""


def cache_dir() -> Path:
    return convzoo_home() / "weights"


def is_offline() -> bool:
    return os.environ.get("CONVZOO_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def source_url(url: str) -> str:
    """The URL to fetch: the mirror's when CONVZOO_WEIGHTS_URL is set."""
    mirror = os.environ.get("CONVZOO_WEIGHTS_URL", "").strip()
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}" if mirror else url


def fetch(url: str, *, sha256: str | None = None, hash_prefix: str | None = None, progress: bool = True,
          hint: str = "") -> Path:
    """Path of the cached file for `url`, downloading and verifying it if needed.
    `hint`: another way to get the file, added to the offline error."""
    file_name = url.rsplit("/", 1)[-1]
    target = cache_dir() / file_name
    if target.is_file():
        return target
    url = source_url(url)
    if is_offline():
        raise DownloadError(
            f"CONVZOO_OFFLINE is set and {file_name} is not in the cache: fetch {url} and put it at {target}"
            + (f", {hint}" if hint else "")
        )
    if sha256 is None and hash_prefix is None:
        raise DownloadError(f"no hash is known for {file_name}: refusing to use an unverified download")
    # Hashed while it streams; renamed into the cache only if the hash matches.
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        _verify(_stream(url, out, file_name, progress, hint), sha256, hash_prefix, file_name, url)
    return target


def _stream(url: str, out, file_name: str, progress: bool, hint: str = "") -> str:
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    try:
        response = urllib.request.urlopen(url, timeout=30)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot download {url}: {reason}. Check the network, or set CONVZOO_WEIGHTS_URL to a mirror, "
            f"or put the file at {cache_dir() / file_name}" + (f", {hint}" if hint else "")
        ) from exc
    with response, tqdm(total=int(response.headers.get("Content-Length") or 0) or None, unit="B",
                        unit_scale=True, unit_divisor=1024, desc=file_name, disable=not progress) as bar:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _verify(digest: str, sha256: str | None, hash_prefix: str | None, file_name: str, url: str) -> None:
    expected = sha256 or hash_prefix
    if not digest.startswith(expected):
        raise DownloadError(
            f"{file_name} from {url} is corrupt or not the published file: sha256 {digest[:16]}... "
            f"does not match {expected[:16]}...; nothing was cached, try again or check the mirror"
        )
