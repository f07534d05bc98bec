"""Fingerprints of image files, by their bytes: `convzoo calibrate` records those
of the images it chose a threshold on, and `convzoo eval` recognises them again
(under another name or in another folder) to mark a score taken on them as
optimistic."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

CHUNK = 1 << 20


def file_fingerprint(path: str | Path) -> str:
    """16 hex digits of the BLAKE2b hash of the file's bytes (not of its name)."""
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def image_fingerprints(paths: Iterable[str | Path]) -> list[str]:
    """`file_fingerprint` of each file, in order."""
    return [file_fingerprint(p) for p in paths]
