"""Hyperparameter selection on a validation split: one head, one hyperparameter, a grid, warm starts.

Protocol (``select_and_fit``):
- every grid value is fitted on the TRAINING features only (standardisation statistics from them too) and scored
  on the VALIDATION features; the values are visited in order of decreasing regularisation (logistic: weight decay
  high -> low; svm: C low -> high; ridge: alpha high -> low; knn: k high -> low), and each iterative fit starts from
  the previous value's weights (``init=``), so the sweep costs little more than one fit (each fit's iteration count
  is kept, ``Selection.iterations``: a value whose fit needed none was already within the head's tolerance at the
  previous value's solution, so its model IS that solution, which the run's note says); ridge builds its Gram
  matrix once (one Cholesky per alpha); kNN computes the validation distances once for every k;
- the best validation top-1 wins; a tie goes to the stronger regularisation (the earlier value of the sweep);
- the test features are scored once, by the winning fit (without ``refit``, below: the model reported is the one
  that was selected). ``Selection.result.scores`` are those TEST scores; ``result.curves`` are the winning fit's
  curves, whose accuracy points are VALIDATION accuracy (the test set is not looked at while choosing);
- ``refit=(X, y)`` (the validation images' own features and labels, asked by the user or a preset): after the choice,
  the chosen value is fitted once more on the training rows followed by those (statistics from them all, an
  iterative head warm-started from the chosen fit's weights), as scikit-learn's ``GridSearchCV(refit=True)`` fits
  the best candidate on all the data it was given; the test features are scored by that fit instead. The choice and
  ``val_top1`` stay the fit on training rows alone's (the refit has seen the validation images: it has no validation
  figure); ``Selection.refit`` says what was refitted (rows, iterations, seconds).
- a one-value grid (a value the user fixed): that one fit, scored on validation (reported) and test;
- an empty validation set (``--val 0``): a plain fit on train, scored on test; ``val_top1`` is None.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from app.probe.config import CurvePoint
from app.probe.headcore import HeadResult, prepare_once, to_device
from app.tasks import CancelToken, Progress, check

HYPER = {"logistic": "weight_decay", "svm": "C", "ridge": "alpha", "knn": "k"}
PARAMETER = HYPER  # the name the probe run uses
DEFAULT_GRIDS: dict[str, tuple] = {
    "logistic": (1e-5, 1e-4, 1e-3, 1e-2, 1e-1),
    "svm": (1e-4, 1e-3, 1e-2, 1e-1, 1.0),  # Weston-Watkins on rdsn MNIST: 1e-3 best on validation, 1e-4 and 0.1 lower
    "ridge": (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4),
    "knn": (1, 3, 5, 10, 20),
}
# True: a larger value regularises more (visited first)
STRONGER_IS_LARGER = {"logistic": True, "svm": False, "ridge": True, "knn": True}


@dataclass(frozen=True)
class Selection:
    best_value: Any
    best_opts: dict
    table: tuple[tuple[Any, float], ...]  # (value, validation top-1), in sweep order
    val_top1: float | None
    result: HeadResult  # scores: the TEST scores of the selected fit
    iterations: tuple[int | None, ...] = ()  # each value's fit, aligned with ``table`` (None: closed form / no fit)
    stats: tuple[np.ndarray, np.ndarray] | None = None  # (mean, 1/std) of the rows the reported fit saw, where computed
    refit: dict | None = None  # the refit on training + validation rows, where there was one (see the module doc)


def sweep_order(head: str, grid) -> list:
    """The grid without duplicates, strongest regularisation first."""
    if head not in HYPER:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HYPER)}")
    values = sorted(set(grid), reverse=STRONGER_IS_LARGER[head])
    if not values:
        raise ValueError(f"{head}: the {HYPER[head]} grid is empty")
    return values


def knn_values(values, n_train: int, given: bool = True) -> list[int]:
    """The k of a k-NN sweep as integers. A k given by the user must be a positive integer and at most the
    ``n_train`` training rows (ValueError otherwise: it could not be honoured, and the run would record it); the
    default grid's values above ``n_train`` are left out (at least one k stays)."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v) \
                or v != int(v) or v < 1:
            raise ValueError(f"knn: k must be a positive integer, got {v!r}")
        out.append(int(v))
    if given:
        if n_train and max(out) > n_train:
            raise ValueError(f"knn: k = {max(out)} is more than the {n_train} training rows; choose k <= {n_train}")
        return out
    kept = [k for k in out if k <= max(1, n_train)]
    return kept or [max(1, min(min(out), n_train))]


def _top1(scores, labels) -> float:
    labels = np.asarray(labels, dtype=np.int64)
    return float(np.mean(np.asarray(scores).argmax(1) == labels)) if len(labels) else float("nan")


def _linear_scores(Xtr, X, state: dict, opts: dict, device, stats=None) -> np.ndarray:
    """Scores of X under weights in standardised coordinates (statistics of the training features; ``stats``:
    those, computed already)."""
    from app.probe.headcore import standardizer

    mean, inv = stats if stats is not None else standardizer(Xtr, bool(opts.get("standardize", True)), device)
    B = to_device(X, mean, inv, device)
    W = torch.from_numpy(state["W"]).to(device)
    b = torch.from_numpy(state["b"]).to(device)
    return torch.nn.functional.linear(B, W, b).cpu().numpy()


def select_and_fit(head: str, Xtr, ytr, Xval, yval, Xte, yte, n_classes: int, opts: dict, grid=None,
                   device="cpu", seed: int = 0, cancel: CancelToken | None = None, refit=None):
    """Task: choose ``HYPER[head]`` on the validation split, return a ``Selection`` (see the module doc; ``refit``:
    (features, labels) of the validation images to fit the chosen value on, with the training rows, at the end)."""
    if refit is None:
        return (yield from _select(head, Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, grid, device, seed,
                                   cancel))
    if Xval is None or len(Xval) == 0:
        raise ValueError("refit: there is no validation split to add to the training rows")
    Xr, yr = refit
    if len(Xr) != len(yval) or len(yr) != len(yval):
        raise ValueError(f"refit: {len(Xr)} rows / {len(yr)} labels for {len(yval)} validation images")
    # the choice on validation; its test scoring is skipped (an empty test split): the refit's are the run's
    empty = Xte[0:0]
    sel = yield from _select(head, Xtr, ytr, Xval, yval, empty, np.asarray(yte)[:0], n_classes, opts, grid, device,
                             seed, cancel)
    return (yield from _refit(head, sel, Xtr, ytr, Xr, yr, Xte, yte, n_classes, device, seed, cancel))


def _refit(head, sel: "Selection", Xtr, ytr, Xr, yr, Xte, yte, n_classes, device, seed, cancel):
    """Task: ``sel``'s chosen value fitted on the training rows followed by ``Xr`` (module doc), scoring ``Xte``."""
    from app.probe.headcore import RowStack
    from app.probe.heads import SHARES_PREPARED, TRAINERS

    check(cancel)
    t0 = time.perf_counter()
    X = RowStack(Xtr, Xr)
    y = np.concatenate([np.asarray(ytr, dtype=np.int64), np.asarray(yr, dtype=np.int64)])
    opts = dict(sel.best_opts)
    key = HYPER[head]
    kw = {}
    if head in SHARES_PREPARED:  # iterative: from the chosen fit's weights; the statistics of all the rows kept
        kw["prepared"] = prepare_once(X, y, Xte, opts, device)
        kw["init"] = sel.result.state
    prefix = f"refit on {len(Xtr):,} training + {len(Xr):,} validation images, {key} = {sel.best_value:g}: "
    res = yield from _without_eval_points(_relabel(TRAINERS[head](X, y, Xte, yte, n_classes, opts, device=device,
                                                                  seed=seed, cancel=cancel, **kw), prefix))
    stats = (kw["prepared"].mean, kw["prepared"].inv) if kw else None
    kw.clear()
    if stats is None and head != "knn":  # the exported head's standardisation: the refit's own statistics
        from app.probe.headcore import standardizer

        stats = standardizer(X, bool(opts.get("standardize", True)))
    it = (res.stop or {}).get("iterations")
    info = {"rows": int(len(X)), "train_rows": int(len(Xtr)), "val_rows": int(len(Xr)), key: sel.best_value,
            "iterations": None if it is None or head not in SHARES_PREPARED else int(it),  # closed forms: none
            "warm_start": head in SHARES_PREPARED,
            "seconds": round(time.perf_counter() - t0, 3)}
    # the run's curves stay the chosen fit's (their points are validation accuracy); its stop is the refit's
    result = replace(res, curves=sel.result.curves, seconds=sel.result.seconds + res.seconds)
    yield Progress(1, 1, f"refitted {key} = {sel.best_value:g} on {len(X):,} images")
    return replace(sel, result=result, stats=stats, refit=info)


def _select(head: str, Xtr, ytr, Xval, yval, Xte, yte, n_classes: int, opts: dict, grid, device, seed, cancel):
    """Task: the selection without a refit (``select_and_fit``)."""
    from app.probe.heads import SHARES_PREPARED, TRAINERS

    t0 = time.perf_counter()
    key = HYPER.get(head)
    if key is None:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(HYPER)}")
    values = sweep_order(head, DEFAULT_GRIDS[head] if grid is None else grid)
    if head == "knn":
        values = knn_values(values, len(Xtr), given=grid is not None)
    if Xval is None or len(Xval) == 0:
        value = values[0] if (grid is not None and len(values) == 1) else opts.get(key, values[0])
        if head == "knn" and grid is None:  # the head's default k: at most the training rows (what is used)
            value = max(1, min(int(value), len(Xtr)))
        best_opts = dict(opts, **{key: value})
        # the trainer scores the test split (its predictions are the run's), and would score it at its curve's
        # points too: those are not a validation figure, so the curve keeps none (no test figure while a head trains)
        result = yield from _without_eval_points(TRAINERS[head](Xtr, ytr, Xte, yte, n_classes, best_opts,
                                                                device=device, seed=seed, cancel=cancel))
        return Selection(value, best_opts, (), None, replace(result, curves=_unscored(result.curves)))
    if head == "knn":
        return (yield from _select_knn(Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, values, device, cancel, t0))
    if head == "ridge":
        return (yield from _select_ridge(Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, values, device, cancel,
                                         t0))
    table: list[tuple[Any, float]] = []
    iterations: list[int | None] = []
    best: tuple[float, Any, HeadResult] | None = None
    state = None
    # the standardised features once for every candidate (only ``key`` differs between their options)
    shared = {"prepared": prepare_once(Xtr, ytr, Xval, opts, device)} if head in SHARES_PREPARED else {}
    for j, value in enumerate(values):
        check(cancel)
        o = dict(opts, **{key: value})
        gen = TRAINERS[head](Xtr, ytr, Xval, yval, n_classes, o, device=device, seed=seed, cancel=cancel, init=state,
                             **shared)
        res = yield from _relabel(gen, f"{key} = {value:g} ({j + 1}/{len(values)}): ")
        state = res.state
        acc = _top1(res.scores, yval)
        table.append((value, acc))
        it = (res.stop or {}).get("iterations")
        iterations.append(None if it is None else int(it))
        if best is None or acc > best[0]:  # strictly better: ties keep the stronger regularisation
            best = (acc, value, res)
    acc, value, res = best
    best_opts = dict(opts, **{key: value})
    stats = (shared["prepared"].mean, shared["prepared"].inv) if shared else None
    shared.clear()  # the training and validation tensors go before the test features come (the same peak as before)
    test_scores = _linear_scores(Xtr, Xte, res.state, best_opts, device, stats).astype(np.float32)
    result = replace(res, scores=test_scores, seconds=time.perf_counter() - t0, settings=dict(res.settings))
    yield Progress(len(values), len(values), f"selected {key} = {value:g} (validation top-1 {100 * acc:.2f}%)")
    return Selection(value, best_opts, tuple(table), acc, result, tuple(iterations), stats)


def _unscored(curves) -> tuple:
    return tuple(replace(c, val_acc=None) for c in curves)


def _without_eval_points(gen):
    """Run a head's training task whose evaluation split is the test split (no validation split): the progress
    curve points it yields keep their loss and training accuracy, not their accuracy on that split (it is test, and
    the curve's is labelled validation)."""
    try:
        p = next(gen)
        while True:
            if isinstance(p.payload, CurvePoint):
                p = Progress(p.done, p.total, p.message, replace(p.payload, val_acc=None))
            yield p
            p = next(gen)
    except StopIteration as stop:
        return stop.value


def _relabel(gen, prefix: str):
    """Run a task, prefixing its progress messages (the sweep position)."""
    try:
        p = next(gen)
        while True:
            yield Progress(p.done, p.total, prefix + p.message, p.payload)
            p = next(gen)
    except StopIteration as stop:
        return stop.value


def _select_ridge(Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, values, device, cancel, t0):
    from app.probe.ridge import ridge_scores, ridge_state, ridge_system, ridge_weights
    from app.probe.headcore import stop_report

    system = yield from ridge_system(Xtr, ytr, n_classes, opts, device, cancel)
    table = []
    best = None
    for j, alpha in enumerate(values):
        check(cancel)
        W = ridge_weights(system, alpha)
        acc = _top1(ridge_scores(system, W, Xval, device).cpu().numpy(), yval)
        table.append((alpha, acc))
        yield Progress(j + 1, len(values), f"ridge: alpha = {alpha:g}, validation top-1 {100 * acc:.2f}%",
                       CurvePoint(j + 1, float(j + 1), float("nan"), None, acc))
        if best is None or acc > best[0]:
            best = (acc, alpha, W)
    acc, alpha, W = best
    scores = ridge_scores(system, W, Xte, device).cpu().numpy().astype(np.float32)
    best_opts = dict(opts, alpha=alpha)
    cp = CurvePoint(1, 1.0, float("nan"), None, acc)
    state = ridge_state(system, W)
    result = HeadResult(scores, (cp,), time.perf_counter() - t0, dict(best_opts, form=system.form),
                        stop_report("closed form", None, None, 1, True), state)
    return Selection(alpha, best_opts, tuple(table), acc, result)


def _select_knn(Xtr, ytr, Xval, yval, Xte, yte, n_classes, opts, values, device, cancel, t0):
    from app.probe.heads import knn_neighbours, knn_scores, train_knn

    k_max = max(values)
    labels, _ = yield from knn_neighbours(Xtr, ytr, Xval, opts, k_max, device, cancel)
    table = []
    best = None
    for k in values:  # largest k first: ties go to the smoother vote
        acc = _top1(knn_scores(labels, k, n_classes), yval)
        table.append((k, acc))
        if best is None or acc > best[0]:
            best = (acc, k)
    acc, k = best
    best_opts = dict(opts, k=k)
    res = yield from _without_eval_points(train_knn(Xtr, ytr, Xte, yte, n_classes, best_opts, device=device,
                                                    cancel=cancel))
    # its curve: the selected k's validation figure, as the ridge's (the test split's is the run's, not a curve's)
    return Selection(k, best_opts, tuple(table), acc, replace(res, seconds=time.perf_counter() - t0,
                                                              curves=(CurvePoint(1, 1.0, float("nan"), None, acc),)))

