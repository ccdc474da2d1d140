"""STAND-IN (probe helper, wave 1): the interface of the heads helper's ``select_and_fit`` so that the probe run can be
written and tested against it. The lead replaces this file with the heads helper's version.

``select_and_fit(head, Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, grid=None, device, seed, cancel)`` is a task
generator returning a ``Selection``: the head's hyperparameter (weight_decay, C, alpha, k) chosen on validation, the
sweep's table and the final fit's ``HeadResult`` (scores on ``Xte``). Empty ``Xval`` or a one-value grid: plain fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.probe.config import CurvePoint
from app.probe.heads import HeadResult, train_head

PARAMETER = {"logistic": "weight_decay", "svm": "C", "ridge": "alpha", "knn": "k"}


@dataclass(frozen=True)
class Selection:
    best_value: Any
    best_opts: dict
    table: tuple[tuple[Any, float], ...]
    val_top1: float | None
    result: HeadResult


def _acc(scores: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(scores).argmax(1) == np.asarray(y)).mean()) if len(y) else float("nan")


def select_and_fit(head, Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, grid=None, device="cpu", seed=0,
                   cancel=None):
    param = PARAMETER[head]
    values = list(grid) if grid is not None and len(grid) else [opts[param]]
    nv = len(Xval)
    Xe = np.concatenate([np.asarray(Xval), np.asarray(Xte)]) if nv else Xte
    ye = np.concatenate([np.asarray(yval), np.asarray(yte)]) if nv else yte
    best = None
    table = []
    for v in values:
        o = dict(opts)
        o[param] = v
        hr = yield from train_head(head, Xtr, ytr, Xe, ye, n_classes, o, device=device, seed=seed, cancel=cancel)
        val = _acc(hr.scores[:nv], yval) if nv else None
        table.append((v, val))
        if best is None or (val is not None and val > best[1]):
            best = (v, val, o, hr)
    v, val, o, hr = best
    # the stand-in evaluates val and test in one pass: curve points show no held-out accuracy but the final (val)
    curves = tuple(CurvePoint(c.step, c.epoch, c.loss, c.train_acc, None) for c in hr.curves)
    if curves and val is not None:
        last = curves[-1]
        curves = curves[:-1] + (CurvePoint(last.step, last.epoch, last.loss, last.train_acc, val),)
    result = HeadResult(np.asarray(hr.scores[nv:]), curves, hr.seconds, hr.settings)
    object.__setattr__(result, "stop", dict(getattr(hr, "stop", {}) or {}))
    return Selection(v, o, tuple(table), val if nv else None, result)
