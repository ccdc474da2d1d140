"""Feature maps -> colour-mapped uint8 images, in torch on the compute device, cheaply (Live's per-frame path).

Per-map normalisation is vectorised (amin/amax over H, W for all maps at once; or one shared range for every map),
colour mapping is one LUT gather of packed RGBA words, tiling is one strided copy into a gap-coloured canvas laid
out as ``app.imaging.layout.GridLayout`` says (no Python loop over maps). Only the finished uint8 RGB image leaves
the device.

- ``shrink(maps, max_h, max_w)``: block-mean down to a tile size;
- ``normalise(maps, symmetric, limits=None)``: per-map (or shared) scaling to uint8, with the ranges used;
- ``colorize(u, cmap)``: uint8 -> RGB through ``app.imaging.colormaps``;
- ``make_mosaic(fmap, first, count, ...)`` -> (RGB, GridLayout, lo, hi); ``single_map(fmap, channel, ...)``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from app.imaging import colormaps
from app.imaging.layout import GridLayout, layout

GAP = 255  # colour of the gaps between tiles (white, like the app's background)


@lru_cache(maxsize=32)
def _lut_tensor(name: str, device: str) -> torch.Tensor:
    return torch.from_numpy(np.array(colormaps.lut(name))).to(device)


def lut_tensor(name: str, device: torch.device | str) -> torch.Tensor:
    return _lut_tensor(name, str(device))


@lru_cache(maxsize=32)
def _lut_packed(name: str, device: str) -> torch.Tensor:
    """The LUT as 256 int32 words whose bytes in memory are R, G, B, 255 (one gather per pixel, not three)."""
    rgba = np.concatenate([np.asarray(colormaps.lut(name)), np.full((256, 1), 255, np.uint8)], axis=1)
    return torch.from_numpy(np.ascontiguousarray(rgba).view(np.int32).reshape(256)).to(device)


def shrink_factor(h: int, w: int, max_h: int, max_w: int) -> int:
    """The integer block size ``shrink`` pools (h, w) maps by to fit max_h x max_w."""
    return max(math.ceil(h / max_h), math.ceil(w / max_w), 1)


def shrink(maps: torch.Tensor, max_h: int, max_w: int) -> torch.Tensor:
    """(N, H, W) -> at most max_h x max_w per map, aspect kept: the mean of each f x f block (f an integer).

    Rows first, then columns, each as f strided adds: the row pass reads the input once in long contiguous runs
    whatever its layout (a channel slice of a channels_last map has the channel innermost; pooling it directly is
    ~5x slower on CPU, and adding the f*f sub-grids directly ~2x), the column pass works on 1/f of the data. The last
    H % f rows / W % f columns are dropped. Always returns a new contiguous float32 tensor (never a view of the
    worker's feature map)."""
    n, h, w = maps.shape
    f = shrink_factor(h, w, max_h, max_w)
    if f == 1:
        return maps.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    if f > 8:  # many tiny adds would cost more than one copy + pool
        return F.avg_pool2d(maps.float().contiguous()[None], kernel_size=f, stride=f)[0]
    h2, w2 = h // f, w // f
    channel_inner = n > 1 and maps.stride(0) == 1
    src = maps.permute(1, 2, 0) if channel_inner else maps.transpose(0, 1)  # (H, W, N) or (H, N, W): rows first
    rows = src[0:h2 * f:f].to(torch.float32, memory_format=torch.contiguous_format, copy=True)
    for dy in range(1, f):
        rows.add_(src[dy:h2 * f:f])
    if channel_inner:  # (h2, W, N) -> (h2, w2, f, N): sum over f
        r = rows[:, :w2 * f].view(h2, w2, f, n) if w == w2 * f else rows[:, :w2 * f].reshape(h2, w2, f, n)
        acc = r[:, :, 0].clone(memory_format=torch.contiguous_format)
        for dx in range(1, f):
            acc.add_(r[:, :, dx])
        return acc.mul_(1.0 / (f * f)).permute(2, 0, 1).contiguous()
    r = rows[:, :, :w2 * f].reshape(h2, n, w2, f)  # (h2, N, W) -> (h2, N, w2, f)
    acc = r[..., 0].clone(memory_format=torch.contiguous_format)
    for dx in range(1, f):
        acc.add_(r[..., dx])
    return acc.mul_(1.0 / (f * f)).transpose(0, 1).contiguous()


def normalise(maps: torch.Tensor, symmetric: bool = False, limits: tuple[float, float] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-map scaling to uint8 (N, H, W): min..max -> 0..255, or (symmetric) -lim..lim -> 0..255 with 0 at 128;
    with ``limits`` (lo, hi), that one range for every map (shared contrast; symmetric: -max|lo, hi|..max|lo, hi|).

    Returns (uint8 maps, lo (N,), hi (N,)) with lo/hi the values that map to 0 and 255. Constant maps give 0 (or 128
    when symmetric). Runs on the maps' device; float32 arithmetic whatever the input dtype. (amin and amax, not
    aminmax: on CPU the fused per-row aminmax is ~10x slower; contiguous maps reduce ~10x faster than strided ones.)"""
    x = maps.float()
    if not x.is_contiguous():
        x = x.contiguous()
    n = x.shape[0]
    xv = x.view(n, -1)
    if limits is not None:
        lo_v, hi_v = float(limits[0]), float(limits[1])
        if symmetric:
            lim_v = max(abs(lo_v), abs(hi_v))
            lo_v, hi_v = -lim_v, lim_v
        lo = torch.full((n,), lo_v, device=x.device)
        hi = torch.full((n,), hi_v, device=x.device)
        span = hi - lo
        scale = torch.where(span > 0, 255.0 / span, torch.zeros_like(span))
        shift = torch.where(span > 0, -lo * scale, torch.full_like(span, 127.5 if symmetric else 0.0))
    elif symmetric:
        lim = torch.maximum(xv.amax(1), xv.amin(1).neg())
        lim = torch.where(lim > 0, lim, torch.ones_like(lim))
        scale = 127.5 / lim
        shift = torch.full_like(lim, 127.5)
        lo, hi = -lim, lim
    else:
        lo, hi = xv.amin(1), xv.amax(1)
        span = hi - lo
        scale = torch.where(span > 0, 255.0 / span, torch.zeros_like(span))
        shift = -lo * scale
    # (x - lo) * scale + 0.5 in one pass; the uint8 conversion truncates, so that rounds to nearest
    u = torch.addcmul(shift[:, None, None].add(0.5), x, scale[:, None, None])
    return u.clamp_(0, 255).to(torch.uint8), lo, hi


def value_range(maps: torch.Tensor) -> tuple[float, float]:
    """(min, max) over every value of ``maps``: one term of a range shared across maps and panes."""
    x = maps.float().reshape(-1)
    return float(x.amin()), float(x.amax())


def colorize(u: torch.Tensor, cmap: str) -> torch.Tensor:
    """uint8 (...,) -> uint8 (..., 3) through the colour map's 256-entry LUT (one packed-word gather per pixel)."""
    return _rgba_words(u, cmap).view(torch.uint8).view(*u.shape, 4)[..., :3]


def _rgba_words(u: torch.Tensor, cmap: str) -> torch.Tensor:
    """uint8 (...,) -> int32 (...,) words whose bytes are R, G, B, 255 (index_select: ~2.5x faster than take)."""
    packed = _lut_packed(cmap, str(u.device))
    return packed.index_select(0, u.reshape(-1).long()).view(u.shape)


@lru_cache(maxsize=1)
def _gap_word() -> int:
    return int(torch.tensor([GAP, GAP, GAP, 255], dtype=torch.uint8).view(torch.int32)[0])


def page_maps(fmap: torch.Tensor, first: int, count: int, tile_max: tuple[int, int] = (96, 128)) -> torch.Tensor:
    """Channels ``first .. first+count-1`` of ``fmap`` (C, H, W), shrunk to at most ``tile_max``: float32
    (count, h, w), new memory (the values a mosaic shows, for read-outs)."""
    c = fmap.shape[0]
    first = max(0, min(first, c - 1))
    count = max(1, min(count, c - first))
    return shrink(fmap[first:first + count].float(), *tile_max)


def make_mosaic(
    fmap: torch.Tensor,
    first: int,
    count: int,
    cmap: str = "viridis",
    *,
    tile_max: tuple[int, int] = (96, 128),
    pad: int = 2,
    aspect: float = 1.0,
    symmetric: bool = False,
    limits: tuple[float, float] | None = None,
) -> tuple[torch.Tensor, GridLayout, torch.Tensor, torch.Tensor]:
    """Channels ``first .. first+count-1`` of ``fmap`` (C, H, W) -> (RGB uint8 mosaic on the device, its
    ``GridLayout`` (tiles ``pad`` px apart, no margin), lo, hi). ``limits``: one (lo, hi) for every map (shared
    contrast) instead of each map's own range.

    The mosaic is a new C-contiguous tensor that shares memory with nothing else (safe to hand over as it is)."""
    return tile_maps(page_maps(fmap, first, count, tile_max), cmap, pad=pad, aspect=aspect, symmetric=symmetric,
                     limits=limits)


def tile_maps(maps: torch.Tensor, cmap: str = "viridis", *, pad: int = 2, aspect: float = 1.0,
              symmetric: bool = False, limits: tuple[float, float] | None = None, cols: int | None = None,
              ) -> tuple[torch.Tensor, GridLayout, torch.Tensor, torch.Tensor]:
    """(N, h, w) maps -> (RGB uint8 mosaic, GridLayout, lo, hi): normalised, colour-mapped and tiled ``cols``
    columns wide (default: the mosaic's width / height close to ``aspect``)."""
    u, lo, hi = normalise(maps, symmetric, limits)
    n, h, w = u.shape
    lay = layout(n, h, w, gap=pad, margin=0, cols=cols, aspect=aspect)
    rows, cols = lay.rows, lay.cols
    words = _rgba_words(u, cmap)
    # tiles written straight into a gap-coloured canvas of RGBA words: one strided copy, no pad/cat/permute chain
    out = torch.full((rows, h + pad, cols, w + pad), _gap_word(), dtype=torch.int32, device=u.device)
    full = n // cols
    if full:
        out[:full, :h, :, :w] = words[:full * cols].view(full, cols, h, w).permute(0, 2, 1, 3)
    if n % cols:
        out[full, :h, :n % cols, :w] = words[full * cols:].permute(1, 0, 2)
    H, W = lay.height, lay.width
    rgba = out.view(rows * (h + pad), cols * (w + pad))[:H, :W].view(torch.uint8).view(H, W, 4)
    if rgba.device.type == "cpu":  # OpenCV's SIMD RGBA -> RGB: ~20x faster than torch's 3-of-4-bytes copy on CPU
        mosaic = torch.from_numpy(cv2.cvtColor(rgba.numpy(), cv2.COLOR_RGBA2RGB))
    else:
        mosaic = rgba[..., :3].contiguous()
    return mosaic, lay, lo, hi


def single_map(fmap: torch.Tensor, channel: int, cmap: str = "viridis", symmetric: bool = False,
               max_size: tuple[int, int] = (720, 1280), limits: tuple[float, float] | None = None
               ) -> tuple[torch.Tensor, float, float]:
    """One channel enlarged (full resolution, at most max_size): (RGB uint8 on the device, lo, hi)."""
    channel = max(0, min(channel, fmap.shape[0] - 1))
    m = shrink(fmap[channel:channel + 1].float(), *max_size)
    u, lo, hi = normalise(m, symmetric, limits)
    return colorize(u[0], cmap), float(lo[0]), float(hi[0])
