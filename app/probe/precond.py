"""Coordinate changes that precondition the linear heads' L-BFGS: the weights W (C, d) are optimised as X = W P^(1/2)
for a symmetric positive definite P ~ the Hessian of the objective in W (shared by the classes), so that L-BFGS sees
a nearly isotropic problem.

- ``Cholesky`` (d <= ``app.probe.heads.PRECONDITION_MAX_FEATURES``): P = L L^T = c S^T S / m + lam I exactly (the
  logistic head's ``preconditioner``); X = W L.
- ``Nystrom`` (wider features, where a d x d factor costs more than the fit): a randomized rank-r Nystrom
  approximation U diag(s) U^T of c S^T S / m (S: m seeded rows of the standardised features), and
  P = U diag(s + lam) U^T + (s_r + lam) (I - U U^T) (Frangella, Tropp & Udell, "Randomized Nystrom
  preconditioning", SIAM J. Matrix Anal. Appl. 2023): the r largest curvature directions are scaled to one, the
  rest by the r-th. Its cost is four (m x d) x (d x r) products, and each use two (C x d) x (d x r) products.
- ``Identity``: no preconditioning.

Each offers ``weights(XU)`` (W from the optimiser's coordinates), ``coords(W)``, ``to_coords(gW)`` (the gradient
in the optimiser's coordinates) and ``from_coords(gU)`` (back to the gradient of W), and ``bscale`` (the intercept's
scale: b is optimised as b sqrt(c)).
"""

from __future__ import annotations

import math

import torch

NYSTROM_RANK = 256  # directions captured exactly (rdsn MNIST, 9,216 features: the spectrum falls steeply before)
NYSTROM_ROWS = 4096  # rows of the sketch (a seeded sample)


class Identity:
    bscale = 1.0
    kind = "none"

    def weights(self, U):
        return U

    def coords(self, W):
        return W

    def to_coords(self, gW):
        return gW

    def from_coords(self, gU):
        return gU


class Cholesky:
    kind = "cholesky"

    def __init__(self, L: torch.Tensor, LT: torch.Tensor, bscale: float):
        self.L, self.LT, self.bscale = L, LT, bscale

    def weights(self, U):
        return torch.linalg.solve_triangular(self.LT, U.T, upper=True).T

    def coords(self, W):
        return W @ self.L

    def to_coords(self, gW):
        return torch.linalg.solve_triangular(self.L, gW.T, upper=False).T

    def from_coords(self, gU):
        return gU @ self.L.T


class Nystrom:
    kind = "nystrom"

    def __init__(self, U: torch.Tensor, s: torch.Tensor, lam: float, bscale: float):
        self.U, self.bscale, self.rank = U, bscale, U.shape[1]
        floor = float(s[-1]) + lam  # the curvature assumed for every direction outside U
        self.half = {}
        for a in (0.5, -0.5):  # P^a = floor^a I + U diag((s + lam)^a - floor^a) U^T
            self.half[a] = (floor ** a, ((s + lam).pow(a) - floor ** a).to(U.dtype))

    def _power(self, V, a):
        scalar, coef = self.half[a]
        return V * scalar + ((V @ self.U) * coef) @ self.U.T

    def weights(self, U):
        return self._power(U, -0.5)

    def coords(self, W):
        return self._power(W, 0.5)

    def to_coords(self, gW):
        return self._power(gW, -0.5)

    def from_coords(self, gU):
        return self._power(gU, 0.5)


def nystrom(A: torch.Tensor, lam: float, curvature: float, seed: int = 0, rank: int = NYSTROM_RANK,
            rows: int = NYSTROM_ROWS) -> Nystrom:
    """The Nystrom preconditioner of ``curvature * S^T S / m + lam I`` (see the module doc), or ValueError."""
    n, d = A.shape
    r = max(1, min(rank, d, n))
    g = torch.Generator(device="cpu").manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:min(n, rows)].to(A.device)
    S = A[idx]
    m = len(S)
    omega = torch.randn(d, r, generator=g, dtype=torch.float64).to(A.device)
    omega = torch.linalg.qr(omega).Q
    Y = (S.T @ (S @ omega.to(A.dtype))).double() * (curvature / m)  # d x r, the sketch of the curvature
    del S
    nu = 1e-7 * float(torch.linalg.norm(Y)) + 1e-30  # a small shift keeps the core positive definite
    Y.add_(omega, alpha=nu)
    core = omega.T @ Y
    core = 0.5 * (core + core.T)
    Lc, info = torch.linalg.cholesky_ex(core)
    if int(info) != 0:
        raise ValueError("nystrom: the sketch is not positive definite")
    B = torch.linalg.solve_triangular(Lc, Y.T, upper=False).T  # Y Lc^-T
    Uf, sig, _ = torch.linalg.svd(B, full_matrices=False)
    s = torch.clamp(sig * sig - nu, min=0.0)
    return Nystrom(Uf.to(A.dtype).contiguous(), s, lam, math.sqrt(curvature))
