"""The fitting maths of the data-dependent ``patches`` backbone (Coates & Ng 2011; Thiry et al. 2021), in torch.

- ``pad_same(x, size, stride)``: the padding the backbone uses (a map of H // stride rows for H divisible by stride);
- ``patch_matrix(x, size, stride)``: every patch of a batch as rows (N * L, C * size * size), channel-major, the order
  of a ``conv2d`` weight of shape (out, C, size, size);
- ``sample_patches(x, size, stride, n, seed)``: ``n`` patches drawn at seeded random images and positions;
- ``contrast_normalize(P, eps)``: each row minus its mean, divided by sqrt(its variance + eps) (biased variance,
  the same numbers the backbone computes with pooling);
- ``zca(P, eps)``: (W, mean) with W = U diag(1 / sqrt(lambda + eps * mean(lambda))) U^T (eps relative to the mean
  eigenvalue; 0 = no whitening: W = I, mean = 0);
- ``kmeans(X, k, ...)``: seeded mini-batch k-means (Sculley 2010) with a k-means++ start on a subsample; a task
  generator (``app.tasks.Progress``, cancel between steps) returning the (k, D) centroids;
- ``check_dim(channels, size)``: ``ModelError`` before anything is allocated when the D x D whitening (D = channels
  x size^2) is over ``app.kernels.generators.MAX_WHITEN_BYTES`` as a float64 covariance, the bound of the kernel
  generator's own ZCA (``FILTER_EXPLORER_LIMITS=off`` lifts it); ``zca`` checks its D the same way.

Everything is deterministic for a given seed and input (CPU float arithmetic).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from app.models.base import ModelError
from app.tasks import CancelToken, Progress, check

NORM_EPS = 0.01  # contrast normalisation: sqrt(var + eps), in the units of the normalised input (unit-variance pixels)


def check_dim(channels: int | None, size: int | None, d: int | None = None, limit: int | None = None) -> None:
    """Refuse (``ModelError``) patches of ``channels`` x ``size`` x ``size`` values (or ``d`` values when the two are
    not known) whose D x D whitening would take over ``limit`` bytes as a float64 covariance (None:
    ``MAX_WHITEN_BYTES``, the kernel generator's bound), naming its size and the largest patch size and channel count
    that fit; nothing is allocated. The backbone holds a D x D whitening matrix even with ``zca_eps`` = 0 (the
    identity), so that is no way out. ``FILTER_EXPLORER_LIMITS=off`` lifts it as it lifts every safety limit."""
    from app.data import limits
    from app.kernels.generators import whiten_excess
    from app.storage import human_size

    d = int(channels) * int(size) ** 2 if d is None else int(d)
    excess = whiten_excess(d, limit, channels, size)
    if excess is None:
        return
    need, limit, dmax, kmax, cmax = excess
    what, ways = f"{d:,} values per patch", []
    if kmax is not None:
        c, k = int(channels), int(size)
        what = f"{c} channel(s) x {k}x{k} patches ({d:,} values per patch)"
        ways = [f"a patch_size of at most {kmax} for {c} channel(s)"] if kmax >= 1 else []
        ways += [f"an input of at most {cmax} channel(s) at {k}x{k}"] if cmax >= 1 else []
    raise ModelError(
        f"patches: {what} need a {d:,} x {d:,} whitening matrix; its ZCA fit's float64 covariance takes "
        f"{human_size(need)} (and as much again for its eigenvectors and the whitening matrix), over the limit of "
        f"{human_size(limit)} ({dmax:,} values per patch); use {' or '.join(ways or ['smaller patches'])} (set "
        f"{limits.LIMITS_ENV}=off to lift the limit if you mean it)")


def pad_same(x: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """Zero padding so that a ``size`` x ``size`` window at ``stride`` gives ceil(H / stride) positions."""
    total = size - 1
    lo, hi = total // 2, total - total // 2
    return F.pad(x, (lo, hi, lo, hi)) if total > 0 else x


def out_size(hw, size: int, stride: int = 1, same: bool = True) -> tuple[int, int]:
    """The (rows, cols) of positions a ``size`` x ``size`` window at ``stride`` takes on an (H, W) image, padded by
    ``pad_same`` when ``same``."""
    pad = size - 1 if same else 0
    return tuple(max(0, (int(v) + pad - size) // stride + 1) for v in hw)


def patch_matrix(x: torch.Tensor, size: int, stride: int = 1) -> torch.Tensor:
    """(N, C, H, W) -> (N * L, C * size * size): every window as a row (no padding here)."""
    cols = F.unfold(x, (size, size), stride=stride)  # (N, D, L)
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def sample_patches(x: torch.Tensor, size: int, stride: int, n: int, seed: int) -> torch.Tensor:
    """``n`` patches (rows) of ``x`` (already padded as the backbone pads), at seeded random (image, position)
    pairs drawn with replacement."""
    N, C, H, W = x.shape
    rows = (H - size) // stride + 1
    cols = (W - size) // stride + 1
    if rows < 1 or cols < 1:
        raise ValueError(f"patches: a {size}x{size} patch does not fit images of {H}x{W}")
    g = torch.Generator().manual_seed(int(seed))
    img = torch.randint(0, N, (n,), generator=g)
    r = torch.randint(0, rows, (n,), generator=g) * stride
    c = torch.randint(0, cols, (n,), generator=g) * stride
    ar = torch.arange(size)
    dev = x.device
    # advanced indexing straight into the windows: (n, C, size, size), never a copy of whole images
    ii = img.view(n, 1, 1, 1).to(dev)
    cc = torch.arange(C).view(1, C, 1, 1).to(dev)
    rr = (r[:, None] + ar[None, :]).view(n, 1, size, 1).to(dev)
    kk = (c[:, None] + ar[None, :]).view(n, 1, 1, size).to(dev)
    return x[ii, cc, rr, kk].reshape(n, -1)


def contrast_normalize(P: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    m = P.mean(1, keepdim=True)
    v = (P * P).mean(1, keepdim=True) - m * m
    return (P - m) / torch.sqrt(v.clamp_min(0) + eps)


def zca(P: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, mean) of the rows of ``P`` (see the module doc); float64 maths, returned in ``P``'s dtype."""
    D = P.shape[1]
    check_dim(None, None, D)  # before the D x D matrices (the backbone checks its own size when it is made)
    if eps <= 0:
        return torch.eye(D, dtype=P.dtype, device=P.device), torch.zeros(D, dtype=P.dtype, device=P.device)
    X = P.double()
    m = X.mean(0)
    Xc = X - m
    cov = Xc.T @ Xc / max(1, len(X) - 1)
    ev, U = torch.linalg.eigh(cov)
    ev = ev.clamp_min(0)
    W = U @ torch.diag(1.0 / torch.sqrt(ev + float(eps) * float(ev.mean()) + 1e-12)) @ U.T
    return W.to(P.dtype), m.to(P.dtype)


def _assign(B: torch.Tensor, C: torch.Tensor, c2: torch.Tensor) -> torch.Tensor:
    """The nearest centroid of each row of ``B`` (|b|^2 is the same for every centroid: left out)."""
    return torch.addmm(c2[None, :], B, C.T, alpha=-2).argmin(1)


def kmeans_pp(X: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (Arthur & Vassilvitskii) of ``k`` centroids among the rows of ``X``."""
    n = len(X)
    x2 = (X * X).sum(1)
    idx = [int(torch.randint(0, n, (1,), generator=g))]
    d = (x2 - 2 * (X @ X[idx[0]]) + x2[idx[0]]).clamp_min_(0)
    for _ in range(1, k):
        cum = torch.cumsum(d.double(), 0)
        total = float(cum[-1])
        if total <= 0:  # fewer distinct points than k: a random row
            i = int(torch.randint(0, n, (1,), generator=g))
        else:  # a row drawn with probability proportional to its squared distance to the nearest centroid
            u = float(torch.rand(1, generator=g, dtype=torch.float64)) * total
            # the draw on the generator's (CPU) side, the search where the distances are (a CUDA cum beside a CPU
            # value stopped the patches backbone's fit on a GPU)
            u_t = torch.tensor([u], dtype=torch.float64, device=cum.device)
            i = min(n - 1, int(torch.searchsorted(cum, u_t, right=True)))
        idx.append(i)
        d = torch.minimum(d, (x2 - 2 * (X @ X[i]) + x2[i]).clamp_min_(0))
    return X[torch.tensor(idx, device=X.device)]


def kmeans(X: torch.Tensor, k: int, *, epochs: int = 10, batch: int = 4096, seed: int = 0, init_sample: int = 20000,
           cancel: CancelToken | None = None):
    """Task: seeded mini-batch k-means of the rows of ``X`` -> (k, D) centroids.

    Start: k-means++ on a seeded subsample of ``init_sample`` rows (at least k). Then ``epochs`` passes over ``X`` in
    seeded mini-batches; each centroid moves to the running mean of the rows assigned to it (per-centroid learning
    rate 1 / count). A centroid that no row chose during an epoch is moved to a random row."""
    n, D = X.shape
    if k < 1 or n < k:
        raise ValueError(f"k-means: need at least k={k} points, got {n}")
    g = torch.Generator().manual_seed(int(seed))
    sub = X[torch.randperm(n, generator=g)[:max(k, min(n, init_sample))].to(X.device)]
    C = kmeans_pp(sub, k, g).clone()
    counts = torch.zeros(k, dtype=X.dtype, device=X.device)
    steps = max(1, -(-n // batch))
    for ep in range(int(epochs)):
        order = torch.randperm(n, generator=g).to(X.device)
        hit = torch.zeros(k, dtype=torch.bool, device=X.device)
        for s in range(steps):
            check(cancel)
            B = X[order[s * batch:(s + 1) * batch]]
            a = _assign(B, C, (C * C).sum(1))
            o = torch.argsort(a)  # index_add_ over sorted indices: several times faster on CPU
            S = torch.zeros_like(C).index_add_(0, a[o], B[o])
            nb = torch.bincount(a, minlength=k).to(X.dtype)
            counts += nb
            hit |= nb > 0
            # rows no batch point chose: S = 0 and nb = 0, unchanged
            C += (S - nb[:, None] * C) / counts.clamp_min(1)[:, None]
        dead = (~hit).nonzero().flatten()
        if len(dead):
            C[dead] = X[torch.randint(0, n, (len(dead),), generator=g).to(X.device)]
            counts[dead] = 0
        yield Progress(ep + 1, int(epochs), f"k-means: epoch {ep + 1}/{epochs}")
    return C


FIT_BYTES = 768 * 2**20  # a data-dependent backbone is fitted on at most this many bytes of (float) training images


def fit_on_training(model: torch.nn.Module, train, ispec, seed: int, cancel: CancelToken | None = None):
    """Task: the fit hook of a data-dependent backbone (``model.needs_fit``, e.g. ``patches``): ``model.fit_steps`` on
    ``train``, the TRAINING split (after the validation split was carved off; never validation or test images), from a
    seeded subset of at most ``model.fit_images`` images (and ``FIT_BYTES`` of them as floats). The one home of the
    rule, for the probe (``app.probe.extract.fit_backbone``) and training (``app.models.train.fit_filters``) alike.
    Returns the number of images used."""
    import numpy as np

    from app.models.inputs import to_tensor

    per_image = max(1, int(np.prod(train.images.shape[1:])) * 4)  # float32 bytes of one image as the model sees it
    n = min(len(train), int(getattr(model, "fit_images", len(train))), max(1, FIT_BYTES // per_image))
    idx = np.sort(np.random.default_rng(int(seed)).choice(len(train), n, replace=False))
    dev = next(iter(model.buffers()), torch.zeros(0)).device
    yield from model.fit_steps(to_tensor(train.images[idx], ispec, dev), int(seed), cancel)
    return int(n)
