"""Feature maps -> one colour-mapped uint8 mosaic, on the compute device (torch), cheaply.

Per-map normalisation is vectorised (amin/amax over H, W for all maps at once), tiling is a pad + reshape +
permute (no Python loop over maps), colour mapping is a LUT gather. Only the finished uint8 RGB mosaic leaves the
device. Plus the small numpy helpers for snapshots and recordings (composite of the input and every pane).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from app import colormaps

GAP = 255  # colour of the gaps between tiles (white, like the app's background)


@dataclass(frozen=True)
class Grid:
    """Where tiles sit in a mosaic: ``rows`` x ``cols`` tiles of ``tile_h`` x ``tile_w`` px, ``pad`` px apart."""

    rows: int
    cols: int
    tile_h: int
    tile_w: int
    pad: int
    count: int  # tiles actually filled (the last row may be short)

    def index_at(self, x: float, y: float) -> int | None:
        """The tile index under mosaic pixel (x, y), or None (gap or outside)."""
        if x < 0 or y < 0:
            return None
        c, cx = divmod(int(x), self.tile_w + self.pad)
        r, cy = divmod(int(y), self.tile_h + self.pad)
        if c >= self.cols or r >= self.rows or cx >= self.tile_w or cy >= self.tile_h:
            return None
        i = r * self.cols + c
        return i if i < self.count else None


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


def grid_shape(n: int, tile_h: int, tile_w: int, aspect: float = 1.0) -> tuple[int, int]:
    """Rows and columns for n tiles so the mosaic's width/height is close to ``aspect``."""
    if n <= 0:
        return 0, 0
    cols = max(1, min(n, round(math.sqrt(n * aspect * tile_h / max(1, tile_w)))))
    rows = math.ceil(n / cols)
    cols = math.ceil(n / rows)  # no empty last column
    return rows, cols


def shrink(maps: torch.Tensor, max_h: int, max_w: int) -> torch.Tensor:
    """(N, H, W) -> at most max_h x max_w per map, aspect kept: the mean of each f x f block (f an integer).

    Done as f*f strided adds, which reads the input once whatever its memory layout (a channel slice of a
    channels_last map is strided; pooling it directly is ~8x slower on CPU). The last H % f rows / W % f columns are
    dropped. Always returns a new tensor (never a view of the worker's feature map)."""
    n, h, w = maps.shape
    f = max(math.ceil(h / max_h), math.ceil(w / max_w), 1)
    if f == 1:
        return maps.float().clone() if maps.dtype == torch.float32 else maps.float()
    if f > 8:  # many tiny adds would cost more than one copy + pool
        return F.avg_pool2d(maps.float().contiguous()[None], kernel_size=f, stride=f)[0]
    h2, w2 = h // f, w // f
    acc = maps[:, 0:h2 * f:f, 0:w2 * f:f].float().clone()
    for dy in range(f):
        for dx in range(f):
            if dy or dx:
                acc.add_(maps[:, dy:dy + h2 * f:f, dx:dx + w2 * f:f])
    return acc.mul_(1.0 / (f * f))


def normalise(maps: torch.Tensor, symmetric: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-map scaling to uint8 (N, H, W): min..max -> 0..255, or (symmetric) -lim..lim -> 0..255 with 0 at 128.

    Returns (uint8 maps, lo (N,), hi (N,)) with lo/hi the values that map to 0 and 255. Constant maps give 0 (or 128
    when symmetric). Runs on the maps' device; float32 arithmetic whatever the input dtype."""
    x = maps.float()
    if symmetric:
        lim = x.abs().amax(dim=(1, 2))
        lim = torch.where(lim > 0, lim, torch.ones_like(lim))
        u = x.mul(127.5 / lim[:, None, None]).add_(127.5)
        lo, hi = -lim, lim
    else:
        lo, hi = torch.aminmax(x.reshape(x.shape[0], -1), dim=1)
        span = hi - lo
        scale = torch.where(span > 0, 255.0 / span, torch.zeros_like(span))
        u = (x - lo[:, None, None]).mul_(scale[:, None, None])
    return u.clamp_(0, 255).round_().to(torch.uint8), lo, hi


def colorize(u: torch.Tensor, cmap: str) -> torch.Tensor:
    """uint8 (...,) -> uint8 (..., 3) through the colour map's 256-entry LUT (one packed-word gather per pixel)."""
    packed = _lut_packed(cmap, str(u.device))
    words = torch.take(packed, u.long())
    return words.view(torch.uint8).view(*u.shape, 4)[..., :3]


def tile(rgb: torch.Tensor, rows: int, cols: int, pad: int = 2, fill: int = GAP) -> torch.Tensor:
    """(N, h, w, 3) uint8 -> (rows*(h+pad)-pad, cols*(w+pad)-pad, 3), row-major, by pad + reshape + permute."""
    n, h, w, c = rgb.shape
    total = rows * cols
    if total > n:
        rgb = torch.cat([rgb, rgb.new_full((total - n, h, w, c), fill)], 0)
    if pad:
        rgb = F.pad(rgb.permute(0, 3, 1, 2), (0, pad, 0, pad), value=fill).permute(0, 2, 3, 1)
    hh, ww = h + pad, w + pad
    out = rgb.reshape(rows, cols, hh, ww, c).permute(0, 2, 1, 3, 4).reshape(rows * hh, cols * ww, c)
    if pad:
        out = out[: rows * hh - pad, : cols * ww - pad]
    return out.contiguous()


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
) -> tuple[torch.Tensor, Grid, torch.Tensor, torch.Tensor]:
    """Channels ``first .. first+count-1`` of ``fmap`` (C, H, W) -> (RGB uint8 mosaic on the device, Grid, lo, hi)."""
    c = fmap.shape[0]
    first = max(0, min(first, c - 1))
    count = max(1, min(count, c - first))
    maps = shrink(fmap[first:first + count].float(), *tile_max)
    u, lo, hi = normalise(maps, symmetric)
    n, h, w = u.shape
    rows, cols = grid_shape(n, h, w, aspect)
    rgb = colorize(u, cmap)
    mosaic = tile(rgb, rows, cols, pad)
    return mosaic, Grid(rows, cols, h, w, pad, n), lo, hi


def single_map(fmap: torch.Tensor, channel: int, cmap: str = "viridis", symmetric: bool = False,
               max_size: tuple[int, int] = (720, 1280)) -> tuple[torch.Tensor, float, float]:
    """One channel enlarged (full resolution, at most max_size): (RGB uint8 on the device, lo, hi)."""
    channel = max(0, min(channel, fmap.shape[0] - 1))
    m = shrink(fmap[channel:channel + 1].float(), *max_size)
    u, lo, hi = normalise(m, symmetric)
    return colorize(u[0], cmap), float(lo[0]), float(hi[0])


def colorbar(cmap: str, height: int = 256, width: int = 16) -> np.ndarray:
    """A vertical colour bar image (top = high), RGB uint8 (height, width, 3)."""
    lut = np.asarray(colormaps.lut(cmap))
    idx = np.linspace(255, 0, height).round().astype(np.intp)
    return np.ascontiguousarray(np.repeat(lut[idx][:, None, :], width, axis=1))


# --- numpy helpers for snapshots and recordings -----------------------------------------------------------------
def compose(images: list[np.ndarray], height: int = 360, gap: int = 8, fill: int = GAP) -> np.ndarray:
    """RGB uint8 images side by side, each scaled to ``height`` (aspect kept), ``gap`` px apart; RGB uint8."""
    parts = []
    for img in images:
        if img is None or img.size == 0:
            continue
        h, w = img.shape[:2]
        nw = max(1, round(w * height / h))
        interp = cv2.INTER_AREA if height < h else cv2.INTER_NEAREST
        parts.append(cv2.resize(np.ascontiguousarray(img), (nw, height), interpolation=interp))
        parts.append(np.full((height, gap, 3), fill, np.uint8))
    if not parts:
        return np.full((height, height, 3), fill, np.uint8)
    return np.ascontiguousarray(np.concatenate(parts[:-1], axis=1))


def save_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (parent folders created); raises OSError with the path on failure."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    return path
