"""Equal feature budget: project every feature set to N dimensions so that backbones are compared like for like.

``fit_projection(Xtr, n, method, seed)`` is fitted on the training features only and returns a ``Projection``
applied to train, validation and test alike:
- ``pca``: the top-N principal directions of the (centred) training features (float64 eigen-decomposition of the
  d x d covariance, or of the n x n Gram matrix when there are fewer rows than columns);
- ``random``: a seeded Gaussian matrix with entries N(0, 1/N) (Johnson-Lindenstrauss), no centring.
A budget at least as large as the feature count keeps the features unchanged (recorded as such). PCA finds at most
one direction per training row: a budget above the training images gives that many (``Projection.n_out``; the probe's
record keeps the budget asked and says so in a caveat, ``feature_budget_note``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROW_CHUNK = 4096


@dataclass(frozen=True)
class Projection:
    method: str  # pca, random or identity
    mean: np.ndarray | None  # (d,) subtracted first (pca), or None
    matrix: np.ndarray | None  # (d, n) float32, or None (identity)

    @property
    def n_out(self) -> int | None:
        return None if self.matrix is None else int(self.matrix.shape[1])

    def apply(self, X: np.ndarray) -> np.ndarray:
        if self.matrix is None:
            return X
        out = np.empty((len(X), self.matrix.shape[1]), np.float32)
        for i in range(0, len(X), ROW_CHUNK):
            c = np.asarray(X[i:i + ROW_CHUNK], dtype=np.float32)
            if self.mean is not None:
                c = c - self.mean
            out[i:i + len(c)] = c @ self.matrix
        return out


def fit_projection(Xtr: np.ndarray, n: int, method: str = "pca", seed: int = 0) -> Projection:
    d = int(Xtr.shape[1])
    n = int(n)
    if n < 1:
        raise ValueError(f"feature budget must be at least 1, got {n}")
    if n >= d:
        return Projection("identity", None, None)
    if method == "random":
        rng = np.random.default_rng(int(seed))
        return Projection("random", None, (rng.standard_normal((d, n)) / np.sqrt(n)).astype(np.float32))
    if method != "pca":
        raise ValueError(f"budget method must be pca or random, got {method!r}")
    X = np.asarray(Xtr, dtype=np.float64)
    mean = X.mean(0)
    A = X - mean
    if len(A) >= d:
        ev, V = np.linalg.eigh(A.T @ A)
        V = V[:, ::-1][:, :n]
    else:  # fewer rows than features: the Gram matrix's eigenvectors give the directions
        ev, U = np.linalg.eigh(A @ A.T)
        order = np.argsort(ev)[::-1][:n]
        V = A.T @ U[:, order]
        V /= np.maximum(np.linalg.norm(V, axis=0, keepdims=True), 1e-12)
    # a deterministic sign per direction (the largest-magnitude entry positive)
    signs = np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])
    V = V * np.where(signs == 0, 1.0, signs)
    return Projection("pca", mean.astype(np.float32), V.astype(np.float32))
