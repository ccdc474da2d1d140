"""256-entry colour lookup tables (uint8 RGB), shared by every view. Plain numpy, no Qt, no matplotlib.

``lut(name)`` -> (256, 3) uint8. ``apply(values_uint8, name)`` -> (..., 3) uint8. Diverging maps put zero at 128.
``colorbar(name, height, width)``: a vertical bar (top = high) for a legend.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# anchor colours sampled from the well-known maps (matplotlib's viridis/magma/RdBu_r/gray, perceptual)
_ANCHORS: dict[str, list[tuple[float, float, float]]] = {
    "gray": [(0, 0, 0), (255, 255, 255)],
    "viridis": [(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137),
                (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)],
    "magma": [(0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122), (229, 80, 100),
              (251, 135, 97), (254, 194, 135), (252, 253, 191)],
    "inferno": [(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85), (227, 89, 51),
                (249, 140, 10), (249, 201, 50), (252, 255, 164)],
    # diverging, zero at the centre: blue (negative) - white - red (positive)
    "coolwarm": [(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240), (247, 247, 247),
                 (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31)],
    "seismic": [(0, 0, 76), (0, 0, 255), (255, 255, 255), (255, 0, 0), (128, 0, 0)],
}

NAMES = tuple(_ANCHORS)
DIVERGING = ("coolwarm", "seismic")


@lru_cache(maxsize=None)
def lut(name: str = "viridis") -> np.ndarray:
    if name not in _ANCHORS:
        raise KeyError(f"unknown colour map {name!r}; known: {', '.join(NAMES)}")
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
    xs = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    out = np.stack([np.interp(t, xs, anchors[:, c]) for c in range(3)], axis=1)
    table = np.ascontiguousarray(np.round(out).astype(np.uint8))
    table.setflags(write=False)
    return table


def apply(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Map uint8 values (0..255) through a LUT to RGB uint8."""
    return lut(name)[values]


def colorbar(name: str, height: int = 256, width: int = 16, vertical: bool = True) -> np.ndarray:
    """A colour bar image, RGB uint8 C-contiguous: vertical (height, width, 3) with the top = high, or horizontal
    (width rows of ``height``... ) when ``vertical`` is False: (height, width, 3) with the right = high.
    ``name`` "rgb" gives the grey ramp used for RGB kernels."""
    table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1) if name == "rgb" else lut(name)
    if vertical:
        idx = np.linspace(255, 0, height).round().astype(np.intp)
        return np.ascontiguousarray(np.repeat(table[idx][:, None, :], width, axis=1))
    idx = np.linspace(0, 255, width).round().astype(np.intp)
    return np.ascontiguousarray(np.repeat(table[idx][None], height, axis=0))
