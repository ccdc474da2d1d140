"""Ridge head: least squares on one-vs-all targets (+1 / -1), closed form, float64 Cholesky.

    min_W ||A W - (Y - mean(Y))||^2 + alpha ||W||^2      (A: centred training features; intercept = mean(Y))

the objective of scikit-learn's ``Ridge(alpha, fit_intercept=True)`` on the training features: the columns of A are
centred (so the unpenalised intercept is the target mean), and divided by their standard deviation unless
``standardize`` is false. With ``standardize`` false A is still centred, with the training mean and scale 1: setting
the intercept to mean(Y) is optimal only for centred columns (uncentred, the raw digits pixels missed the objective,
1646.39 against scikit-learn's 1643.13 at alpha 1, test scores up to 0.1 apart; 1.9 apart on 40 rows, the dual).
The scores are computed with the same centring (``ridge_scores``); the fitted state (``ridge_state``) is in the
coordinates of ``headcore.standardizer`` (raw features when ``standardize`` is false: intercept
mean(Y) - centre . W), as every other head's. Solved in the primal (d x d Gram matrix) or the dual
(n x n kernel, the extreme-learning-machine form; ``W = A^T (K + alpha I)^-1 Y``), whichever is smaller. The system
is built once (``ridge_system``) and solved for any number of alphas (``ridge_weights``): a sweep over alpha costs one
Gram matrix and one Cholesky factorisation per alpha.

The matrix is summed in float64 from float32 products, so it is positive semi-definite only up to float32 rounding;
the dual kernel of centred features is exactly singular (the ones vector is in its null space). Where rounding leaves
an eigenvalue below -alpha, Cholesky fails ("the leading minor of order 480 is not positive-definite": a
600-image probe of the digits with the smallest alpha of the sweep, on an AVX-512 machine). Then the system is solved
through its eigendecomposition with the eigenvalues clamped at zero: the nearest positive semi-definite matrix, equal
to the float32 sum within its rounding (``_eigen_solve``, computed once per system).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from app.probe.config import CurvePoint
from app.probe.headcore import ROW_CHUNK, HeadResult, accuracy, standardizer, stop_report, to_device
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class RidgeSystem:
    form: str  # "primal" | "dual"
    M: torch.Tensor  # float64 Gram (d x d) or kernel (n x n)
    R: torch.Tensor  # float64 right-hand side: A^T Yc (d x C) or Yc (n x C)
    A: torch.Tensor | None  # float32 centred (standardised) training features (dual only)
    mean: np.ndarray  # the centre of the columns: the training mean (whether or not they are standardised)
    inv: np.ndarray  # 1 / std of the columns (ones when ``standardize`` is false)
    ymean: np.ndarray
    standardized: bool = True  # ``standardize`` of the options: the coordinates of the state (``ridge_state``)
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # "eigh": (eigenvalues >= 0, eigenvectors)


def ridge_system(Xtr, ytr, n_classes: int, opts: dict, device="cpu", cancel: CancelToken | None = None):
    """Task returning the ``RidgeSystem`` of the training features (centred, and standardised unless
    ``standardize`` is false, with their own statistics)."""
    standardized = bool(opts.get("standardize", True))
    mean, inv = standardizer(Xtr, standardized)
    if not standardized:  # centred all the same (scale 1): the intercept mean(Y) is optimal only then
        mean = column_mean(Xtr)
    n, d = Xtr.shape
    ytr = np.asarray(ytr, dtype=np.int64)
    Y = -np.ones((n, n_classes), np.float64)
    Y[np.arange(n), ytr] = 1.0
    ymean = Y.mean(0)
    Yc = torch.from_numpy(Y - ymean).to(device)
    form = "primal" if d <= n else "dual"
    steps = math.ceil(n / ROW_CHUNK)
    yield Progress(0, steps + 1, f"ridge ({form}, d={d}, n={n}): accumulating")
    if form == "primal":
        G = torch.zeros(d, d, dtype=torch.float64, device=device)
        R = torch.zeros(d, n_classes, dtype=torch.float64, device=device)
        m = torch.from_numpy(mean).to(device)
        s = torch.from_numpy(inv).to(device)
        for k, i in enumerate(range(0, n, ROW_CHUNK)):
            check(cancel)
            c = (torch.from_numpy(np.array(Xtr[i:i + ROW_CHUNK], dtype=np.float32)).to(device) - m) * s
            G += (c.T @ c).double()
            R += c.double().T @ Yc[i:i + len(c)]
            yield Progress(k + 1, steps + 1, f"ridge (primal): {min(n, i + ROW_CHUNK)}/{n} rows")
        return RidgeSystem(form, G, R, None, mean, inv, ymean, standardized)
    A = to_device(Xtr, mean, inv, device)
    K = torch.zeros(n, n, dtype=torch.float64, device=device)
    for k, i in enumerate(range(0, n, ROW_CHUNK)):
        check(cancel)
        K[i:i + ROW_CHUNK] = (A[i:i + ROW_CHUNK] @ A.T).double()
        yield Progress(k + 1, steps + 1, f"ridge (dual): kernel {min(n, i + ROW_CHUNK)}/{n} rows")
    return RidgeSystem(form, K, Yc, A, mean, inv, ymean, standardized)


def column_mean(X) -> np.ndarray:
    """The mean of the columns of ``X`` (float64 accumulation in row chunks, bounded memory), as float32."""
    s = np.zeros(X.shape[1], np.float64)
    for i in range(0, len(X), ROW_CHUNK):
        s += np.asarray(X[i:i + ROW_CHUNK], dtype=np.float64).sum(0)
    return (s / max(1, len(X))).astype(np.float32)


def ridge_weights(system: RidgeSystem, alpha: float) -> torch.Tensor:
    """W (d x C, float32) for ``alpha`` (the system's matrix is restored afterwards)."""
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"ridge: alpha must be positive, got {alpha}")
    M = system.M
    M.diagonal().add_(alpha)
    try:
        L, info = torch.linalg.cholesky_ex(M)
    finally:
        M.diagonal().sub_(alpha)
    if int(info) == 0:
        sol = torch.cholesky_solve(system.R, L)
    else:  # indefinite within float32 rounding (see the module's docstring)
        sol = _eigen_solve(system, alpha)
    del L
    if system.form == "primal":
        return sol.float()
    return system.A.T @ sol.float()


def _eigen_solve(system: RidgeSystem, alpha: float) -> torch.Tensor:
    """(M+ + alpha I)^-1 R, M+ the matrix with its eigenvalues clamped at zero (eigendecomposition kept for the next
    alpha of a sweep)."""
    if "eigh" not in system.cache:
        w, V = torch.linalg.eigh(system.M)
        system.cache["eigh"] = (w.clamp(min=0.0), V)
    w, V = system.cache["eigh"]
    return V @ ((V.T @ system.R) / (w + alpha)[:, None])


def ridge_scores(system: RidgeSystem, W: torch.Tensor, Xq, device="cpu") -> torch.Tensor:
    """Scores (N, C) float32 of the rows ``Xq`` (raw features: centred and scaled here with the training
    statistics, as the system's)."""
    B = to_device(Xq, system.mean, system.inv, device)
    return B @ W + torch.from_numpy(system.ymean).float().to(device)


def ridge_state(system: RidgeSystem, W: torch.Tensor) -> dict:
    """The fitted head as ``HeadResult.state`` (``{"W": (C, d), "b": (C,)}`` float32) in the coordinates of
    ``headcore.standardizer`` (what the exported head and Live apply): the system's own where the features are
    standardised; the raw features where not (the system centres them: intercept mean(Y) - centre . W)."""
    Wt = W.T.contiguous().cpu().numpy()
    b = system.ymean.astype(np.float64)
    if not system.standardized:
        b = b - Wt.astype(np.float64) @ system.mean.astype(np.float64)
    return {"W": Wt, "b": b.astype(np.float32)}


def train_ridge(Xtr, ytr, Xte, yte, n_classes: int, opts: dict, device="cpu", seed: int = 0,
                cancel: CancelToken | None = None):
    t0 = time.perf_counter()
    system = yield from ridge_system(Xtr, ytr, n_classes, opts, device, cancel)
    check(cancel)
    W = ridge_weights(system, float(opts["alpha"]))
    scores = ridge_scores(system, W, Xte, device)
    yt = torch.from_numpy(np.asarray(yte, dtype=np.int64)).to(device)
    cp = CurvePoint(1, 1.0, float("nan"), None, accuracy(scores, yt) if len(yt) else None)
    steps = math.ceil(len(Xtr) / ROW_CHUNK)
    yield Progress(steps + 1, steps + 1, f"ridge ({system.form}) solved", cp)
    state = ridge_state(system, W)
    return HeadResult(scores.float().cpu().numpy(), (cp,), time.perf_counter() - t0, dict(opts, form=system.form),
                      stop_report("closed form", None, None, 1, True), state)
