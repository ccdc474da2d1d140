"""Kernel mosaics of the Models workspace (no Qt): every kernel of a conv layer tiled into one RGB uint8 image.

- ``kernel_mosaic(weights)`` -> ``Mosaic``: a diverging colour map centred on zero; first-layer RGB kernels
  (3 input channels) in colour; a tall (out x in) grid cut into side-by-side blocks;
- ``kernel_at(mosaic, x, y, in_channels)``: which kernel is under a pixel; ``kernel_text``, ``colour_bar``,
  ``compare_text``: the read-outs beside it; ``LayerStats`` (std, mean |w|, max |w|): a whole layer's, taken when
  a model is snapshot (``app.models.viz.snapshot``), where its kernels keep only the first output channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.imaging import colormaps
from app.imaging.scale import to_uint8_symmetric

@dataclass(frozen=True, eq=False)
class Mosaic:
    rgb: np.ndarray  # (H, W, 3) uint8, C-contiguous
    limit: float  # |value| mapped to the ends of the colour map
    rows: int
    cols: int
    cell: int  # kernel side + padding, in pixels
    shown: int  # kernels drawn
    total: int  # kernels in the layer
    colour: bool  # first-layer RGB kernels drawn in colour
    note: str = ""
    blocks: int = 1  # an (out x in) grid cut into this many side-by-side blocks of output channels
    pad: int = 1  # pixels between kernels (0 for 1x1 convs)
    per_block: int = 0  # grid rows per block
    gap: int = 0  # pixels between blocks


@dataclass(frozen=True)
class LayerStats:
    """The scale of a whole conv layer's weight (every output channel, also those a snapshot leaves out)."""

    std: float
    mean_abs: float
    max_abs: float  # the |w| limit of the layer's colour scale
    count: int  # weights


def layer_stats(weights) -> LayerStats:
    """``LayerStats`` of a weight (a numpy array or a torch tensor; float64 sums)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0:
        return LayerStats(0.0, 0.0, 0.0, 0)
    a = np.abs(w)
    return LayerStats(float(w.std()), float(a.mean()), float(a.max()), int(w.size))


PAD_RGB = np.array([190, 190, 190], dtype=np.uint8)
GAP_RGB = np.array([255, 255, 255], dtype=np.uint8)


def _grid(n: int, aspect: float = 1.0) -> tuple[int, int]:
    cols = max(1, int(math.ceil(math.sqrt(n * aspect))))
    rows = max(1, int(math.ceil(n / cols)))
    return rows, cols


def kernel_mosaic(weights: np.ndarray, *, colour: str = "auto", scale: str = "layer", cmap: str = "coolwarm",
                  max_kernels: int = 4096, pad: int = 1, total_out: int | None = None,
                  limit: float | None = None, wide_aspect: float = 1.3) -> Mosaic:
    """Tile a conv weight (out, in, k, k) into one RGB image.

    - ``colour``: "auto" draws 3-input-channel kernels as RGB pictures (0 -> mid grey), "rgb" forces it, "map"
      draws each (out, in) slice through the diverging map ``cmap`` (0 -> the map's centre).
    - Layout: RGB or single-input kernels in a near-square grid; otherwise one row per output channel, one
      column per input channel (at most ``max_kernels`` slices; the note says what was left out), a tall grid
      cut into side-by-side blocks of output channels (white gaps) to be about ``wide_aspect`` wide.
    - ``scale``: "layer" (one limit: ``limit``, else the max |w| of the kernels drawn; pass a snapshot's
      ``ModelView.layer_limit`` for the whole layer's, as the Models workspace does) or "kernel" (each slice to its
      own max).
    """
    w = np.asarray(weights, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"kernels are 4-D (out, in, k, k); got shape {w.shape}")
    o, i, kh, kw = w.shape
    total_out = int(total_out or o)
    if scale not in ("layer", "kernel"):
        raise ValueError(f"scale must be 'layer' or 'kernel', got {scale!r}")
    rgb_mode = (colour == "rgb" and i == 3) or (colour == "auto" and i == 3)
    note = []
    if rgb_mode:
        n = min(o, max_kernels)
        sl = w[:n].transpose(0, 2, 3, 1)  # (n, k, k, 3)
        if scale == "kernel":
            lim = np.abs(sl).reshape(n, -1).max(axis=1)
            lim[lim == 0] = 1.0
            vals = 0.5 + 0.5 * sl / lim[:, None, None, None]
            lim_out = float(lim.max())
        else:
            lim_out = float(limit if limit else (np.abs(sl).max() if sl.size else 1.0)) or 1.0
            vals = 0.5 + 0.5 * sl / lim_out
        tiles = np.clip(np.round(vals * 255), 0, 255).astype(np.uint8)
        rows, cols = _grid(n)
        shown = n
    else:
        if i == 1:
            n = min(o, max_kernels)
            sl = w[:n, 0]
            rows, cols = _grid(n)
            shown = n
        else:
            max_out = max(1, min(o, max_kernels // i)) if i <= max_kernels else 1
            max_in = min(i, max_kernels)
            sl = w[:max_out, :max_in].reshape(-1, kh, kw)
            rows, cols = max_out, max_in
            shown = rows * cols
            if max_in < i:
                note.append(f"first {max_in} of {i} input channels")
        if scale == "kernel":
            lim = np.abs(sl).reshape(len(sl), -1).max(axis=1)
            lim[lim == 0] = 1.0
            u = np.clip(np.round(127.5 + 127.5 * sl / lim[:, None, None]), 0, 255).astype(np.uint8)
            lim_out = float(lim.max())
        else:
            u, lim_out = to_uint8_symmetric(sl, limit)
        tiles = colormaps.apply(u, cmap)  # (n, k, k, 3)
    per_out = 1 if (rgb_mode or i == 1) else i
    shown_out = shown // per_out
    if shown_out < total_out:
        note.insert(0, f"first {shown_out} of {total_out} output channels")
    if kh == 1 and kw == 1:
        pad = 0  # 1x1 convs: a plain (out x in) matrix
    cell_h, cell_w = kh + pad, kw + pad
    full = np.empty((rows * cols, cell_h, cell_w, 3), dtype=np.uint8)
    full[:] = PAD_RGB
    full[:len(tiles), :kh, :kw] = tiles
    body = full.reshape(rows, cols, cell_h, cell_w, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cell_h, cols * cell_w, 3)
    # a tall (out x in) grid is cut into side-by-side blocks of output channels so it fills a landscape panel
    blocks = 1
    if not rgb_mode and i > 1:
        blocks = max(1, min(rows, int(round(math.sqrt(rows * wide_aspect / cols)))))
    per = int(math.ceil(rows / blocks))
    gap = max(cell_w, 2)
    width = blocks * cols * cell_w + (blocks - 1) * gap + pad
    img = np.empty((per * cell_h + pad, width, 3), dtype=np.uint8)
    img[:] = PAD_RGB
    for b in range(blocks):
        part = body[b * per * cell_h:(b + 1) * per * cell_h]
        x = pad + b * (cols * cell_w + gap)
        img[pad:pad + part.shape[0], x:x + cols * cell_w] = part
        if b:
            img[:, x - gap:x - pad] = GAP_RGB
    return Mosaic(np.ascontiguousarray(img), float(lim_out), rows, cols, cell_h, len(tiles),
                  int(total_out * per_out), bool(rgb_mode), "; ".join(note), blocks, pad, per, gap)


def kernel_at(m: Mosaic, x: float, y: float, in_channels: int) -> tuple[int, int | None] | None:
    """Which kernel is under mosaic pixel (x, y): (output channel, input channel or None for RGB/one-input
    grids), or None over padding and outside."""
    x, y = int(math.floor(x)), int(math.floor(y))
    if x < 0 or y < 0:
        return None
    block_w = m.cols * m.cell + m.gap
    b = x // block_w if m.blocks > 1 else 0
    if b >= m.blocks:
        return None
    cx, cy = x - b * block_w - m.pad, y - m.pad
    if cx < 0 or cy < 0:
        return None
    c, r = cx // m.cell, cy // m.cell
    if c >= m.cols or (m.pad and (cx % m.cell >= m.cell - m.pad or cy % m.cell >= m.cell - m.pad)):
        return None
    r += b * m.per_block
    if m.colour or in_channels == 1:
        idx = r * m.cols + c
        return (idx, None) if idx < m.shown else None
    return (r, c) if r < m.rows and r * m.cols + c < m.shown else None


def kernel_text(weights: np.ndarray, out: int, inp: int | None) -> str:
    """One line about one kernel: where it is and its value range."""
    k = weights[out] if inp is None else weights[out, inp]
    where = f"filter {out}" if inp is None else f"output {out}, input {inp}"
    return f"{where}: min {float(k.min()):+.3g}, max {float(k.max()):+.3g}, mean {float(k.mean()):+.3g}"


def colour_bar(cmap: str = "coolwarm", height: int = 12) -> np.ndarray:
    """A (height, 256, 3) uint8 strip of the colour map, for a legend ("rgb": the grey ramp of RGB kernels)."""
    table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1) if cmap == "rgb" else colormaps.lut(cmap)
    return np.ascontiguousarray(np.repeat(table[None], height, axis=0))


def compare_text(a, b) -> str:
    """One line comparing two layers' kernels by their scale (std, mean |w|), each a ``LayerStats`` (a snapshot's
    ``kernel_stats``: the whole layer) or the weights themselves. An element-wise correlation of two networks'
    weights would be meaningless across arbitrary channel orders: the line points to CKA (Insight), which compares
    what the layers compute."""
    a = a if isinstance(a, LayerStats) else layer_stats(a)
    b = b if isinstance(b, LayerStats) else layer_stats(b)
    line = f"std {a.std:.3g} vs {b.std:.3g}; mean |w| {a.mean_abs:.3g} vs {b.mean_abs:.3g}"
    line += " (what layers compute: CKA, Insight)"
    return line
