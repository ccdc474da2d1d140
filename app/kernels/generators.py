"""Kernel bank generators: random, structured, classic and data-dependent. Every one is seeded and reproducible.

``generate(kind, count, size, in_channels=1, seed=0, zero_mean=False, unit_norm=False, **params)`` -> KernelBank.
``KINDS`` maps each kind to a ``Kind`` (one-line description, parameters with defaults and help).
Random generators use ``numpy.random.default_rng(seed)`` only, so the same arguments give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from app.kernels.bank import MAX_SIZE, KernelBank, KernelBankError
from app.kernels.post import check_distinct as _check_distinct, check_post as _check_post, postprocess  # noqa: F401
from app.kernels.post import redraw_flat


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    type: type | None = None  # int, float or str; None: the default's type

    @property
    def kind(self) -> type:
        return self.type or type(self.default)

    def coerce(self, value: Any, where: str) -> Any:
        """``value`` as this parameter's type, checked against its range; KernelBankError naming it otherwise."""
        kind = self.kind
        label = f"{where}: {self.name}"
        if kind is str:
            if not isinstance(value, str):
                raise KernelBankError(f"{label} must be text (got {value!r})")
            if self.choices and value not in self.choices:
                raise KernelBankError(f"{label} must be one of {', '.join(self.choices)} (got {value!r})")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = "an integer" if kind is int else "a number"
            raise KernelBankError(f"{label} must be {what} (got {value!r})")
        if not math.isfinite(float(value)):
            raise KernelBankError(f"{label} must be a finite number (got {value!r})")
        if kind is int:
            if float(value) != int(value):
                raise KernelBankError(f"{label} must be an integer (got {value!r})")
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and self.maximum is not None and not self.minimum <= value <= self.maximum:
            raise KernelBankError(f"{label} must be in {self.minimum:g}..{self.maximum:g} (got {value!r})")
        return value


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    description: str
    func: Callable[..., np.ndarray]
    params: tuple[Param, ...] = field(default=())
    structured: bool = False  # count is a cap on a fixed family (DCT, Hadamard, classic ...)
    random: bool = True


KINDS: dict[str, Kind] = {}


def _kind(name, title, description, params=(), structured=False, random=True):
    def deco(fn):
        KINDS[name] = Kind(name, title, description, fn, tuple(params), structured, random)
        return fn

    return deco


def kinds() -> list[Kind]:
    return list(KINDS.values())


def _fan_in(in_ch: int, k: int) -> int:
    return in_ch * k * k


# --- random ---------------------------------------------------------------------------------------------------
@_kind("kaiming-normal", "Kaiming normal", "He et al. 2015: N(0, 2/fan_in), the default for ReLU nets")
def _kaiming_normal(rng, n, c, k):
    return rng.standard_normal((n, c, k, k)) * math.sqrt(2.0 / _fan_in(c, k))


@_kind("kaiming-uniform", "Kaiming uniform", "He et al. 2015: U(-b, b), b = sqrt(6/fan_in)")
def _kaiming_uniform(rng, n, c, k):
    b = math.sqrt(6.0 / _fan_in(c, k))
    return rng.uniform(-b, b, (n, c, k, k))


@_kind("gaussian", "Gaussian", "i.i.d. N(0, std^2) with the standard deviation you choose",
       [Param("std", 0.1, "standard deviation", 1e-6, 100.0)])
def _gaussian(rng, n, c, k, std=0.1):
    return rng.standard_normal((n, c, k, k)) * float(std)


@_kind("uniform", "Uniform", "i.i.d. U(-limit, +limit)", [Param("limit", 0.1, "half-width of the interval", 1e-6, 100.0)])
def _uniform(rng, n, c, k, limit=0.1):
    return rng.uniform(-float(limit), float(limit), (n, c, k, k))


@_kind("rademacher", "Rademacher", "random signs +-1/sqrt(fan_in) (binary random features)")
def _rademacher(rng, n, c, k):
    return (rng.integers(0, 2, (n, c, k, k)) * 2 - 1) / math.sqrt(_fan_in(c, k))


@_kind("sparse-ternary", "Sparse ternary", "values in {-1, 0, +1} with a chosen density of non-zeros (Achlioptas)",
       [Param("density", 0.33, "fraction of non-zero weights", 0.01, 1.0)])
def _sparse_ternary(rng, n, c, k, density=0.33):
    d = float(density)
    nz = rng.random((n, c, k, k)) < d
    signs = rng.integers(0, 2, (n, c, k, k)) * 2 - 1
    return nz * signs / math.sqrt(max(d * _fan_in(c, k), 1e-12))


@_kind("orthogonal", "Orthogonal", "Saxe et al. 2014: rows (or columns) of a random orthogonal matrix",
       [Param("gain", 1.0, "scale of the orthogonal matrix", 1e-6, 100.0)])
def _orthogonal(rng, n, c, k, gain=1.0):
    rows, cols = n, _fan_in(c, k)
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))  # make it uniform over the orthogonal group
    if rows < cols:
        q = q.T
    return float(gain) * q[:rows, :cols].reshape(n, c, k, k)


# --- structured -----------------------------------------------------------------------------------------------
def _grid(k: int) -> tuple[np.ndarray, np.ndarray]:
    r = (k - 1) / 2.0
    y, x = np.mgrid[0:k, 0:k].astype(np.float64)
    return x - r, y - r


GABOR_SIGMA_PER_WAVELENGTH = 0.56  # the envelope's sigma, a bandwidth of about one octave


def gabor_kernel(k: int, theta: float, wavelength: float, phase: float, sigma: float | None = None,
                 gamma: float = 0.5) -> np.ndarray:
    """A k x k Gabor: cos carrier of the given wavelength along direction theta, Gaussian envelope (sigma: 0.56 x
    the wavelength unless given). ``phase`` pi / 2 gives cos(x + pi / 2) = -sin(x): the odd Gabor is -sin."""
    x, y = _grid(k)
    sigma = GABOR_SIGMA_PER_WAVELENGTH * wavelength if sigma is None else sigma
    xr = x * np.cos(theta) + y * np.sin(theta)
    yr = -x * np.sin(theta) + y * np.cos(theta)
    env = np.exp(-(xr ** 2 + (gamma * yr) ** 2) / (2 * sigma ** 2))
    return env * np.cos(2 * np.pi * xr / wavelength + phase)


@_kind("gabor", "Gabor bank", "orientations x scales x phases of Gabor filters (V1-like edge and bar detectors; "
       "size 3 or more)",
       [Param("orientations", 0, "number of orientations (0: enough to fill the count; a number you give must make "
                                 "at least the count with scales x phases)", 0, 64),
        Param("scales", 2, "number of wavelengths, from 4 px up to the kernel size (2.5 to 4 px at sizes 3 and 4)",
              1, 8),
        Param("phases", 1, "1: even (cos) only; 2: even (cos) and odd (-sin, a phase of 90 degrees); 3: 0, 90, 180 "
                           "degrees; 4: 0, 90, 180, 270 degrees (phase p: cos(x + p))", 1, 4),
        Param("gamma", 0.5, "aspect ratio of the envelope", 0.1, 2.0)],
       structured=True, random=False)
def _gabor(rng, n, c, k, orientations=0, scales=2, phases=1, gamma=0.5):
    """Wavelengths ``geomspace(4, k, scales)`` (one scale: 4 px); at k = 3 or 4 there is no room for 4..k, so several
    scales go from 2.5 to 4 px (they were all 4 px: identical kernels). Loops: scale, then phase, then orientation;
    an ``orientations`` given must fill the count (a smaller product would drop whole scales or orientations
    unseen); 0 takes enough, and then the last scale may have fewer kernels (``meta["used"]`` says which, and lists
    the envelopes' sigmas, 0.56 x each wavelength). The carrier is cos(x + phase): the odd phase (90 degrees) is
    -sin."""
    if k < 3:
        raise KernelBankError(f"gabor: a {k}x{k} kernel has no room for a carrier and an envelope (its kernels are "
                              f"zero or repeats); use size 3 or more")
    scales, phases = max(1, int(scales)), max(1, int(phases))
    given = int(orientations)
    if given and n < given * scales * phases:
        raise KernelBankError(f"gabor: orientations={given} x scales={scales} x phases={phases} make "
                              f"{given * scales * phases} kernels but the count is {n}: the rest would be dropped; "
                              f"give count {given * scales * phases}, fewer orientations, or orientations=0 (enough "
                              f"for the count)")
    orientations = given or max(1, math.ceil(n / (scales * phases)))
    lo, hi = (4.0, float(k)) if k > 4 else (2.5, 4.0)
    wavelengths = [4.0] if scales == 1 else [float(v) for v in np.geomspace(lo, hi, scales)]
    phase_list = [0.0, np.pi / 2, np.pi, 3 * np.pi / 2][:phases]
    out = []
    for wl in wavelengths:
        for ph in phase_list:
            for o in range(orientations):
                g = gabor_kernel(k, np.pi * o / orientations, wl, ph, gamma=float(gamma))
                g = g - g.mean() if ph in (0.0, np.pi) else g  # even Gabors carry a DC term
                out.append(g)
    used = {"orientations": orientations, "wavelengths": [round(v, 6) for v in wavelengths],
            "sigmas": [round(GABOR_SIGMA_PER_WAVELENGTH * v, 6) for v in wavelengths], "phases": phases}
    if n < len(out):
        used["kept"] = f"the first {n} of {len(out)} (by scale, then phase, then orientation)"
    return _channels(np.stack(out)[:n], c), used


# the structured families (DCT, Walsh-Hadamard, Haar, LoG, DoG, classic presets): a module of their own, registered
# here, in this order (the kinds' listing order)
from app.kernels.structured import (  # noqa: E402, F401  (after the names it imports from here; offered here too)
    CHANNELS_NOTE, CLASSIC, CLASSIC_MIN_SIZE, _channels)


CN_EPS = 10.0 / 255.0 ** 2  # Coates & Ng's 10 (on 0..255 pixels) on [0, 1] pixels
FLAT_STD = 1.0 / 255.0  # a patch whose pixels' std is at most one grey level is flat (not drawn as a kernel)
FLAT_DRAWS = 20  # pools drawn before a dataset is said to have too few patches that are not flat (3 if none is)
# the ZCA whitening's D x D float64 covariance (D = channels x size^2 values per patch), before anything is allocated:
# its eigenvectors and the whitening matrix take as much again each (64 channels x 15x15 would be 3 x 1.5 GB)
MAX_WHITEN_BYTES = 256 * 1024 ** 2
MAX_WHITEN_DIM = math.isqrt(MAX_WHITEN_BYTES // 8)  # 5,792 values per patch


def whiten_excess(d: int, limit: int | None = None, channels: int | None = None, size: int | None = None):
    """None when the float64 covariance of ``d`` values per patch fits in ``limit`` bytes (None: ``MAX_WHITEN_BYTES``)
    or the safety limits are off (``FILTER_EXPLORER_LIMITS=off``, ``app.data.limits``); else ``(need, limit, dmax,
    kmax, cmax)``: the bytes it needs, the limit, the most values per patch that fit, and, for ``channels`` x
    ``size`` x ``size`` patches, the largest size at those channels and the most channels at that size (None when
    not known). One rule for the kernel generator (``check_whiten``) and the patches backbone
    (``app.models.patch_fit.check_dim``)."""
    from app.data import limits

    limit = MAX_WHITEN_BYTES if limit is None else int(limit)
    need = int(d) * int(d) * 8
    if need <= limit or not limits.enabled():
        return None
    dmax = math.isqrt(limit // 8)
    known = channels is not None and size is not None
    kmax = math.isqrt(dmax // int(channels)) if known else None
    cmax = dmax // (int(size) * int(size)) if known else None
    return need, limit, dmax, kmax, cmax


def check_whiten(c: int, k: int, limit: int | None = None) -> None:
    """Refuse (``KernelBankError``) a ZCA whitening whose covariance of ``c`` x ``k`` x ``k`` patches would be over
    ``limit`` bytes (None: ``MAX_WHITEN_BYTES``), naming its size and how to make it smaller; nothing is allocated.
    ``FILTER_EXPLORER_LIMITS=off`` lifts it as it lifts every safety limit (``app.data.limits``)."""
    from app.data import limits
    from app.storage import human_size

    d = int(c) * int(k) * int(k)
    excess = whiten_excess(d, limit, c, k)
    if excess is None:
        return
    need, limit, dmax, kmax, cmax = excess
    ways = [f"smaller patches (a kernel size of at most {kmax} for {c} channel(s))"] if kmax >= 1 else []
    ways += [f"fewer channels (at most {cmax} in-channel(s) at {k}x{k})"] if cmax >= 1 else []
    raise KernelBankError(
        f"patches: ZCA whitening of {c} channel(s) x {k}x{k} patches needs a {d:,} x {d:,} float64 covariance "
        f"({human_size(need)}, and as much again for its eigenvectors and the whitening matrix), over the limit of "
        f"{human_size(limit)} ({dmax:,} values per patch); use {' or '.join(ways + ['whiten=0'])} (set "
        f"{limits.LIMITS_ENV}=off to lift the limit if you mean it)")


def zca_whiten(flat: np.ndarray, eps: float = 0.1) -> np.ndarray:
    """Coates & Ng's ZCA whitening of patches (rows): W (x - M), W = U diag(1 / sqrt(lambda + eps)) U^T of their
    covariance, M their mean patch (it was left out: every kernel carried the same offset W M, on digits 5x5 of
    norm 0.92 against kernels of norm 4.4)."""
    mu = flat.mean(0)
    evals, evecs = np.linalg.eigh(np.cov(flat, rowvar=False))
    return (flat - mu) @ (evecs @ np.diag(1.0 / np.sqrt(np.maximum(evals, 0) + eps)) @ evecs.T)


@_kind("patches", "Random dataset patches", "Coates & Ng 2011: random k x k patches of a dataset (flat ones "
       "skipped), contrast-normalised and optionally ZCA-whitened (the data-dependent baseline)",
       [Param("dataset", "digits", "dataset name for app.data.load (digits works offline; mnist; imagefolder:PATH)"),
        Param("whiten", 1, "1: ZCA-whiten the patches; 0: no whitening", 0, 1)])
def _patches(rng, n, c, k, dataset="digits", whiten=1):
    """Pixels scaled to [0, 1]. Channels when the data's ``ch`` differ from ``c``: grey -> the same patch on every
    channel (scaled 1/c); RGB -> luminance for c = 1; otherwise each patch keeps its own channels: its first ``c``
    when c < ch, its ``ch`` channels tiled (0, 1, 2, 0, 1, ...) when c > ch.
    Contrast normalisation as Coates & Ng 2011: sqrt(var + 10) on 0..255 pixels, i.e. ``CN_EPS`` = 10 / 255^2 on
    these [0, 1] pixels (it was 10 / 255, 255 times theirs). The ``patches`` backbone's own ``NORM_EPS``
    (``app.models.patch_fit``) is 0.01 on pixels standardised by the dataset's mean and std, another unit: its
    numbers are not changed here. A whitening covariance over ``MAX_WHITEN_BYTES`` is refused up front
    (``check_whiten``). Flat patches (pixel std at most ``FLAT_STD``) are not drawn: contrast normalisation leaves
    them all zero; how many were skipped is the meta's ``used`` ``flat_patches_skipped``. Used as a convolution's
    filters on raw images, a whitened patch c responds c . W x (W symmetric): Coates' response c . W (x - M) of
    normalised patches x up to a per-filter offset, without each patch's contrast normalisation (the ``patches``
    backbone, ``app.models.patches``, computes the whole pipeline)."""
    from app.data import load

    if int(whiten):
        check_whiten(c, k)
    try:
        ds = load(str(dataset), "train")
    except Exception as exc:  # DatasetError, missing folder ...
        raise KernelBankError(f"cannot load dataset {dataset!r}: {exc}") from exc
    imgs = ds.images
    nimg, h, w, ch = imgs.shape
    if h < k or w < k:
        raise KernelBankError(f"kernel size {k} is larger than the {dataset} images ({h}x{w})")
    pool = max(n * 20, 2000) if int(whiten) else n
    kept, skipped, drawn = [], 0, 0
    while sum(len(q) for q in kept) < pool and drawn < FLAT_DRAWS * pool and (skipped < 3 * pool or drawn > skipped):
        ii = rng.integers(0, nimg, pool)
        ys = rng.integers(0, h - k + 1, pool)
        xs = rng.integers(0, w - k + 1, pool)
        p = np.stack([imgs[i, y:y + k, x:x + k, :] for i, y, x in zip(ii, ys, xs)]).astype(np.float64) / 255.0
        p = p.transpose(0, 3, 1, 2)  # (pool, ch, k, k)
        if ch != c:  # grey -> replicate; colour -> luminance; other -> its first c channels, or its own ones tiled
            if ch == 1:
                p = np.repeat(p, c, axis=1) / c
            elif ch == 3 and c == 1:
                p = (0.299 * p[:, 0] + 0.587 * p[:, 1] + 0.114 * p[:, 2])[:, None]
            else:  # each patch's own channels (np.resize refilled them from the next patches)
                p = p[:, [i % ch for i in range(c)]]
        # a flat patch (MNIST's black border: 118 of 256 5x5 ones) is all zero once contrast-normalised, a dead
        # kernel in the bank: left out, and more drawn
        ok = p.reshape(pool, -1).std(1) > FLAT_STD
        kept.append(p[ok])
        skipped += int((~ok).sum())
        drawn += pool
    p = np.concatenate(kept)[:pool]
    if len(p) < pool:
        raise KernelBankError(f"{dataset}: only {len(p)} of {drawn:,} random {k}x{k} patches are not flat (every "
                              f"pixel within one grey level); {pool:,} are needed: use a larger size or another "
                              f"dataset")
    flat = p.reshape(pool, -1)
    flat = flat - flat.mean(1, keepdims=True)
    flat = flat / np.sqrt(flat.var(1, keepdims=True) + CN_EPS)  # Coates & Ng contrast normalisation
    if int(whiten) and flat.shape[1] > 1:
        flat = zca_whiten(flat)
    w = flat[:n].reshape(n, c, k, k)
    return (w, {"flat_patches_skipped": skipped}) if skipped else w


def _call(spec: Kind, rng, n: int, c: int, k: int, **values: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """A generator's kernels and what it used (``meta["used"]``: sigmas, wavelengths ...; most return kernels only)."""
    out = spec.func(rng, n, c, k, **values)
    w, used = out if isinstance(out, tuple) else (out, {})
    return np.asarray(w, dtype=np.float64), used


REDRAW_TRIES = 64  # draws of a random kind's flat kernels before zero mean is refused (``redraw_flat``)


def available(kind: str, size: int, in_channels: int = 1) -> int | None:
    """How many kernels a structured kind has at this size (None: unlimited; 0: none, the size is too small)."""
    k = KINDS[kind]
    if not k.structured or kind == "gabor":
        return None
    if kind == "classic":
        return len(CLASSIC) if size >= CLASSIC_MIN_SIZE else 0
    return int(_call(k, None, 10 ** 6, in_channels, size)[0].shape[0])


def generate(kind: str, count: int, size: int, in_channels: int = 1, seed: int = 0, zero_mean: bool = False,
             unit_norm: bool = False, name: str | None = None, **params: Any) -> KernelBank:
    if kind not in KINDS:
        raise KernelBankError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
    spec = KINDS[kind]
    for label, v in (("count", count), ("size", size), ("in-channels", in_channels), ("seed", seed)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise KernelBankError(f"{label} must be an integer; got {v!r}")
    count, size, in_channels, seed = int(count), int(size), int(in_channels), int(seed)
    if not 0 <= seed < 2**63:
        raise KernelBankError(f"seed must be 0 or more (and below 2^63); got {seed}")
    if not 1 <= size <= MAX_SIZE:
        raise KernelBankError(f"kernel size must be 1..{MAX_SIZE}; got {size}")
    if not 1 <= count <= 1024:
        raise KernelBankError(f"count must be 1..1024; got {count}")
    if not 1 <= in_channels <= 64:
        raise KernelBankError(f"in-channels must be 1..64; got {in_channels}")
    known = {p.name: p for p in spec.params}
    for key in params:
        if key not in known:
            raise KernelBankError(f"{kind} has no parameter {key!r}; it takes: {', '.join(known) or 'none'}")
    values = {p.name: p.coerce(params[p.name], kind) if p.name in params else p.default for p in spec.params}
    rng = np.random.default_rng(seed)
    w, used = _call(spec, rng, count, in_channels, size, **values)
    if w.shape[0] < count:
        raise KernelBankError(f"{spec.title} has only {w.shape[0]} kernels of size {size}x{size}; "
                              f"asked for {count}")
    if not spec.random:
        _check_distinct(spec, w)
    redrawn = 0
    if spec.random and zero_mean:
        w, redrawn = redraw_flat(spec, lambda m: _call(spec, rng, m, in_channels, size, **values)[0], w, REDRAW_TRIES)
    post = postprocess(w, zero_mean, unit_norm)
    if spec.random and not np.round(post, 9).any():  # random patches of one pixel: contrast normalisation empties them
        raise KernelBankError(f"{spec.name}: every kernel is all zero at size {size}x{size} with {in_channels} "
                              f"in-channel{'s' if in_channels > 1 else ''}; use a larger size")
    if not spec.random and (zero_mean or unit_norm):  # checked as they will be stored, not only as generated
        _check_post(spec, w, post, zero_mean, unit_norm)
    w = post.astype(np.float32)
    meta = {"generator": kind, "params": {k: (v if isinstance(v, (str, int, float)) else str(v))
                                           for k, v in values.items()},
            "seed": seed, "zero_mean": bool(zero_mean), "unit_norm": bool(unit_norm)}
    if used:
        meta["used"] = used
    if redrawn:
        meta["redrawn"] = redrawn
    return KernelBank(w, None, name or f"{kind} {count}x{in_channels}x{size}x{size}", meta)
