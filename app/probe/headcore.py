"""What every head shares: the result record, the stopping report, standardisation with training statistics.

``HeadResult.stop`` says how the head's training ended, in one shape for every head::

    {"criterion": str, "value": float | None, "tolerance": float | None, "iterations": int, "converged": bool}

(logistic: max |gradient|; svm: gradient norm relative to the gradient at zero weights; ridge: "closed form";
knn: "none"). ``HeadResult.state`` holds the fitted weights in standardised coordinates (``{"W": (C, d), "b": (C,)}``
float32 numpy arrays) so that another fit of the same head can start from them (``init=``, warm starts).
``HeadResult.extra`` holds head-specific measurements (kNN: retrieval precision@k and mAP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from app.probe.config import CurvePoint

ROW_CHUNK = 4096


@dataclass(frozen=True)
class HeadResult:
    scores: np.ndarray  # (n_test, C) float32
    curves: tuple[CurvePoint, ...]
    seconds: float
    settings: dict
    stop: dict = field(default_factory=dict)
    state: dict | None = None
    extra: dict = field(default_factory=dict)


def stop_report(criterion: str, value: float | None, tolerance: float | None, iterations: int,
                converged: bool) -> dict:
    return {"criterion": criterion, "value": None if value is None else float(value),
            "tolerance": None if tolerance is None else float(tolerance), "iterations": int(iterations),
            "converged": bool(converged)}


def standardizer(X: np.ndarray, standardize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 1/std of the columns (float64 accumulation, row chunks; bounded memory)."""
    d = X.shape[1]
    if not standardize:
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    s = np.zeros(d, np.float64)
    ss = np.zeros(d, np.float64)
    for i in range(0, len(X), ROW_CHUNK):
        c = np.asarray(X[i:i + ROW_CHUNK], dtype=np.float64)
        s += c.sum(0)
        ss += (c * c).sum(0)
    n = max(1, len(X))
    mean = s / n
    var = np.maximum(ss / n - mean * mean, 0.0)
    inv = 1.0 / np.sqrt(var + 1e-6 * (var.mean() if var.mean() > 0 else 1.0) + 1e-12)
    return mean.astype(np.float32), inv.astype(np.float32)


def to_device(X: np.ndarray, mean: np.ndarray, inv: np.ndarray, device) -> torch.Tensor:
    """Standardised float32 tensor on ``device`` (converted in row chunks)."""
    out = torch.empty((len(X), X.shape[1]), dtype=torch.float32, device=device)  # pragma: no mutate
    m = torch.from_numpy(mean).to(device)  # pragma: no mutate
    s = torch.from_numpy(inv).to(device)  # pragma: no mutate
    for i in range(0, len(X), ROW_CHUNK):
        # no copy where X is float32 in memory already (asarray); float16 caches and memmaps are converted per chunk
        c = np.ascontiguousarray(X[i:i + ROW_CHUNK], dtype=np.float32)
        c = torch.from_numpy(c if c.flags.writeable else c.copy()).to(device)  # pragma: no mutate
        torch.sub(c, m, out=out[i:i + len(c)])
        out[i:i + len(c)] *= s
    return out


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    return float((scores.argmax(1) == y).float().mean()) if len(y) else float("nan")


def prepare(Xtr, ytr, Xte, opts, device):
    """Training and test features standardised with the TRAINING statistics, on ``device``; labels as int64."""
    mean, inv = standardizer(Xtr, bool(opts.get("standardize", True)))
    A = to_device(Xtr, mean, inv, device)  # pragma: no mutate
    B = to_device(Xte, mean, inv, device)  # pragma: no mutate
    y = torch.from_numpy(np.asarray(ytr, dtype=np.int64)).to(device)
    return A, B, y


def initial_weights(init: dict | None, n_classes: int, d: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (C, d), b (C,)) float32 from a previous fit's ``state`` (warm start), or zeros."""
    if init is None:
        return torch.zeros(n_classes, d, device=device), torch.zeros(n_classes, device=device)  # pragma: no mutate
    W = np.asarray(init["W"], dtype=np.float32)
    b = np.asarray(init["b"], dtype=np.float32)
    if W.shape != (n_classes, d) or b.shape != (n_classes,):
        raise ValueError(f"warm start: weights of shape {W.shape}/{b.shape} do not fit {n_classes} classes x {d} "
                         "features")
    return torch.from_numpy(W.copy()).to(device), torch.from_numpy(b.copy()).to(device)  # pragma: no mutate


def state_of(W: torch.Tensor, b: torch.Tensor) -> dict:
    return {"W": W.detach().float().cpu().numpy().copy(), "b": b.detach().float().cpu().numpy().copy()}
