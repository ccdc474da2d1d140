"""Centered kernel alignment (Kornblith et al. 2019) between the layers of two models: how similar two
representations are, independent of channel order and of isotropic scaling (linear CKA) or of any orthogonal
transform (both kernels). This replaces an element-wise "correlation" of two networks' weights, which is
meaningless across arbitrary channel orders.

    linear CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)          (X, Y centred, n x p / n x q)
    RBF CKA: HSIC of the two Gaussian Gram matrices (bandwidth sigma = median distance x ``sigma_scale``)

``cka_matrix(...)`` is a task generator: activations of both models on the same images (each model's own input
spec), every layer pooled to at most ``max_features`` values per image (adaptive average pooling of the maps to a
small grid, so memory stays bounded), then CKA for every pair of layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.tasks import CancelToken, Progress, check


def _center(K: np.ndarray) -> np.ndarray:
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    return H @ K @ H


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of two (n, p) and (n, q) feature matrices (rows: the same n examples)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"CKA needs the same examples: {X.shape[0]} vs {Y.shape[0]} rows")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    num = np.linalg.norm(Y.T @ X) ** 2
    den = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(num / den) if den > 0 else float("nan")


def _rbf(X: np.ndarray, sigma_scale: float) -> np.ndarray:
    sq = np.sum(X * X, 1)
    D = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    med = np.median(np.sqrt(D[np.triu_indices_from(D, 1)])) if len(X) > 1 else 1.0
    sigma = sigma_scale * (med if med > 0 else 1.0)
    return np.exp(-D / (2 * sigma * sigma))


def rbf_cka(X: np.ndarray, Y: np.ndarray, sigma_scale: float = 1.0) -> float:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    Kx, Ky = _center(_rbf(X, sigma_scale)), _center(_rbf(Y, sigma_scale))
    num = float(np.sum(Kx * Ky))
    den = math.sqrt(float(np.sum(Kx * Kx)) * float(np.sum(Ky * Ky)))
    return num / den if den > 0 else float("nan")


@dataclass(frozen=True)
class CKAResult:
    matrix: np.ndarray  # (layers of a, layers of b)
    layers_a: tuple[str, ...]
    layers_b: tuple[str, ...]
    kernel: str
    n_images: int
    label_a: str
    label_b: str
    # where A and B share one architecture: CKA of each layer between two random initialisations of it (seeds
    # ``reference_seeds``), the same images and kernel: how similar two untrained copies already are, the scale
    # against which "trained vs its random twin" reads
    reference: tuple[float, ...] = ()
    reference_seeds: tuple[int, int] | None = None

    def to_dict(self) -> dict:
        d = {"matrix": [[None if math.isnan(v) else round(float(v), 6) for v in row] for row in self.matrix],
             "layers_a": list(self.layers_a), "layers_b": list(self.layers_b), "kernel": self.kernel,
             "n_images": self.n_images, "a": self.label_a, "b": self.label_b}
        if self.reference:
            d["reference"] = [None if math.isnan(v) else round(float(v), 6) for v in self.reference]
            d["reference_seeds"] = list(self.reference_seeds or ())
        return d

    def reference_text(self) -> str:
        """One line: the reference per layer, or "" without one."""
        if not self.reference:
            return ""
        s0, s1 = self.reference_seeds or (0, 1)
        vals = " · ".join(f"{n} {v:.2f}" for n, v in zip(self.layers_a, self.reference))
        return f"Two random initialisations of this architecture (seeds {s0} and {s1}), layer by layer: {vals}"


def layer_features(model, images: np.ndarray, ispec, layers: list[int], device="cpu", batch: int = 64,
                   grid: int = 4, cancel: CancelToken | None = None):
    """Task: {layer index: (n, C * g * g) float32} for every layer (maps average-pooled to a g x g grid)."""
    import torch
    import torch.nn.functional as F

    from app.models.inputs import to_tensor

    out: dict[int, list[np.ndarray]] = {i: [] for i in layers}
    n = len(images)
    model = model.to(device).eval()
    with torch.inference_mode():
        for s in range(0, n, batch):
            check(cancel)
            x = to_tensor(images[s:s + batch], ispec, device)
            maps = model.forward_intermediates(x, list(layers), stop_early=True)
            for i, m in zip(layers, maps):
                if m.dim() == 4:
                    m = F.adaptive_avg_pool2d(m.float(), min(grid, m.shape[-1], m.shape[-2]))
                out[i].append(m.flatten(1).float().cpu().numpy())
            yield Progress(min(n, s + batch), n, f"activations {min(n, s + batch)}/{n}")
    return {i: np.concatenate(v) for i, v in out.items()}


def cka_matrix(model_a, model_b, images: np.ndarray, ispec_a, ispec_b, *, kernel: str = "linear",
               layers_a: list[int] | None = None, layers_b: list[int] | None = None, device="cpu",
               label_a: str = "a", label_b: str = "b", cancel: CancelToken | None = None):
    """Task: CKA between every layer of ``model_a`` and every layer of ``model_b`` on ``images``."""
    if kernel not in ("linear", "rbf"):
        raise ValueError(f"kernel must be linear or rbf, got {kernel!r}")
    la = layers_a if layers_a is not None else list(range(len(model_a.feature_info)))
    lb = layers_b if layers_b is not None else list(range(len(model_b.feature_info)))
    yield Progress(0, 3, f"activations of {label_a}")
    fa = yield from layer_features(model_a, images, ispec_a, la, device, cancel=cancel)
    yield Progress(1, 3, f"activations of {label_b}")
    fb = yield from layer_features(model_b, images, ispec_b, lb, device, cancel=cancel)
    fn = linear_cka if kernel == "linear" else rbf_cka
    M = np.full((len(la), len(lb)), np.nan)
    for r, i in enumerate(la):
        check(cancel)
        for c, j in enumerate(lb):
            M[r, c] = fn(fa[i], fb[j])
        yield Progress(2 + (r + 1) / len(la), 3, f"CKA row {r + 1}/{len(la)}")
    names_a = tuple(model_a.feature_info[i].name for i in la)
    names_b = tuple(model_b.feature_info[j].name for j in lb)
    M.setflags(write=False)
    return CKAResult(M, names_a, names_b, kernel, len(images), label_a, label_b)
