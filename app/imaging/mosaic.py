"""Tiling images into one uint8 RGB mosaic (numpy): one ``ImageItem`` shows it, ``GridLayout`` hit-tests it.

``to_rgb(images)`` turns (N, H, W[, C]) uint8/float images into (N, H, W, 3) uint8; ``tile(tiles, layout)`` copies
(N, h, w, 3) tiles into a background-coloured canvas; ``mosaic(images, cols=...)`` does both (with an integer
nearest-neighbour upscale so small images stay visible).
"""

from __future__ import annotations

import math

import numpy as np

from app.imaging.layout import GridLayout, layout


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N, H, W), (N, H, W, 1), (N, H, W, 3) or (N, H, W, 4) -> (N, H, W, 3) uint8 (grey replicated, alpha dropped)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.dtype != np.uint8:
        images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images[..., :3]


def tile(tiles: np.ndarray, lay: GridLayout, background: int | tuple[int, int, int] = 255) -> np.ndarray:
    """(n, h, w, 3) uint8 tiles -> one (H, W, 3) uint8 C-contiguous mosaic laid out by ``lay``."""
    out = np.empty((lay.height, lay.width, 3), dtype=np.uint8)
    out[:] = background
    h, w = lay.tile_h, lay.tile_w
    for i in range(min(lay.count, len(tiles))):
        y, x = lay.origin(i)
        t = tiles[i]
        out[y:y + min(h, t.shape[0]), x:x + min(w, t.shape[1])] = t[:h, :w]
    return out


def upscale_factor(side: int, min_size: int) -> int:
    return max(1, int(math.ceil(min_size / max(1, side))))


def mosaic(images: np.ndarray, cols: int | None = None, *, gap: int = 2, margin: int | None = None,
           min_size: int = 32, label_space: int = 0, background: int = 255,
           aspect: float = 1.0) -> tuple[np.ndarray, GridLayout]:
    """Tile images (nearest-neighbour upscaled by an integer factor so a tile is at least ``min_size`` high;
    ``label_space`` empty rows under each tile for a caption). Returns (mosaic, layout); the layout's tiles
    include the caption rows."""
    imgs = to_rgb(images)
    n = len(imgs)
    margin = gap if margin is None else margin
    if n == 0:
        lay = GridLayout(0, 1, 1, min_size, min_size, gap, margin)
        return np.full((lay.height, lay.width, 3), background, np.uint8), GridLayout(0, 0, 0, min_size, min_size,
                                                                                    gap, margin)
    f = upscale_factor(imgs.shape[1], min_size)
    if f > 1:
        imgs = imgs.repeat(f, axis=1).repeat(f, axis=2)
    h, w = imgs.shape[1:3]
    if label_space:
        padded = np.empty((n, h + label_space, w, 3), np.uint8)
        padded[:] = background
        padded[:, :h] = imgs
        imgs = padded
    lay = layout(n, imgs.shape[1], w, gap=gap, margin=margin, cols=cols, aspect=aspect)
    return np.ascontiguousarray(tile(imgs, lay, background)), lay


def save_png(path, rgb: np.ndarray):
    """Write an RGB uint8 image as PNG (parent folders created, written atomically); returns the path."""
    from pathlib import Path

    import cv2

    from app.storage import atomic_write

    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode a PNG for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, buf.tobytes())
