"""One grid layout for every mosaic in the app (kernels, feature maps, dataset samples, galleries), with
hit-testing: which tile is under a pixel, and where a tile is.

A mosaic is ``rows x cols`` tiles of ``tile_h x tile_w`` pixels, ``gap`` pixels apart, with ``margin`` pixels
around the whole grid (``margin=gap`` puts a gap around the outside too; ``margin=0`` starts the first tile at 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GridLayout:
    count: int  # tiles actually filled (the last row may be short)
    rows: int
    cols: int
    tile_h: int
    tile_w: int
    gap: int = 2
    margin: int = 0

    @property
    def height(self) -> int:
        return 2 * self.margin + self.rows * self.tile_h + max(0, self.rows - 1) * self.gap

    @property
    def width(self) -> int:
        return 2 * self.margin + self.cols * self.tile_w + max(0, self.cols - 1) * self.gap

    def origin(self, i: int) -> tuple[int, int]:
        """(y, x) of tile ``i``'s top-left pixel."""
        r, c = divmod(int(i), self.cols)
        return self.margin + r * (self.tile_h + self.gap), self.margin + c * (self.tile_w + self.gap)

    def rect(self, i: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) of tile ``i``."""
        y, x = self.origin(i)
        return x, y, self.tile_w, self.tile_h

    def index_at(self, x: float, y: float) -> int | None:
        """The tile under mosaic pixel (x = column, y = row), or None in a gap, the margin or outside."""
        if x < 0 or y < 0:
            return None
        c, cx = divmod(int(math.floor(x)) - self.margin, self.tile_w + self.gap)
        r, cy = divmod(int(math.floor(y)) - self.margin, self.tile_h + self.gap)
        if c < 0 or r < 0 or c >= self.cols or r >= self.rows or cx >= self.tile_w or cy >= self.tile_h:
            return None
        i = r * self.cols + c
        return i if i < self.count else None


def grid_shape(n: int, tile_h: int, tile_w: int, aspect: float = 1.0, gap: int = 0) -> tuple[int, int]:
    """Rows and columns for ``n`` tiles so that the mosaic's width / height is closest to ``aspect`` (by ratio: 2x too
    wide is as far off as 2x too tall; ``gap`` pixels between tiles counted), with no empty last column. Ties: fewer
    empty cells, then fewer rows."""
    if n <= 0:
        return 0, 0
    th, tw, g = max(1, tile_h), max(1, tile_w), max(0, gap)
    target = math.log(aspect) if aspect > 0 and math.isfinite(aspect) else 0.0
    best: tuple[float, int, int, int] | None = None
    # every shape without an empty last row or column has cols <= sqrt(n) + 1 or rows <= sqrt(n) + 1 (rows * cols
    # >= n): those O(sqrt(n)) candidates cover them all (a mosaic is laid out on every frame)
    k = math.isqrt(n) + 1
    for cols in sorted({*range(1, min(n, k) + 1), *(math.ceil(n / r) for r in range(1, min(n, k) + 1))}):
        rows = math.ceil(n / cols)
        c = math.ceil(n / rows)  # no empty last column
        w, h = c * tw + (c - 1) * g, rows * th + (rows - 1) * g
        key = (round(abs(math.log(w / h) - target), 9), rows * c - n, rows, c)
        if best is None or key < best:
            best = key
    return best[2], best[3]


def layout(n: int, tile_h: int, tile_w: int, *, gap: int = 2, margin: int = 0, cols: int | None = None,
           aspect: float = 1.0) -> GridLayout:
    """A layout for ``n`` tiles: ``cols`` columns if given, else as close to ``aspect`` as possible."""
    if cols is None:
        rows, cols = grid_shape(n, tile_h, tile_w, aspect, gap)
    else:
        cols = max(1, min(int(cols), max(1, n)))
        rows = math.ceil(n / cols) if n else 0
    return GridLayout(n, rows, cols, tile_h, tile_w, gap, margin)
