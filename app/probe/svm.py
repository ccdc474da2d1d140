"""Linear SVM head: multi-class one-vs-rest, squared hinge, the objective of scikit-learn's ``LinearSVC``.

Per class c (labels +1 for c, -1 for the rest), with the intercept penalised like ``LinearSVC`` (``intercept_scaling
= 1``: the intercept is the weight of a constant feature 1)::

    0.5 * (||w_c||^2 + b_c^2) + C * sum_i max(0, 1 - y_ic (w_c . x_i + b_c))^2

All classes are optimised together (the sum of the per-class objectives, divided by C n for scale: the same
minimiser) by full-batch L-BFGS (``app.probe.lbfgs``, strong Wolfe), in coordinates preconditioned by
``c S^T S / m + I / (C n)`` (the generalised Hessian with the active fraction replaced by a constant): its exact
Cholesky factor up to ``PRECONDITION_MAX_FEATURES`` features (the logistic head's ``preconditioner``), a randomized
Nystrom approximation of rank ``NYSTROM_RANK`` above (``app.probe.precond``). Stopping rule, reported in
``HeadResult.stop``, both of: the Euclidean norm of the gradient (weights and intercepts, original coordinates) <=
``tol`` x its norm at zero weights (liblinear's primal rule; independent of a warm start), and the relative duality
gap (primal - dual) / primal <= ``gap_tol`` (``objective_and_gap``; the dual point alpha = 2 C margin). The gradient
rule alone is met far from the optimum at large C (the gradient at zero is ~ C n; measured on MNIST features at
C = 1: objective 7.37 against an optimum of 4.92), which made every C >= 0.1 of a warm-started sweep end where the
previous one did; the gap bounds the distance from the optimum whatever C.
``init``: a previous fit's ``state`` (warm start, e.g. the next C of a sweep).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from app.probe.config import CurvePoint
from app.probe.headcore import (ROW_SLICES, HeadResult, Prepared, RowSlices, accuracy, class_scores, in_blocks,
                                initial_weights, prepare, state_of, stop_report)
from app.probe.lbfgs import lbfgs
from app.probe.precond import NYSTROM_RANK, NYSTROM_ROWS, Cholesky, Identity, nystrom
from app.tasks import CancelToken, Progress, check
from app.threads import ThreadTuner

SVM_TOL = 1e-4  # relative gradient norm (liblinear's primal rule is about 1e-5 for 10 one-vs-rest classes)
SVM_GAP_TOL = 1e-3  # relative duality gap: (primal - dual) / primal
STOP_CRITERION = ("gradient norm / gradient norm at zero weights <= tol, and duality gap / objective <= gap_tol "
                  "(value: the gradient ratio; duality_gap: the gap ratio)")
SVM_CURVATURE = 0.1  # the preconditioner's constant c (the Hessian's 2 x active fraction, swept on digits/MNIST)


def svm_objective(A: torch.Tensor, Ypm: torch.Tensor, W: torch.Tensor, b: torch.Tensor, C: float):
    """(loss, dW, db) of the scaled objective 0.5/(C n) (|W|^2 + |b|^2) + mean_i sum_c squared hinge."""
    loss, gW, gb, _ = objective_and_gap(A, Ypm, W, b, C)
    return loss, gW, gb


def objective_and_gap(A: torch.Tensor, Ypm: torch.Tensor, W: torch.Tensor, b: torch.Tensor, C: float,
                      slices: RowSlices | None = None):
    """(loss, dW, db, relative duality gap) of the scaled objective (``svm_objective``).

    The dual point of (W, b) is alpha_ic = 2 C margin_ic; in the scaled units (objective / (C n)) the dual objective
    is (2 sum m - sum m^2) / n - |G|^2 / (2 lam), G the data part of the gradient (-2/n sum_i m_i y_i [x_i 1]), and
    (primal - dual) / primal bounds the relative distance of the primal objective from its optimum (liblinear's dual
    solvers stop on the same kind of bound). Costs nothing beyond the gradient: every term is already computed.
    ``slices`` (``RowSlices``): the sums over rows as fixed row slices (the same bits whatever the thread count)."""
    n = len(A)

    def part(i: int, j: int) -> tuple:
        margin = torch.clamp_(1 - Ypm[i:j] * class_scores(A[i:j], W, b), min=0)
        return _row_sums(A[i:j], margin, lambda m: m.mul_(Ypm[i:j]).mul_(-2.0 / n))

    part = in_blocks(part, A)  # large slices in cache-sized blocks (each row is read twice)
    return _with_gap(W, b, C, n, slices.sum(part, n) if slices is not None else part(0, n))


def ww_objective_and_gap(A: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor, C: float,
                         slices: RowSlices | None = None):
    """(loss, dW, db, relative duality gap) of the Weston-Watkins multi-class squared hinge, scaled like
    ``svm_objective``: 0.5/(C n) (|W|^2 + |b|^2) + mean_i sum_{j != y_i} max(0, 1 - (s_iy - s_ij))^2.

    One problem for all classes (the scores compete, as in softmax regression) instead of K independent one-vs-rest
    problems. Its Fenchel dual has the same form as the one-vs-rest one with the margins m_ij (j != y_i) in place of
    the one-vs-rest margins (dual point beta = 2 C m): the gap is computed by the same formula."""
    n = len(A)

    def part(i: int, j: int) -> tuple:
        yi = y[i:j, None]
        S = class_scores(A[i:j], W, b)
        margin = torch.clamp_(S.sub_(S.gather(1, yi)).add_(1.0), min=0)
        margin.scatter_(1, yi, 0.0)

        def scores_gradient(m: torch.Tensor) -> torch.Tensor:
            dz = m.mul_(2.0 / n)
            return dz.scatter_(1, yi, -dz.sum(1, keepdim=True))

        return _row_sums(A[i:j], margin, scores_gradient)

    part = in_blocks(part, A)  # large slices in cache-sized blocks (each row is read twice)
    return _with_gap(W, b, C, n, slices.sum(part, n) if slices is not None else part(0, n))


def _row_sums(A: torch.Tensor, margin: torch.Tensor, scores_gradient) -> tuple:
    """The sums over these rows that the loss, gradient and gap need: (sum m^2, sum m) in float64 (the line search
    compares losses that differ in the 7th digit near the optimum), dW and db of the mean loss; from their margins
    (rows, K) and the map margins -> d(mean loss)/d(scores) (which may reuse the margins' memory)."""
    m64 = margin.double()
    msq = (m64 * m64).sum()
    msum = m64.sum()
    dz = scores_gradient(margin)
    return msq, msum, dz.T @ A, dz.sum(0)


def _with_gap(W, b, C: float, n: int, sums: tuple):
    """The loss, gradient and relative duality gap shared by both problems, from the row sums (``_row_sums``)."""
    msq, msum, dW, db = sums
    msq, msum = float(msq), float(msum)
    lam = 1.0 / (C * n)
    penalty = float(W.double().square().sum()) + float(b.double().square().sum())
    loss = msq / n + 0.5 * lam * penalty
    data2 = float(dW.double().square().sum()) + float(db.double().square().sum())
    dual = (2.0 * msum - msq) / n - 0.5 * data2 / lam
    gap = (loss - dual) / max(abs(loss), 1e-300)
    return loss, dW.add_(W, alpha=lam), db.add_(b, alpha=lam), gap


MULTICLASS = ("ovr", "ww")  # one-vs-rest (LinearSVC's), Weston-Watkins (one multi-class problem)


def coordinates(A: torch.Tensor, lam: float, mode, seed: int, curvature: float, opts: dict):
    """The preconditioner of ``mode`` (``app.probe.precond``): "auto" = the exact Cholesky factor up to
    ``PRECONDITION_MAX_FEATURES`` features, the Nystrom approximation above; "on"/True (Cholesky), "nystrom",
    "off"/False."""
    from app.probe.heads import PRECONDITION_MAX_FEATURES, preconditioner

    n, d = A.shape
    if not (n and d) or mode in (False, "off", "no", 0):
        return Identity()
    if mode == "nystrom" or (mode == "auto" and d > PRECONDITION_MAX_FEATURES):
        try:
            return nystrom(A, lam, curvature, seed, int(opts.get("nystrom_rank", NYSTROM_RANK)),
                           int(opts.get("nystrom_rows", NYSTROM_ROWS)))
        except ValueError:  # a degenerate sketch (constant features): go without
            return Identity()
    if mode not in ("auto", "on", True, "yes", 1):
        raise ValueError(f"svm: precondition must be auto, on, nystrom or off, got {mode!r}")
    pre = preconditioner(A, lam, "on", seed, curvature)
    return Identity() if pre is None else Cholesky(*pre)


def train_svm(Xtr, ytr, Xte, yte, n_classes: int, opts: dict, device="cpu", seed: int = 0,
              cancel: CancelToken | None = None, init: dict | None = None, prepared: Prepared | None = None):
    from app.probe.heads import accuracy_due

    t0 = time.perf_counter()
    A, B, y = prepare(Xtr, ytr, Xte, opts, device, prepared)
    precision = opts.get("precision", "float32")
    if precision not in ("float32", "float64"):
        raise ValueError(f"svm: precision must be float32 or float64, got {precision!r}")
    dtype = torch.float64 if precision == "float64" else torch.float32  # float64: tests against references
    A, B = A.to(dtype), B.to(dtype)
    yt = torch.from_numpy(np.asarray(yte, dtype=np.int64)).to(device)
    n, d = A.shape
    C = float(opts["C"])
    if not C > 0:
        raise ValueError(f"svm: C must be positive, got {C}")
    max_iter = int(opts["epochs"])
    tol = float(opts.get("tol", SVM_TOL))
    gap_tol = float(opts.get("gap_tol", SVM_GAP_TOL))
    if not (tol >= 0 and gap_tol >= 0):  # 0: never met (the other rule, the iteration cap or a stall ends it)
        raise ValueError(f"svm: tol and gap_tol must be >= 0, got {tol} and {gap_tol}")
    every_opt = int(opts.get("eval_every", 10))
    multiclass = opts.get("multiclass", "ovr")
    if multiclass not in MULTICLASS:
        raise ValueError(f"svm: multiclass must be one of {', '.join(MULTICLASS)}, got {multiclass!r}")
    if multiclass == "ovr":
        Ypm = -torch.ones(n, n_classes, device=device, dtype=dtype)
        Ypm[torch.arange(n, device=device), y] = 1.0

        def objective(W_, b_):
            return objective_and_gap(A, Ypm, W_, b_, C, slices)
    else:
        def objective(W_, b_):
            return ww_objective_and_gap(A, y, W_, b_, C, slices)
    lam = 1.0 / (C * n)
    W0, b0 = initial_weights(init, n_classes, d, device)
    W0, b0 = W0.to(dtype), b0.to(dtype)
    tuner = ThreadTuner("head")  # in the thread that runs this task
    # every sum over rows as ROW_SLICES fixed slices on single-threaded workers and the work around them with one torch
    # thread (``RowSlices.evaluation``): the same fit, bit for bit, whatever the thread count (it was not: the same
    # run on one thread and on two stopped C = 1 after 202 and 37 iterations); shut down at the end
    with torch.no_grad(), RowSlices(tuner.max, A.device, "svm", slices=ROW_SLICES) as slices:
        with slices.evaluation():
            # the gradient at zero weights (every margin 1): the reference of the stopping rule (independent of a warm
            # start)
            _, gW0, gb0, _ = objective(torch.zeros(n_classes, d, device=device, dtype=dtype),
                                       torch.zeros(n_classes, device=device, dtype=dtype))
            g0 = max(math.sqrt(float(gW0.square().sum()) + float(gb0.square().sum())), 1e-30)
            curvature = float(opts.get("curvature", SVM_CURVATURE))
            pre = coordinates(A, lam, opts.get("precondition", "auto"), seed, curvature, opts)
        bscale = pre.bscale
        cd = n_classes * d
        W = W0.clone()
        b = b0.clone()
        recent: list[tuple[torch.Tensor, float, float]] = []  # (gradient in coordinates, relative norm, gap)
        evaluated: list[torch.Tensor] = []

        def set_weights(x: torch.Tensor) -> None:
            W.copy_(pre.weights(x[:cd].view(n_classes, d)))
            b.copy_(x[cd:] / bscale)

        def fun(x: torch.Tensor):
            # one evaluation = one step of the thread tuner (app.threads; issue 14)
            with tuner.step(), slices.evaluation():
                return _fun(x)

        def _fun(x: torch.Tensor):
            set_weights(x)
            evaluated[:] = [x]
            loss, gW, gb, gap = objective(W, b)
            rel = math.sqrt(float(gW.square().sum()) + float(gb.square().sum())) / g0
            g = torch.cat((pre.to_coords(gW).reshape(-1), gb / bscale))
            recent.append((g, rel, gap))
            del recent[:-32]  # a line search evaluates up to 25 points; the accepted one is among them
            return loss, g

        def done(g: torch.Tensor) -> bool:
            """Both rules: the relative gradient norm (liblinear's primal rule) and the relative duality gap (a bound
            on the distance from the optimum that the gradient rule alone does not give at large C)."""
            for h, rel, gap in reversed(recent):
                if h is g or torch.equal(h, g):
                    return rel <= tol and gap <= gap_tol
            return False  # not one of the recent evaluations (cannot happen with the line search used): go on

        with slices.evaluation():
            x0 = torch.cat((pre.coords(W0).reshape(-1), b0 * bscale))
        curves: list[CurvePoint] = []
        last_it = None
        for it, x in lbfgs(fun, x0, max_iter, done, history=20, lr=float(opts.get("lr", 1.0)),
                           tolerance_change=1e-13, scope=slices.evaluation):
            check(cancel)
            last_it = it
            last = it.converged or it.stalled or it.n_iter >= max_iter
            with slices.evaluation():
                if not torch.equal(x, evaluated[-1]):
                    set_weights(x)
                ev = last or accuracy_due(it.n_iter, every_opt)
                te = accuracy(class_scores(B, W, b), yt) if ev and len(yt) else None
                tr = accuracy(class_scores(A[:20000], W, b), y[:20000]) if ev else None
            cp = CurvePoint(it.n_iter, float(it.n_iter), it.loss, tr, te)
            curves.append(cp)
            yield Progress(it.n_iter, max_iter, f"training linear SVM: iteration {it.n_iter}/{max_iter}, "
                           f"loss {it.loss:.4f}", cp)
        with slices.evaluation():
            scores = class_scores(B, W, b).float().cpu().numpy()
            rel, gap = (recent[-1][1], recent[-1][2]) if recent else (float("nan"), float("nan"))
            if last_it is not None:
                # the values at the final iterate (the line search's last evaluation may be another point)
                _, gW, gb, gap = objective(W, b)
                rel = math.sqrt(float(gW.square().sum()) + float(gb.square().sum())) / g0
    stop = stop_report(STOP_CRITERION, rel, tol, last_it.n_iter if last_it else 0, rel <= tol and gap <= gap_tol)
    stop.update(duality_gap=float(gap), gap_tolerance=gap_tol,
                # stopped before its tolerance and its cap: the line search made no further progress
                stalled=bool(last_it is not None and last_it.stalled and not stop["converged"]))
    settings = dict(opts, multiclass=multiclass, intercept="penalised (LinearSVC intercept_scaling=1)",
                    preconditioned=pre.kind != "none", preconditioner=pre.kind)
    return HeadResult(scores, tuple(curves), time.perf_counter() - t0, settings, stop, state_of(W, b))
