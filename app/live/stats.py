"""Statistics of one layer's feature maps, for a Live pane's statistics strip (torch, on the compute device).

- ``sparsity``: the fraction of activations with ``|x| <= eps`` (exact zeros after a ReLU);
- ``mean_abs``: the mean ``|x|`` (magnitude: random and trained layers differ by orders of magnitude);
- ``frequency``: the dominant spatial frequency in cycles per pixel of the map: the radial peak (DC excluded) of
  the power spectrum averaged over channels, each map's mean removed; ``1 / frequency`` is the period in pixels;
- ``correlation``: the mean absolute Pearson correlation between distinct channels, over a sample of channels
  (constant channels left out): 1 when the channels are copies of each other, near 0 when independent.

The spectrum and the correlation use at most ``sample`` channels, evenly spaced (and the spectrum a central crop
of ``CROP`` pixels, the correlation an evenly spaced sample of ``PIXELS`` pixels): a few milliseconds a layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SAMPLE = 16  # channels for the spectrum and the correlation
CROP = 128  # the spectrum's central crop (pixels)
PIXELS = 16384  # pixels per channel for the correlation


@dataclass(frozen=True)
class MapStats:
    sparsity: float
    mean_abs: float
    frequency: float  # cycles per pixel (0: no structure, a flat map)
    correlation: float  # nan: fewer than two non-constant channels in the sample
    channels: int  # channels in the layer
    sampled: int  # channels the spectrum and the correlation used

    def describe(self) -> str:
        period = f" ({1 / self.frequency:.1f} px)" if self.frequency > 0 else ""
        corr = "n/a" if math.isnan(self.correlation) else f"{self.correlation:.2f}"
        return (f"zeros {100 * self.sparsity:.0f}% · mean |a| {self.mean_abs:.3g} · "
                f"freq {self.frequency:.3f} c/px{period} · |corr| {corr}")

    def explain(self) -> str:
        return ("zeros: fraction of activations that are 0 (|a| <= 1e-6)\n"
                "mean |a|: mean magnitude of the activations\n"
                "freq: dominant spatial frequency (cycles per map pixel; period in pixels), the peak of the "
                "channel-averaged power spectrum\n"
                f"|corr|: mean absolute correlation between channels ({self.sampled} of {self.channels} sampled)")


def _sample(fmap: torch.Tensor, sample: int) -> torch.Tensor:
    c = fmap.shape[0]
    if c <= sample:
        return fmap
    idx = torch.linspace(0, c - 1, sample, device=fmap.device).round().long()
    return fmap.index_select(0, idx)


def sparsity(fmap: torch.Tensor, eps: float = 1e-6) -> float:
    n = fmap.numel()
    return 1.0 - int(torch.count_nonzero(fmap.abs() > eps)) / n if n else 0.0


def mean_abs(fmap: torch.Tensor) -> float:
    return float(fmap.float().abs().mean())


def dominant_frequency(fmap: torch.Tensor, crop: int = CROP) -> float:
    """Cycles per pixel of the radial peak of the mean power spectrum of (C, H, W) maps (0 for flat maps); large
    maps are cropped to their central ``crop`` x ``crop`` pixels (the frequency in cycles per pixel is the same)."""
    h0, w0 = fmap.shape[-2:]
    y0, x0 = max(0, (h0 - crop) // 2), max(0, (w0 - crop) // 2)
    x = fmap[:, y0:y0 + crop, x0:x0 + crop].float()
    c, h, w = x.shape
    if h < 2 and w < 2:
        return 0.0
    x = x - x.mean(dim=(1, 2), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2).mean(0)  # (H, W//2+1)
    fy = torch.fft.fftfreq(h, device=x.device).abs()
    fx = torch.fft.rfftfreq(w, device=x.device)
    r = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    step = 1.0 / max(h, w)  # the finer of the two frequency resolutions
    bins = torch.round(r / step).long()
    nb = int(bins.max()) + 1
    total = torch.zeros(nb, device=x.device).index_add_(0, bins.reshape(-1), power.reshape(-1))
    count = torch.zeros(nb, device=x.device).index_add_(0, bins.reshape(-1), torch.ones_like(power).reshape(-1))
    radial = total / count.clamp_min(1)
    radial[0] = 0  # DC (removed anyway)
    if float(radial.max()) <= 0:
        return 0.0
    return float(radial.argmax()) * step


def channel_correlation(fmap: torch.Tensor) -> float:
    """Mean |Pearson correlation| between distinct non-constant channels of (C, H, W) maps; nan below two."""
    x = fmap.float().reshape(fmap.shape[0], -1)
    if x.shape[1] > PIXELS:  # an evenly spaced sample of pixels: the same correlation, a fraction of the work
        x = x[:, ::x.shape[1] // PIXELS]
    x = x - x.mean(1, keepdim=True)
    norm = x.norm(dim=1)
    x = x[norm > 1e-12 * max(1.0, float(norm.max()) if norm.numel() else 1.0)]
    n = x.shape[0]
    if n < 2:
        return float("nan")
    x = x / x.norm(dim=1, keepdim=True)
    corr = (x @ x.T).abs()
    return float((corr.sum() - corr.diagonal().sum()) / (n * (n - 1)))


def map_stats(fmap: torch.Tensor, sample: int = SAMPLE, eps: float = 1e-6) -> MapStats:
    """Every statistic of one layer's (C, H, W) maps."""
    s = _sample(fmap, sample)
    return MapStats(sparsity(fmap, eps), mean_abs(fmap), dominant_frequency(s), channel_correlation(s),
                    int(fmap.shape[0]), int(s.shape[0]))
