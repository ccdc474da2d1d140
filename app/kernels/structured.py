"""The structured kernel families of ``app.kernels.generators`` (registered there, in its listing order): the
channel rule of every fixed family (``_channels``), the DCT, Walsh-Hadamard and Haar bases, LoG and DoG at several
scales (``_sigmas``: the sizes and sigmas a family can hold, refused otherwise) and the classic presets. Import it
through ``app.kernels.generators`` (which imports this module part-way, where these kinds take their place)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from app.kernels.bank import KernelBankError
from app.kernels.generators import Param, _grid, _kind


CHANNELS_NOTE = ("with --in-channels c above 1, the structured and classic kinds (gabor, dct, walsh-hadamard, haar, "
                 "log, dog, classic) put the same 2-D pattern on every channel, scaled 1/c: a DCT kernel then has "
                 "norm 1/sqrt(c) (orthogonal, not orthonormal; --unit-norm rescales it) and identity is 1/c per "
                 "channel, so a grey image repeated on c channels gives the 1-channel response")


def _channels(k2: np.ndarray, c: int) -> np.ndarray:
    """(n, k, k) single-channel kernels -> (n, c, k, k): the same pattern on every input channel, scaled 1/c
    (``CHANNELS_NOTE``, which ``kernels kinds`` prints)."""
    return np.repeat(k2[:, None], c, axis=1) / c


def _zigzag(n_u: int, n_v: int, key=None) -> list[tuple[int, int]]:
    pairs = [(u, v) for u in range(n_u) for v in range(n_v)]
    return sorted(pairs, key=key or (lambda p: (p[0] + p[1], p[0] if (p[0] + p[1]) % 2 else p[1])))


@_kind("dct", "DCT basis", "2-D DCT-II basis functions, lowest frequencies first (JPEG's basis)",
       structured=True, random=False)
def _dct(rng, n, c, k):
    i = np.arange(k)
    basis = np.stack([np.cos(np.pi * (2 * i + 1) * u / (2 * k)) * (math.sqrt(1 / k) if u == 0 else math.sqrt(2 / k))
                      for u in range(k)])
    out = [np.outer(basis[u], basis[v]) for u, v in _zigzag(k, k)]
    return _channels(np.stack(out)[:n], c)


def _pow2(k: int) -> int:
    return 1 << max(0, (k - 1).bit_length())


def _sample(rows: np.ndarray, k: int) -> np.ndarray:
    """Resample 1-D functions defined on a power-of-two grid to k points (exact when k is that power of two)."""
    m = rows.shape[1]
    idx = np.floor((np.arange(k) + 0.5) * m / k).astype(int)
    return rows[:, idx]


def _sequency_hadamard(m: int) -> np.ndarray:
    h = np.array([[1.0]])
    while h.shape[0] < m:
        h = np.block([[h, h], [h, -h]])
    changes = (np.diff(np.sign(h), axis=1) != 0).sum(1)
    return h[np.argsort(changes, kind="stable")]


@_kind("walsh-hadamard", "Walsh-Hadamard", "+-1 Walsh functions in sequency order (orthonormal at sizes 1, 2, 4, "
       "8; other sizes are resampled: not orthonormal)",
       structured=True, random=False)
def _walsh(rng, n, c, k):
    w = _sample(_sequency_hadamard(_pow2(k)), k)
    m = w.shape[0]
    out = [np.outer(w[u], w[v]) for u, v in _zigzag(m, m)]
    out = _unique(out)
    return _channels(np.stack(out)[:n], c) / k


def _haar_1d(m: int) -> tuple[np.ndarray, list[int]]:
    rows, levels = [np.ones(m)], [0]
    size, level = m, 1
    while size >= 2:
        half = size // 2
        for start in range(0, m, size):
            r = np.zeros(m)
            r[start:start + half] = 1
            r[start + half:start + size] = -1
            rows.append(r)
            levels.append(level)
        size, level = half, level + 1
    return np.stack(rows), levels


@_kind("haar", "Haar wavelets", "2-D separable Haar wavelets, coarse to fine (box differences; orthogonal at sizes "
       "1, 2, 4, 8; other sizes are resampled: not orthonormal, and not all zero-sum)",
       structured=True, random=False)
def _haar(rng, n, c, k):
    h, levels = _haar_1d(_pow2(k))
    h = _sample(h, k)
    m = h.shape[0]
    pairs = sorted(((u, v) for u in range(m) for v in range(m)), key=lambda p: (max(levels[p[0]], levels[p[1]]), p))
    out = _unique([np.outer(h[u], h[v]) for u, v in pairs])
    return _channels(np.stack(out)[:n], c) / k


def _unique(kernels: list[np.ndarray]) -> list[np.ndarray]:
    seen, out = set(), []
    for kk in kernels:
        key = np.round(kk, 9).tobytes()
        if key not in seen and np.any(kk != 0):
            seen.add(key)
            out.append(kk)
    return out


def _sigmas(kind: str, n: int, k: int, lo: float, hi: float) -> list[float]:
    """``n`` sigmas from ``lo`` to ``hi`` (0: size / 4), geometric. Refused, with the limit named: a size below 3 (every
    pixel of a 1x1 or 2x2 kernel is as far from the centre: the kernels are all zero), a sigma above size / 4 (it was
    clamped to it unseen) and a count whose kernels would all be the same (sigma_min = sigma_max)."""
    if k < 3:
        raise KernelBankError(f"{kind}: a {k}x{k} kernel is all zero (every pixel is as far from the centre); use "
                              f"size 3 or more")
    limit = k / 4.0
    for name, v in (("sigma_min", lo), ("sigma_max", hi)):
        if v > limit:
            raise KernelBankError(f"{kind}: {name} {v:g} is above size / 4 = {limit:g}, the largest sigma a {k}x{k} "
                                  f"kernel holds; give {name} {limit:g} or less, or a larger size")
    hi = hi if hi > 0 else limit
    if hi < lo:
        raise KernelBankError(f"{kind}: sigma_max {hi:g} is below sigma_min {lo:g}")
    if n > 1 and hi == lo:
        raise KernelBankError(f"{kind}: sigma_min = sigma_max = {lo:g} (at size {k}, sigma_max 0 means size / 4) "
                              f"makes {n} identical kernels; give count 1, or a smaller sigma_min")
    return [lo] if n == 1 else [float(v) for v in np.geomspace(lo, hi, n)]


@_kind("log", "Laplacian of Gaussian", "blob detectors (the LoG itself: a negative centre, a positive surround) at "
       "scales from sigma-min to sigma-max (size 3 or more, sigmas up to size / 4)",
       [Param("sigma_min", 0.8, "smallest sigma in pixels (at most size / 4)", 0.3, 10.0),
        Param("sigma_max", 0.0, "largest sigma (0: size / 4, its largest value)", 0.0, 10.0)], random=False)
def _log(rng, n, c, k, sigma_min=0.8, sigma_max=0.0):
    x, y = _grid(k)
    r2 = x ** 2 + y ** 2
    out = []
    sigmas = _sigmas("log", n, k, float(sigma_min), float(sigma_max))
    for s in sigmas:
        g = -(1 - r2 / (2 * s * s)) * np.exp(-r2 / (2 * s * s)) / (np.pi * s ** 4)
        out.append(g - g.mean())
    return _channels(np.stack(out), c), {"sigmas": [round(s, 6) for s in sigmas]}


@_kind("dog", "Difference of Gaussians", "centre-surround (retina-like) DoG at several scales, ratio 1.6 (size 3 or "
       "more, sigmas up to size / 4)",
       [Param("sigma_min", 0.8, "smallest centre sigma in pixels (at most size / 4)", 0.3, 10.0),
        Param("sigma_max", 0.0, "largest centre sigma (0: size / 4, its largest value)", 0.0, 10.0),
        Param("ratio", 1.6, "surround sigma / centre sigma", 1.05, 5.0)], random=False)
def _dog(rng, n, c, k, sigma_min=0.8, sigma_max=0.0, ratio=1.6):
    x, y = _grid(k)
    r2 = x ** 2 + y ** 2
    out = []
    sigmas = _sigmas("dog", n, k, float(sigma_min), float(sigma_max))
    for s in sigmas:
        g1 = np.exp(-r2 / (2 * s * s))
        s2 = s * float(ratio)
        g2 = np.exp(-r2 / (2 * s2 * s2))
        out.append(g1 / g1.sum() - g2 / g2.sum())
    return _channels(np.stack(out), c), {"sigmas": [round(s, 6) for s in sigmas]}


def gaussian_blur(k: int, sigma: float | None = None) -> np.ndarray:
    x, y = _grid(k)
    sigma = sigma or max(k / 6.0, 0.5)
    g = np.exp(-(x ** 2 + y ** 2) / (2 * sigma * sigma))
    return g / g.sum()


def _embed(small: np.ndarray, k: int) -> np.ndarray:
    """Centre a small kernel in k x k (zero padding), or crop its centre when k is smaller."""
    s = small.shape[0]
    out = np.zeros((k, k))
    if k >= s:
        a = (k - s) // 2
        out[a:a + s, a:a + s] = small
    else:
        a = (s - k) // 2
        out[:] = small[a:a + k, a:a + k]
    return out


CLASSIC_MIN_SIZE = 3  # the stencils are 3x3
CLASSIC: dict[str, Callable[[int], np.ndarray]] = {
    "identity": lambda k: _embed(np.array([[1.0]]), k),
    "box blur": lambda k: np.full((k, k), 1.0 / (k * k)),
    "gaussian blur": lambda k: gaussian_blur(k),
    "sharpen": lambda k: _embed(np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float), k),
    "sobel x": lambda k: _embed(np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float), k),
    "sobel y": lambda k: _embed(np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], float), k),
    "scharr x": lambda k: _embed(np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], float), k),
    "scharr y": lambda k: _embed(np.array([[-3, -10, -3], [0, 0, 0], [3, 10, 3]], float), k),
    "prewitt x": lambda k: _embed(np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], float), k),
    "prewitt y": lambda k: _embed(np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], float), k),
    "laplacian": lambda k: _embed(np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float), k),
    "emboss": lambda k: _embed(np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], float), k),
}


@_kind("classic", "Classic presets", "identity, box/Gaussian blur, sharpen, Sobel, Scharr, Prewitt, Laplacian, emboss "
       "(3x3 ones centred in larger kernels; size 3 or more)", structured=True, random=False)
def _classic(rng, n, c, k):
    if k < CLASSIC_MIN_SIZE:  # cropped to 1x1 / 2x2 the stencils are zero or lopsided (sobel x: [[-1, 0], [-2, 0]])
        raise KernelBankError(f"classic: the presets are 3x3 stencils (identity, sharpen, Sobel ...): a {k}x{k} kernel "
                              f"would crop them; use size {CLASSIC_MIN_SIZE} or more")
    return _channels(np.stack([f(k) for f in CLASSIC.values()])[:n], c)
