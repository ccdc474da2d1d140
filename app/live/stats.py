"""Statistics of one layer's feature maps, for a Live pane's statistics strip (torch, on the compute device).

- ``sparsity``: the fraction of activations with ``|x| <= eps`` (exact zeros after a ReLU);
- ``mean_abs``: the mean ``|x|`` (magnitude: random and trained layers differ by orders of magnitude);
- ``frequency``: the dominant spatial frequency in cycles per pixel of the map: the radial peak (DC excluded) of
  the power spectrum averaged over channels, each map's mean removed; ``1 / frequency`` is the period in pixels.
  Only a peak that stands out is one (its ring's power at least ``PROMINENCE`` times the median ring's: white noise
  reaches ~2.2, a grating 80 and more); else "no peak" (NaN). Maps larger than ``CROP`` pixels are measured on
  their central ``CROP`` x ``CROP`` pixels. A peak at the lowest frequency of an axis of the map (or of that crop),
  one cycle over its height or width, is a bound (``frequency_floor``): a gradient, one cycle or 1.7 cycles over
  that side all peak there, so only a period of at least 1 / ``LEAKAGE`` of that side is claimed;
- ``correlation``: the mean absolute Pearson correlation between distinct channels, over a sample of channels
  (constant channels left out): 1 when the channels are copies of each other, near 0 when independent.

The spectrum and the correlation use at most ``sample`` channels, evenly spaced (and the spectrum a central crop
of ``CROP`` pixels, the correlation an evenly spaced sample of ``PIXELS`` pixels): a few milliseconds a layer.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from app.metrics import percent

SAMPLE = 16  # channels for the spectrum and the correlation
CROP = 128  # the spectrum's central crop (pixels)
PROMINENCE = 3.0  # a peak ring's power over the median ring's power, at least
PIXELS = 16384  # pixels per channel for the correlation
LEAKAGE = 2.0  # a grating of fewer than this many cycles over a side can peak at its lowest frequency (one cycle
# over it): up to ~1.75 cycles on gratings of every phase along either axis of square and non-square maps


@dataclass(frozen=True)
class MapStats:
    sparsity: float
    mean_abs: float
    frequency: float  # cycles per pixel (0: a flat map; nan: no ring stands out, as for noise)
    correlation: float  # nan: fewer than two non-constant channels in the sample
    channels: int  # channels in the layer
    sampled: int  # channels the spectrum and the correlation used
    frequency_floor: bool = False  # the peak is at an axis's lowest frequency: ``frequency`` is an upper bound
    arithmetic: str = "float32"  # what the maps were computed in (a Live pane's precision: bfloat16, float16)

    def frequency_text(self) -> str:
        f = self.frequency
        if math.isnan(f):
            return "freq: no peak"
        if f <= 0:
            return "freq: flat"
        if self.frequency_floor:  # a bound, rounded so that it stays one: the frequency up, the period down
            up, down = math.ceil(f * 1000 * (1 - 1e-6)) / 1000, math.floor(1 / f * (1 + 1e-6))
            return f"freq <= {up:.3f} c/px (>= {down} px)"
        return f"freq {f:.3f} c/px ({1 / f:.1f} px)"

    def describe(self) -> str:
        corr = "n/a" if math.isnan(self.correlation) else f"{self.correlation:.2f}"
        return (f"zeros {percent(self.sparsity, 0)} · mean |a| {self.mean_abs:.3g} · "
                f"{self.frequency_text()} · |corr| {corr}"
                + ("" if self.arithmetic == "float32" else f" · {self.arithmetic} maps"))

    def explain(self) -> str:
        return ("zeros: fraction of activations that are 0 (|a| <= 1e-6)\n"
                "mean |a|: mean magnitude of the activations\n"
                "freq: dominant spatial frequency (cycles per map pixel; period in pixels), the peak of the "
                f"channel-averaged power spectrum where one stands out ({PROMINENCE:g}x the median ring: 'no peak' "
                f"for noise-like maps; maps larger than {CROP} px are measured on their central {CROP}x{CROP} px). "
                "'<=' is a bound, on maps of any size: the power peaks at the lowest frequency the map (or its "
                "centre) holds along its height or width, where anything slower than two cycles over that side "
                "lands too, so the period is at least half that side and may be much longer\n"
                f"|corr|: mean absolute correlation between channels ({self.sampled} of {self.channels} sampled)\n"
                + ("" if self.arithmetic == "float32" else
                   f"{self.arithmetic} maps: the figures are of maps computed in {self.arithmetic} autocast (the "
                   "Live view's Precision), which can differ from float32's, in deep layers visibly\n")
                + "While the video plays these are refreshed a few times a second (less often where computing them "
                "would take more than 2% of the loop's time, as on a busy machine), so they may trail the maps "
                "shown by a fraction of a second; paused, they are the frame's own")


def _sample(fmap: torch.Tensor, sample: int) -> torch.Tensor:
    c = fmap.shape[0]
    if c <= sample:
        return fmap
    idx = torch.linspace(0, c - 1, sample, device=fmap.device).round().long()
    return fmap.index_select(0, idx)


def sparsity(fmap: torch.Tensor, eps: float = 1e-6) -> float:
    return _magnitudes(fmap, eps)[0]


def mean_abs(fmap: torch.Tensor) -> float:
    return _magnitudes(fmap, 1e-6)[1]


def _magnitudes(fmap: torch.Tensor, eps: float) -> tuple[float, float]:
    """(sparsity, mean |x|) from one pass of ``|x|`` over the whole map (it was taken twice: 1.5 ms of a Live
    pane's ~6 ms of statistics on one core at 16 x 240 x 320)."""
    n = fmap.numel()
    if not n:
        return 0.0, float("nan")
    a = fmap.float().abs()
    return 1.0 - int(torch.count_nonzero(a > eps)) / n, float(a.mean())


def dominant_frequency(fmap: torch.Tensor, crop: int = CROP) -> float:
    """``frequency_peak``'s frequency."""
    return frequency_peak(fmap, crop)[0]


def frequency_peak(fmap: torch.Tensor, crop: int = CROP) -> tuple[float, bool]:
    """(cycles per pixel of the radial peak of the mean power spectrum of (C, H, W) maps, floor): 0 for flat maps,
    NaN when no ring stands out (``PROMINENCE``); the power-weighted mean radius of the peak ring (a checkerboard:
    0.707, not its ring's rounded 0.72). Large maps are cropped to their central ``crop`` x ``crop`` pixels.

    Where most of the peak ring's power sits at the lowest frequency of an axis (one cycle over the map's, or the
    crop's, height or width), the spectrum cannot say how long the period is: a slow gradient, one cycle or 1.7
    cycles over that side all peak there. ``floor`` is then True and the frequency an upper bound, ``LEAKAGE``
    cycles over the side the power lies along (the larger bound where both hold a share): an 80 px wide map whose
    power peaked there showed "80.0 px" as if measured; a 90x160 map whose rows held a 60 px period showed
    ">= 128 px" (the long side's lowest frequency, whose ring the short side's shares); a 100 px period on a
    128 px map showed ">= 128 px" (1.28 cycles peak at one)."""
    h0, w0 = fmap.shape[-2:]
    y0, x0 = max(0, (h0 - crop) // 2), max(0, (w0 - crop) // 2)
    x = fmap[:, y0:y0 + crop, x0:x0 + crop].float()
    c, h, w = x.shape
    if h < 2 and w < 2:
        return 0.0, False
    x = x - x.mean(dim=(1, 2), keepdim=True)
    spectrum = torch.fft.rfft2(x)
    power = (spectrum.real.square() + spectrum.imag.square()).mean(0)  # (H, W//2+1); |.|^2 took 2.6x as long
    fy, fx, r, bins, count = _rings(h, w, x.device)
    nb = count.numel()
    total = torch.zeros(nb, device=x.device).index_add_(0, bins.reshape(-1), power.reshape(-1))
    radial = total / count
    radial[0] = 0  # DC (removed anyway)
    top = float(radial.max())
    if top <= 1e-12 * max(1.0, float(power.max())):
        return 0.0, False
    if nb > 2 and top < PROMINENCE * float(radial[1:].median()):
        return float("nan"), False
    peak = int(radial.argmax())
    ring = (bins == peak).float() * power
    # the lowest frequency of each axis (one cycle over the side; DC excluded): (+-1, 0), (0, 1) and (+-1, 1)
    ky = torch.round(fy * h)[:, None]
    kx = torch.round(fx * w)[None, :]
    lowest = (ky <= 1) & (kx <= 1) & (r > 0)
    low = ring * lowest
    if float(low.sum()) >= 0.5 * float(ring.sum()):
        # the true frequency is below LEAKAGE cycles along each axis the power lies on: the largest such bound
        # among the lowest frequencies that hold a share of the ring's power
        bound = torch.sqrt((LEAKAGE * ky / h) ** 2 + (LEAKAGE * kx / w) ** 2).expand_as(low)
        held = low >= 0.1 * float(low.max())
        return float(bound[held].max()), True
    return float((ring * r).sum() / ring.sum().clamp_min(1e-30)), False


@functools.lru_cache(maxsize=16)
def _rings(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The frequency grid of an (h, w) map's ``rfft2`` and its rings, which depend on the size alone (a pane's maps
    keep theirs from frame to frame): (|fy|, fx, radius, ring index of each bin, bins per ring, at least 1)."""
    fy = torch.fft.fftfreq(h, device=device).abs()
    fx = torch.fft.rfftfreq(w, device=device)
    r = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    step = 1.0 / max(h, w)  # the finer of the two frequency resolutions
    bins = torch.round(r / step).long()
    nb = int(bins.max()) + 1
    count = torch.zeros(nb, device=device).index_add_(0, bins.reshape(-1), torch.ones_like(r).reshape(-1))
    return fy, fx, r, bins, count.clamp_min(1)


def channel_correlation(fmap: torch.Tensor) -> float:
    """Mean |Pearson correlation| between distinct non-constant channels of (C, H, W) maps; nan below two."""
    x = fmap.float().reshape(fmap.shape[0], -1)
    if x.shape[1] > PIXELS:  # an evenly spaced sample of pixels: the same correlation, a fraction of the work
        x = x[:, ::x.shape[1] // PIXELS].contiguous()  # the strided view made every later pass ~4x slower
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
    freq, floor = frequency_peak(s)
    zeros, magnitude = _magnitudes(fmap, eps)
    return MapStats(zeros, magnitude, freq, channel_correlation(s), int(fmap.shape[0]), int(s.shape[0]), floor)
