"""Feature projector: 2-D coordinates of frozen features (PCA; UMAP where umap-learn is installed), coloured by
label and linked back to the images by index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import AppError

METHODS = ("pca", "umap")


@dataclass(frozen=True)
class Projection:
    xy: np.ndarray  # (n, 2) float32
    labels: np.ndarray  # (n,)
    indices: np.ndarray  # (n,) indices into the dataset split
    method: str
    explained: tuple[float, ...]  # PCA: variance explained by the two axes

    def nearest(self, x: float, y: float) -> int | None:
        """The dataset index of the point nearest (x, y) (a click on the scatter)."""
        if not len(self.xy):
            return None
        d = np.hypot(self.xy[:, 0] - x, self.xy[:, 1] - y)
        return int(self.indices[int(np.argmin(d))])


def project(features: np.ndarray, labels: np.ndarray, method: str = "pca", limit: int = 5000, seed: int = 0,
            indices: np.ndarray | None = None) -> Projection:
    X = np.asarray(features, dtype=np.float64)
    n = len(X)
    idx = np.arange(n) if indices is None else np.asarray(indices)
    if n > limit:
        pick = np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
        X, idx = X[pick], idx[pick]
        labels = np.asarray(labels)[pick]
    X = X - X.mean(0)
    sd = X.std(0)
    X = X / np.where(sd > 0, sd, 1.0)
    if method == "pca":
        U, S, Vt = np.linalg.svd(X, full_matrices=False)
        xy = U[:, :2] * S[:2]
        tot = (S ** 2).sum()
        explained = tuple(float(v) for v in (S[:2] ** 2 / tot)) if tot > 0 else (0.0, 0.0)
        if xy.shape[1] < 2:
            xy = np.concatenate([xy, np.zeros((len(xy), 2 - xy.shape[1]))], 1)
    elif method == "umap":
        try:
            import umap
        except ImportError:
            raise AppError("UMAP needs umap-learn: pip install umap-learn (PCA works without it)") from None
        xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(X)
        explained = ()
    else:
        raise AppError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    return Projection(np.ascontiguousarray(xy, dtype=np.float32), np.asarray(labels), idx, method, explained)
