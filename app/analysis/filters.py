"""Filter statistics, per layer, so trained, random and hand-designed kernels can be compared on one plot:

- ``spectrum``: where the kernels' energy sits: the share of their power (mean over kernels and input channels, on
  a zero-padded DFT) in each ring of radial frequency, from DC (bin 0) to the Nyquist radius (the last bin, which
  also holds the diagonal "corner" frequencies beyond it); the shares sum to 1;
- ``orientations``: each kernel's dominant orientation (structure tensor of its spatial gradient, channel-mean),
  as a histogram over 0..180 degrees, weighted by how oriented it is (coherence). The angle is the edge's or bar's
  direction as the kernel is drawn on screen (row 0 at the top): 0 = horizontal, 90 = vertical, counted
  counter-clockwise, so 45 is a "/" edge and 135 a "\\" edge (``ORIENTATION_CONVENTION``). The bins are centred on
  0, 15, 30, ... 165 (the 0 bin also holds 172.5..180: orientations wrap at 180), so the exact 0 and 90 degree
  kernels of a hand-designed bank land on their own bins (``orientation_centres``);
- ``pca_explained``: the fraction of variance explained by the top eigen-kernels (PCA of the flattened kernels);
- ``sparsity``: the fraction of weights with |w| < 1% of the layer's largest |w|; and ``norm_mean``.

Kernels need not be square (kh x kw, both at least 2: the DFT pads them to the larger side, never crops them).
Kernels with a side of 1 (1 x k, k x 1: factorised convolutions) have no 2-D structure to describe (no gradient
across their single row): ``model_stats`` leaves them out and names them (``skipped_note``); ``stats`` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FilterStats:
    layer: str
    shape: tuple[int, ...]
    spectrum: tuple[float, ...]  # radial bins, DC first
    orientation_hist: tuple[float, ...]  # bins of 180 / n degrees centred on 0, 180 / n, ..., sums to 1 (0s when no
    # kernel is oriented); the angle convention: ORIENTATION_CONVENTION
    coherence_mean: float
    pca_explained: tuple[float, ...]  # cumulative, first k components
    sparsity: float
    norm_mean: float
    trainable: bool | None = None  # the layer's weights are trained with the model (requires_grad); False: fixed
    # by its architecture (an LC model's random basis, rdsn's filters); None: not known (an imported model)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["orientation_centres"] = list(orientation_centres(len(self.orientation_hist)))  # degrees, bin by bin
        d["orientation_convention"] = ORIENTATION_CONVENTION
        return d


ORIENTATION_CONVENTION = ("degrees of the edge or bar direction as drawn (row 0 at the top): 0 horizontal, 90 "
                          "vertical, counter-clockwise (45 = '/', 135 = '\\'); bins centred on 0, 15, ... 165")


def orientation_centres(n_bins: int = 12) -> np.ndarray:
    """The centre of each orientation bin, in degrees: 0, 180 / n, ... (bin 0 spans -90 / n .. 90 / n, wrapped)."""
    return np.arange(n_bins) * (180.0 / n_bins)


def spatial(weights) -> bool:
    """4-D kernels (out, in, kh, kw) with spatial extent (a side over 1): not pointwise 1 x 1."""
    w = np.asarray(weights) if not hasattr(weights, "shape") else weights
    return len(w.shape) == 4 and max(int(w.shape[-2]), int(w.shape[-1])) > 1


def too_thin(weights) -> bool:
    """Spatial kernels with a side of 1 (1 x k, k x 1): no 2-D statistics (``stats`` refuses them)."""
    return spatial(weights) and min(int(weights.shape[-2]), int(weights.shape[-1])) < 2


def skipped_note(skipped) -> str:
    """What the statistics left out: ``skipped`` "name (1x3)" entries; "" for none."""
    if not skipped:
        return ""
    names = list(skipped)
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (f"left out {shown}: kernels with a side of 1 have no 2-D structure (spectrum, orientation) to "
            f"describe")


def spectrum(weights: np.ndarray, pad: int = 16, bins: int | None = None) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    kh, kw = w.shape[-2:]
    pad = max(pad, kh, kw)  # the DFT grid holds the whole kernel (fft2 with a smaller s crops it)
    F = np.abs(np.fft.fftshift(np.fft.fft2(w, s=(pad, pad)), axes=(-2, -1))) ** 2
    P = F.mean(axis=(0, 1))
    yy, xx = np.mgrid[:pad, :pad]
    r = np.hypot(yy - pad // 2, xx - pad // 2)
    bins = bins or pad // 2 + 1
    idx = np.minimum((r / (pad / 2) * (bins - 1)).round().astype(int), bins - 1)  # corners: the last bin
    # each ring's share of the total power (its sum, not its mean: a ring's mean over a sum of ring means was
    # shown as an "energy share", 0.10 at DC where DC holds 0.4% of the energy)
    out = np.bincount(idx.ravel(), P.ravel(), minlength=bins)
    s = out.sum()
    return out / s if s > 0 else out


def orientations(weights: np.ndarray, n_bins: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(histogram over 0..180 degrees weighted by coherence, per-kernel coherence). Angles: ``ORIENTATION_CONVENTION``
    (counter-clockwise on screen); bins centred on ``orientation_centres(n_bins)``."""
    w = np.asarray(weights, dtype=np.float64).mean(axis=1)  # (o, k, k)
    gy, gx = np.gradient(w, axis=(1, 2))
    gy = -gy  # rows run down the screen; y up makes the angles counter-clockwise as the kernel is drawn
    jxx, jyy, jxy = (gx * gx).sum((1, 2)), (gy * gy).sum((1, 2)), (gx * gy).sum((1, 2))
    # dominant gradient direction; the edge/bar orientation is perpendicular to it
    theta = (0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy)) + 90.0) % 180.0
    tr = jxx + jyy
    coh = np.where(tr > 0, np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / np.maximum(tr, 1e-300), 0.0)
    width = 180.0 / n_bins
    # centred bins: 0 covers [-width / 2, width / 2) (179.99 degrees is next to 0, not at the other end)
    idx = np.floor((theta + width / 2) / width).astype(int) % n_bins
    hist = np.bincount(idx, coh, minlength=n_bins)
    s = hist.sum()
    return (hist / s if s > 0 else hist), coh


def pca_explained(weights: np.ndarray, k: int = 8) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64).reshape(weights.shape[0], -1)
    w = w - w.mean(0)
    if w.shape[0] < 2:
        return np.ones(1)
    # the squared singular values as the eigenvalues of the smaller Gram matrix: numpy's SVD held the GIL for
    # 170-390 ms on a 2-core machine (OpenBLAS, 2 threads) and froze the window while Insight computed in its worker
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    s = np.clip(np.linalg.eigvalsh(gram)[::-1], 0.0, None)
    tot = s.sum()
    return np.cumsum(s[:k]) / tot if tot > 0 else np.zeros(min(k, len(s)))


def stats(weights: np.ndarray, layer: str = "", trainable: bool | None = None) -> FilterStats:
    from app.analysis.jobs import InsightError

    w = np.asarray(weights, dtype=np.float64)
    name = f"{layer}: " if layer else ""
    if w.ndim != 4:
        raise InsightError(f"{name}kernels are 4-D (out, in, kh, kw); got the shape {w.shape}")
    if min(w.shape[-2:]) < 2 or w.shape[0] < 1 or w.shape[1] < 1:
        raise InsightError(f"{name}{w.shape[-2]}x{w.shape[-1]} kernels: the filter statistics need both sides at "
                           f"least 2 (a 1 x k kernel has no 2-D structure: no gradient across its single row)")
    hist, coh = orientations(w)
    mx = np.abs(w).max()
    return FilterStats(layer, tuple(int(v) for v in w.shape), tuple(float(v) for v in spectrum(w)),
                       tuple(float(v) for v in hist), float(coh.mean()),
                       tuple(float(v) for v in pca_explained(w)),
                       float((np.abs(w) < 0.01 * mx).mean()) if mx > 0 else 1.0,
                       float(np.linalg.norm(w.reshape(w.shape[0], -1), axis=1).mean()), trainable)


def model_stats(model, skipped: list | None = None) -> list[FilterStats]:
    """Statistics of every conv with spatial kernels (kh x kw, a side over 1) of a built model. Kernels with a side
    of 1 (1 x k, k x 1) are left out; ``skipped``, when given, receives "name (1x3)" for each (``skipped_note``)."""
    out = []
    known = True
    if hasattr(model, "conv_weights"):  # an imported model: its TorchScript convs are no nn.Conv2d
        weights = model.conv_weights()
        known = False  # (whether a loaded program's weights were trained is not in requires_grad)
    else:
        weights = {n: c.weight for n, c in (model.conv_layers() if hasattr(model, "conv_layers") else {}).items()}
    for name, weight in weights.items():
        if not spatial(weight):
            continue
        if too_thin(weight):
            if skipped is not None:
                skipped.append(f"{name} ({weight.shape[-2]}x{weight.shape[-1]})")
            continue
        trainable = bool(weight.requires_grad) if known else None
        out.append(stats(weight.detach().float().cpu().numpy(), name, trainable))
    return out
