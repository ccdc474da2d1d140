"""Scaling values to uint8 for display: symmetric (0 at the centre of a diverging map) or by range; numpy here,
the torch versions (on the compute device, per map) in ``app.imaging.maps``.
"""

from __future__ import annotations

import numpy as np


def to_uint8_symmetric(x: np.ndarray, limit: float | None = None) -> tuple[np.ndarray, float]:
    """Scale signed values so 0 -> 128 and +-limit -> 255/0 (limit defaults to max |x|). Returns (uint8, limit)."""
    x = np.asarray(x, dtype=np.float32)
    if limit is None:
        limit = float(np.max(np.abs(x))) if x.size else 1.0
    limit = limit if limit > 0 else 1.0
    u = np.clip(np.round(127.5 + 127.5 * x / limit), 0, 255).astype(np.uint8)
    return u, limit


def to_uint8_range(x: np.ndarray, lo: float | None = None, hi: float | None = None) -> tuple[np.ndarray, float, float]:
    """Scale values linearly so lo -> 0 and hi -> 255 (defaults: min and max)."""
    x = np.asarray(x, dtype=np.float32)
    lo = float(x.min()) if lo is None else lo
    hi = float(x.max()) if hi is None else hi
    span = hi - lo if hi > lo else 1.0
    u = np.clip(np.round(255.0 * (x - lo) / span), 0, 255).astype(np.uint8)
    return u, lo, hi


def robust_limit(x: np.ndarray, q: float = 99.5, axis: int | None = None) -> np.ndarray | float:
    """The ``q``-th percentile of |x| (over ``axis``; all values when None): a limit a few outliers do not set.
    Falls back to max |x| where the percentile is 0, and to 1 where everything is 0."""
    a = np.abs(np.asarray(x, dtype=np.float32))
    if axis is None:
        lim = float(np.percentile(a, q)) if a.size else 1.0
        return lim if lim > 0 else (float(a.max()) if a.size and a.max() > 0 else 1.0)
    lim = np.percentile(a, q, axis=axis)
    mx = a.max(axis=axis)
    lim = np.where(lim > 0, lim, mx)
    return np.where(lim > 0, lim, 1.0).astype(np.float32)
