"""STAND-IN (probe helper, wave 1): the interface of the heads helper's ``select_and_fit`` so that the probe run can be
written and tested against it. The lead replaces this file with the heads helper's version.

``select_and_fit(head, Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, grid=None, device, seed, cancel)`` is a task
generator returning a ``Selection``: the head's hyperparameter (weight_decay, C, alpha, k) chosen on validation, the
sweep's table and the final fit's ``HeadResult`` (scores on ``Xte``). Empty ``Xval`` or a one-value grid: plain fit.
(This stand-in fits each value with validation as the held-out set, then refits the chosen value for the test
scores: one fit more than the real one, which has warm starts.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from app.probe.config import HYPERPARAMETER as PARAMETER
from app.probe.config import CurvePoint
from app.probe.heads import HeadResult, train_head
from app.tasks import Progress



@dataclass(frozen=True)
class Selection:
    best_value: Any
    best_opts: dict
    table: tuple[tuple[Any, float], ...]
    val_top1: float | None
    result: HeadResult


def _acc(scores: np.ndarray, y: np.ndarray) -> float:
    return float((np.asarray(scores).argmax(1) == np.asarray(y)).mean()) if len(y) else float("nan")


def _quiet(gen):
    """Pass a head's progress through with no held-out accuracy on its curve points (a fit scoring the test set)."""
    try:
        p = next(gen)
        while True:
            if isinstance(p.payload, CurvePoint):
                c = p.payload
                p = Progress(p.done, p.total, p.message, CurvePoint(c.step, c.epoch, c.loss, c.train_acc, None))
            yield p
            p = next(gen)
    except StopIteration as stop:
        return stop.value


def select_and_fit(head, Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, grid=None, device="cpu", seed=0,
                   cancel=None):
    param = PARAMETER[head]
    values = list(grid) if grid is not None and len(grid) else [opts[param]]
    nv = len(Xval)
    table = []
    best = None
    if nv:  # each value fitted with the validation split as the held-out set: its curves show validation accuracy
        for v in values:
            o = dict(opts)
            o[param] = v
            hr = yield from train_head(head, Xtr, ytr, Xval, yval, n_classes, o, device=device, seed=seed,
                                       cancel=cancel)
            val = _acc(hr.scores, yval)
            table.append((v, val))
            if best is None or val > best[1]:
                best = (v, val, o, hr)
        v, val, o, val_fit = best
    else:
        v, val, val_fit = values[0], None, None
        o = dict(opts)
        o[param] = v
    if val_fit is not None and len(Xte) == 0:  # a sweep over layers/poolings: no test split to score
        return Selection(v, o, tuple(table), val, val_fit)
    # the final fit (same value, same seed): scores on the test split, which its curve points never show
    hr = yield from _quiet(train_head(head, Xtr, ytr, Xte, yte, n_classes, o, device=device, seed=seed,
                                      cancel=cancel))
    curves = val_fit.curves if val_fit is not None else hr.curves
    result = HeadResult(np.asarray(hr.scores), curves, hr.seconds + (val_fit.seconds if val_fit else 0.0),
                        hr.settings)
    object.__setattr__(result, "stop", dict(getattr(hr, "stop", {}) or {}))
    return Selection(v, o, tuple(table), val, result)
