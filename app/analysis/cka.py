"""Centered kernel alignment (Kornblith et al. 2019) between the layers of two models: how similar two
representations are, independent of channel order and of isotropic scaling (linear CKA) or of any orthogonal
transform (both kernels). This replaces an element-wise "correlation" of two networks' weights, which is
meaningless across arbitrary channel orders.

    linear CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)          (X, Y centred, n x p / n x q)
    RBF CKA: HSIC of the two Gaussian Gram matrices (bandwidth sigma = median distance x ``sigma_scale``)
    debiased CKA: linear, with the unbiased HSIC estimator (Song et al. 2012; Kornblith et al.'s ``debiased``)

All three are computed from the n x n Gram matrices (``cka_from_grams``; cheap when a layer has many more features
than there are images: rdsn's 16,384 took 76 s and 2 GB per pair as p x p products). Linear CKA is biased upward
when the features outnumber the images (independent Gaussian features, p = q = 1000: 0.99 at n = 10, 0.91 at
n = 100, 0.50 at n = 1000); the debiased estimate is not (near 0 for independent features), and a result says
when its features outnumber its images (``CKAResult.note``). A layer whose features are all the same gives NaN.

``cka_matrix(...)`` is a task generator: activations of both models on the same images (each model's own input
spec), every layer's maps average-pooled to a ``grid`` x ``grid`` grid (4 x 4: C x 16 values per image; maps smaller
than that keep their own size; the result's note says which grid each layer got), then CKA for every pair of layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from app.tasks import CancelToken, Progress, check


KERNELS = ("linear", "rbf", "debiased")


def _center(K: np.ndarray, unbiased: bool = False) -> np.ndarray:
    """A Gram matrix centred (H K H); ``unbiased``: the U-statistic form of the unbiased HSIC estimator (zero
    diagonal; Kornblith et al.'s ``center_gram(unbiased=True)``), which needs n > 3."""
    K = np.array(K, dtype=np.float64)
    n = K.shape[0]
    if not unbiased:
        H = np.eye(n) - 1.0 / n
        return H @ K @ H
    np.fill_diagonal(K, 0.0)
    means = K.sum(0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    K -= means[:, None]
    K -= means[None, :]
    np.fill_diagonal(K, 0.0)
    return K


def _pair(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"CKA needs the same examples: {X.shape[0]} vs {Y.shape[0]} rows")
    return X.reshape(len(X), -1), Y.reshape(len(Y), -1)


def _constant(X: np.ndarray) -> bool:
    """Every example has the same features (a dead layer): no similarity to measure."""
    return len(X) == 0 or bool(np.all(X == X[0]))


def cka_from_grams(Kx: np.ndarray, Ky: np.ndarray, debiased: bool = False) -> float:
    """CKA of two n x n Gram matrices of the same examples."""
    Kx, Ky = _center(Kx, debiased), _center(Ky, debiased)
    num = float(np.sum(Kx * Ky))
    den = math.sqrt(float(np.sum(Kx * Kx)) * float(np.sum(Ky * Ky)))
    return num / den if den > 0 else float("nan")


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of two (n, p) and (n, q) feature matrices (rows: the same n examples)."""
    X, Y = _pair(X, Y)
    if _constant(X) or _constant(Y):
        return float("nan")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    return cka_from_grams(X @ X.T, Y @ Y.T)


def debiased_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA with the unbiased HSIC estimator: near 0 for independent features however many there are (it can
    be slightly negative); needs at least 4 examples."""
    X, Y = _pair(X, Y)
    if len(X) < 4:
        from app.analysis.jobs import InsightError

        raise InsightError(f"debiased CKA needs at least 4 images, got {len(X)}")
    if _constant(X) or _constant(Y):
        return float("nan")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    return cka_from_grams(X @ X.T, Y @ Y.T, debiased=True)


def _rbf(X: np.ndarray, sigma_scale: float) -> np.ndarray:
    sq = np.sum(X * X, 1)
    D = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0.0)
    med = np.median(np.sqrt(D[np.triu_indices_from(D, 1)])) if len(X) > 1 else 1.0
    sigma = sigma_scale * (med if med > 0 else 1.0)
    return np.exp(-D / (2 * sigma * sigma))


def rbf_cka(X: np.ndarray, Y: np.ndarray, sigma_scale: float = 1.0) -> float:
    X, Y = _pair(X, Y)
    if _constant(X) or _constant(Y):  # its centred Gram matrix is rounding noise: -0.02 was shown
        return float("nan")
    return cka_from_grams(_rbf(X, sigma_scale), _rbf(Y, sigma_scale))


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
    note: str = ""  # how each layer was summarised, and a caveat when its features outnumber its images
    # where A and B share one architecture but saw different inputs (size or normalisation): what says so
    # (``app.analysis.jobs.cka_input_note``), and the input the reference was computed at (model A's: its random
    # twins keep A's input), which ``reference_text`` then names
    input_note: str = ""
    reference_input: str = ""

    def to_dict(self) -> dict:
        d = {"matrix": [[None if math.isnan(v) else round(float(v), 6) for v in row] for row in self.matrix],
             "layers_a": list(self.layers_a), "layers_b": list(self.layers_b), "kernel": self.kernel,
             "n_images": self.n_images, "a": self.label_a, "b": self.label_b, "note": self.note}
        if self.reference:
            d["reference"] = [None if math.isnan(v) else round(float(v), 6) for v in self.reference]
            d["reference_seeds"] = list(self.reference_seeds or ())
            if self.reference_input:
                d["reference_input"] = self.reference_input
        return d

    def reference_text(self) -> str:
        """One line: the reference per layer, or "" without one; where the two sides saw different inputs, the
        input the reference was computed at (model A's)."""
        if not self.reference:
            return ""
        s0, s1 = self.reference_seeds or (0, 1)
        vals = " · ".join(f"{n} {cka_text(v)}" for n, v in zip(self.layers_a, self.reference))
        at = f", at model A's input ({self.reference_input}; model B saw another)" if self.reference_input else ""
        return f"Two random initialisations of this architecture (seeds {s0} and {s1}){at}, layer by layer: {vals}"


def cka_text(value: float, digits: int = 2) -> str:
    """A CKA value with ``digits`` decimals, or more where those would round it to a false 1 (0.997 is not "1.00",
    the value that means the same representation) or a false 0 (0.003 is not "0.00"): up to 6 decimals; a value
    within rounding of 1 or 0 at 6 decimals (a model against itself: 1 - 1e-16) reads as ``digits`` give it.
    "n/a" for NaN (a layer whose features are all the same)."""
    v = float(value)
    if math.isnan(v):
        return "n/a"
    for d in range(digits, 7):
        text = f"{v:.{d}f}"
        r = float(text)
        if not ((abs(r) >= 1 and abs(v) < 1) or (r == 0 and v != 0)):
            return text
    return f"{v:.{digits}f}"


def layer_features(model, images: np.ndarray, ispec, layers: list[int], device="cpu", batch: int = 64,
                   grid: int = 4, cancel: CancelToken | None = None, pooled: dict | None = None):
    """Task: {layer index: (n, C * g * g) float32} for every layer (maps average-pooled to a g x g grid, g =
    ``grid`` or the map's smaller side where that is less). ``pooled``, when given, receives {layer index: g}
    (None for a layer without spatial maps: its features as they are)."""
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
                g = None
                if m.dim() == 4:
                    g = min(grid, m.shape[-1], m.shape[-2])
                    m = F.adaptive_avg_pool2d(m.float(), g)
                if pooled is not None:
                    pooled[i] = g
                out[i].append(m.flatten(1).float().cpu().numpy())
            yield Progress(min(n, s + batch), n, f"activations {min(n, s + batch)}/{n}")
    return {i: np.concatenate(v) for i, v in out.items()}


def cka_matrix(model_a, model_b, images: np.ndarray, ispec_a, ispec_b, *, kernel: str = "linear",
               layers_a: list[int] | None = None, layers_b: list[int] | None = None, device="cpu",
               label_a: str = "a", label_b: str = "b", cancel: CancelToken | None = None):
    """Task: CKA between every layer of ``model_a`` and every layer of ``model_b`` on ``images``."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    la = layers_a if layers_a is not None else list(range(len(model_a.feature_info)))
    lb = layers_b if layers_b is not None else list(range(len(model_b.feature_info)))
    yield Progress(0, 3, f"activations of {label_a}")
    ga: dict = {}
    gb: dict = {}
    fa = yield from layer_features(model_a, images, ispec_a, la, device, cancel=cancel, pooled=ga)
    yield Progress(1, 3, f"activations of {label_b}")
    fb = yield from layer_features(model_b, images, ispec_b, lb, device, cancel=cancel, pooled=gb)
    fn = {"linear": linear_cka, "rbf": rbf_cka, "debiased": debiased_cka}[kernel]
    M = np.full((len(la), len(lb)), np.nan)
    for r, i in enumerate(la):
        check(cancel)
        for c, j in enumerate(lb):
            M[r, c] = fn(fa[i], fb[j])
        yield Progress(2 + (r + 1) / len(la), 3, f"CKA row {r + 1}/{len(la)}")
    names_a = tuple(model_a.feature_info[i].name for i in la)
    names_b = tuple(model_b.feature_info[j].name for j in lb)
    M.setflags(write=False)
    # the grid each layer was pooled to, by layer name: a layer of both models once where both got the same grid,
    # else each side's (the same layer of one architecture is smaller on 8x8 images than at a 32x32 input)
    by_a = {model_a.feature_info[i].name: g for i, g in ga.items()}
    by_b = {model_b.feature_info[j].name: g for j, g in gb.items()}
    grids = {}
    for name, g in by_a.items():
        grids[name if by_b.get(name, g) == g else f"{name} (rows)"] = g
    for name, g in by_b.items():
        if by_a.get(name, g) != g:
            grids[f"{name} (columns)"] = g
        elif name not in by_a:
            grids[name] = g
    return CKAResult(M, names_a, names_b, kernel, len(images), label_a, label_b,
                     note=summary_note(kernel, len(images), [f.shape[1] for f in (*fa.values(), *fb.values())],
                                       grids=grids, reference=False))


# how the note ends when linear CKA may read high: with a random-initialisation line to read it against (added by
# ``app.analysis.jobs.with_seed_reference``: ``with_reference_note``), or without one
HIGH_WITH_REFERENCE = "read it against the random-initialisation line, or use the debiased estimate"
HIGH_WITHOUT_REFERENCE = ("use the debiased estimate (a random-initialisation line to read it against comes only "
                          "when both sides share one architecture)")


def _pooling_text(grid: int, grids: dict | None, span: str) -> str:
    """Which grid the layers were pooled to: ``grids`` {layer name: g, or None for a layer without maps}."""
    values = f"{span} values per image"
    if not grids:
        return f"each layer's maps average-pooled to a {grid} x {grid} grid (channels x {grid * grid}: {values})"
    by: dict = {}
    for name, g in grids.items():
        by.setdefault(g, []).append(name)
    spatial = sorted((g for g in by if g is not None), reverse=True)
    if len(spatial) == 1 and None not in by:
        g = spatial[0]
        smaller = "" if g == grid else f" (the maps are no larger than {g} x {g})"
        return f"each layer's maps average-pooled to a {g} x {g} grid{smaller} (channels x {g * g}: {values})"
    parts = [f"{g} x {g} (channels x {g * g}) for {', '.join(by[g])}" for g in spatial]
    if None in by:
        parts.append(f"not pooled (no spatial maps) for {', '.join(by[None])}")
    return (f"each layer's maps average-pooled to a {grid} x {grid} grid, or to a g x g grid (g: the maps' smaller "
            f"side) where they are smaller: " + "; ".join(parts) + f" ({values})")


def summary_note(kernel: str, n: int, widths: list[int], grid: int = 4, grids: dict | None = None,
                 reference: bool = True) -> str:
    """What a CKA matrix was computed on, and why its linear values may read high. ``grids``: {layer name: the
    grid g it was pooled to (``grid`` or less where its maps are smaller), None without maps}; ``reference``: a
    random-initialisation line comes with the matrix (the high-reading caveat points at it only then)."""
    span = "" if not widths else (f"{min(widths):,}" if min(widths) == max(widths)
                                  else f"{min(widths):,}-{max(widths):,}")
    text = _pooling_text(grid, grids, span) if widths else ""
    if kernel == "linear" and widths and max(widths) > n:
        text += (f"; the features outnumber the {n} images (up to {max(widths):,}): linear CKA then reads high "
                 f"even for unrelated features: {HIGH_WITH_REFERENCE if reference else HIGH_WITHOUT_REFERENCE}")
    return text


def with_reference_note(note: str) -> str:
    """``note`` once a random-initialisation line comes with the matrix: its caveat points at that line."""
    return note.replace(HIGH_WITHOUT_REFERENCE, HIGH_WITH_REFERENCE)
