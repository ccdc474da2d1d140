"""Linear heads (and k-NN) on frozen features, trained on the compute device.

Every head is a task generator ``train_X(Xtr, ytr, Xte, yte, n_classes, opts, device, seed, cancel)`` that yields
``Progress`` (payload: ``CurvePoint`` while it trains) and returns a ``HeadResult`` with the test scores (N_test, C).

- ``logistic``: softmax regression, mean cross-entropy + weight_decay/2 * ||W||^2 (so scikit-learn's ``C`` is
  ``1 / (weight_decay * n_train)``), full-batch L-BFGS (strong Wolfe; preconditioned by a Cholesky factor of the
  approximate Hessian up to 4096 features, its ridge at least ``PRECONDITION_FLOOR`` of its mean curvature) or
  minibatch Adam (learning rate ``lr``, 1e-3 where none is given or it is an L-BFGS step >= 0.5: ``adam_lr``, the
  rate used is recorded); L-BFGS stops when max |gradient| <= tol and the relative duality gap <= gap_tol
  (``relative_gap``: the gradient rule alone was met far from the optimum at small weight decays). On the CPU
  each L-BFGS evaluation's sums over rows run as row slices on single-threaded workers (``RowSlices``, issue 14).
- ``ridge``: closed form on one-vs-all targets (+1 / -1): primal (d x d) or dual (n x n, the extreme-learning-machine
  form) whichever is smaller, solved by Cholesky in float64.
- ``svm``: squared hinge, multi-class by Weston-Watkins (the probe's default) or one-vs-rest (LinearSVC's
  objective), preconditioned L-BFGS until the relative gradient norm and the relative duality gap are small
  (``app.probe.svm``).
- ``knn``: k nearest neighbours (euclidean on standardised features), votes weighted 1 + 1e-3/rank for ties.
Features are standardised with the training mean and standard deviation unless ``standardize`` is off.
"""

from __future__ import annotations

import math
import time
import numpy as np
import torch

from app.probe.config import CurvePoint
from app.probe.headcore import (ROW_CHUNK, ROW_SLICES, HeadResult, Prepared, RowSlices, accuracy,  # noqa: F401
                                class_scores, initial_weights, prepare, softmax_objective, standardizer, state_of,
                                stop_report, to_device)
from app.probe.lbfgs import lbfgs
from app.probe.ridge import train_ridge
from app.probe.svm import train_svm
from app.tasks import CancelToken, Progress, check
from app.threads import ThreadTuner

def _acc(scores: torch.Tensor, y: torch.Tensor) -> float:
    return accuracy(scores, y)


ADAM_LR = 1e-3  # Adam's learning rate where none is given
LBFGS_STEP = 0.5  # an ``lr`` this large is an L-BFGS step (``HEAD_DEFAULTS``' 1.0), not an Adam learning rate


def adam_lr(opts: dict) -> float:
    """The learning rate the Adam path uses for ``opts``: its ``lr``, except where there is none or it is an L-BFGS
    step (>= ``LBFGS_STEP``: the head options' default 1.0, merged into every probe's options): then ``ADAM_LR``.
    The head records the rate it used (``HeadResult.settings["lr"]``); the probe records it in its resolved options
    too, and refuses an Adam ``lr`` >= 0.5 the user gives (``app.probe.resolve.head_options``), so a run's record
    never names a rate it did not use. (Runs stored before recorded ``lr`` 1.0 and trained with 1e-3: this rule
    reruns them as they ran.)"""
    lr = opts.get("lr")
    if lr is None:
        return ADAM_LR
    lr = float(lr)
    return ADAM_LR if lr >= LBFGS_STEP else lr


# --- logistic ------------------------------------------------------------------------------------------------
PRECONDITION_MAX_FEATURES = 4096  # "auto": a d x d factor up to 64 MB, and its cost below a few L-BFGS evaluations
PARTIAL_BYTES = 256 * 2**20  # the d x d partial sums of a sliced S^T S: 16 of 2048 features, 4 of 4096


def preconditioner(A: torch.Tensor, wd: float, mode="auto", seed: int = 0, curvature: float = 0.01,
                   slices: RowSlices | None = None, floor: float = 0.0):
    """``(L, L^T, sqrt(c))`` with ``L L^T = c * S^T S / m + wd * I`` for a seeded sample S of m rows of A, or None.

    The softmax loss's Hessian is ``A^T diag(p(1-p)) A / n + wd I`` (per class, ignoring the coupling); with
    p(1-p) replaced by one constant c it is the matrix above. Optimising U = W L instead of W makes that matrix the
    identity: on 5000 x 2048 MNIST features L-BFGS then reaches the gradient tolerance in 27 iterations instead of
    100+ (scikit-learn's lbfgs: 215). The constant c = 0.01 was swept there (0.005-0.02 best).
    ``mode``: "auto" (when d <= PRECONDITION_MAX_FEATURES), "on"/True, "off"/False. ``slices`` (``RowSlices``):
    S^T S as a sum over row slices of S on its single-threaded workers (at most ``PARTIAL_BYTES`` of partial sums).
    ``floor``: the ridge is at least this fraction of the mean diagonal of ``c S^T S / m`` (the logistic head's
    ``PRECONDITION_FLOOR``; 0: ``wd`` itself).
    """
    n, d = A.shape
    if mode in (False, "off", "no", 0) or (mode == "auto" and d > PRECONDITION_MAX_FEATURES):
        return None
    if mode not in ("auto", "on", True, "yes", 1):
        raise ValueError(f"logistic: precondition must be auto, on or off, got {mode!r}")
    m = min(n, max(d, 1024))
    g = torch.Generator(device="cpu").manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:m].to(A.device)
    S = A[idx]
    if slices is None:
        M = S.T @ S
    else:  # row slices on single-threaded workers; at most PARTIAL_BYTES of d x d partial sums
        (M,) = slices.sum(lambda i, j: (S[i:j].T @ S[i:j],), m, parts=PARTIAL_BYTES // (4 * d * d))
    M *= curvature / m
    del S
    mean = float(M.diagonal().mean())
    ridge = max(wd, floor * mean) if wd > 0 else max(floor, 1e-6) * mean + 1e-12
    M.diagonal().add_(ridge)
    L, info = torch.linalg.cholesky_ex(M)
    del M
    if int(info) != 0:  # not positive definite in float32 (wd ~ 0 and collinear features): go without
        return None
    return L, L.T.contiguous(), math.sqrt(curvature)


def weight_gradient_max(flat_grad: torch.Tensor, pre, n_classes: int, d: int) -> float:
    """max |dloss/dW|, |dloss/db| from a flat gradient in the optimiser's coordinates: dW = dU L^T, db = dbu sqrt(c)."""
    gU, gb = flat_grad[:n_classes * d].view(n_classes, d), flat_grad[n_classes * d:]
    if pre is not None:
        L, _, bscale = pre
        gU, gb = gU @ L.T, gb * bscale
    return max(float(gU.abs().max()), float(gb.abs().max()))


MINIBATCH_SLICE_ROWS = 256  # Adam's minibatch rows per slice of its gradient sums (a fixed count per batch size)
LOGISTIC_GAP_TOL = 0.1  # relative duality gap (``relative_gap``; HEAD_DEFAULTS["logistic"]["gap_tol"])
PRECONDITION_FLOOR = 0.1  # the logistic preconditioner's ridge: at least this fraction of its mean curvature


def relative_gap(objective: float, grad_sq: float, wd: float) -> float:
    """The relative duality gap of the softmax objective at (W, b) for the intercepts as they are: the dual point
    of W is the model's own class probabilities (u_i = onehot(y_i) - p_i), and the gap
    ``primal - dual = |dP/dW|^2 / (2 wd)`` bounds how far the objective is above its optimum over W (the intercepts'
    own gradient is held to ``tol``); divided by the objective. ``inf`` without weight decay (no optimum is certain:
    a separable training set has none). On rdsn digits features (1,078 x 1,024, weight decay 1e-5 from zero) the
    preconditioned fit met max |gradient| <= 1e-4 after 11 iterations at 31% validation top-1 with this gap at 13
    (the optimum scores 98.5%): the gradient rule alone is met far from the optimum at a small weight decay."""
    if not wd > 0:
        return math.inf
    return grad_sq / (2.0 * wd) / max(abs(objective), 1e-30)


WARM_FLOOR = 1e-3  # a warm-started fit's tolerance is at least this fraction of the head's own ``tol``


def warm_tolerance(tol: float, gstart: float, gzero: float | None) -> float:
    """The max |gradient| at which a logistic fit stops: ``tol`` for a fit from zero; for a fit started from another
    weight decay's solution (a sweep's warm start), ``tol`` scaled by how much nearer its optimum it starts,
    ``tol * gstart / gzero`` (``gstart``: max |gradient| at its start, ``gzero``: at zero weights), so that every
    fit of a sweep reduces its starting gradient by the same factor a fit from zero does (``gzero / tol``), and not
    less than ``WARM_FLOOR * tol`` (float32 sums cannot resolve much finer gradients). With the plain ``tol`` a warm
    start already within it stopped at once: on MNIST's preset features weight decays 1e-4 and 1e-5 started from
    1e-3's solution at max |gradient| 2-5e-5 < 1e-4, took no iteration and were 1e-3's model again (validation
    "all 3 tie"); fitted from zero to tol 1e-6 they differ (docs/benchmarks/presets-selection.md, session 8)."""
    if gzero is None or not gzero > 0 or not math.isfinite(gzero) or not math.isfinite(gstart):
        return tol
    return min(tol, max(tol * gstart / gzero, WARM_FLOOR * tol))


def accuracy_due(n_iter: int, every: int) -> bool:
    """Whether iteration ``n_iter`` gets train/test accuracy points: every ``every`` iterations and, before the
    first of those, at 1, 2, 4, 8, ... (a preconditioned head often converges in a dozen iterations, and the curve
    should show how it got there). ``every`` <= 0: none (only the final point; benchmarks)."""
    if every <= 0:
        return False
    return n_iter % every == 0 or (n_iter < every and n_iter & (n_iter - 1) == 0)


def _number(opts: dict, key: str, default=None, head: str = "logistic") -> float:
    """Head option ``key`` as a float, or a ValueError naming it ("logistic: tol must be a number, got 'abc'")."""
    value = opts[key] if default is None else opts.get(key, default)
    if isinstance(value, bool):
        raise ValueError(f"{head}: {key} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{head}: {key} must be a number, got {value!r}") from None


def train_logistic(Xtr, ytr, Xte, yte, n_classes: int, opts: dict, device="cpu", seed: int = 0,
                   cancel: CancelToken | None = None, init: dict | None = None, prepared: Prepared | None = None):
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    wd = _number(opts, "weight_decay")
    epochs = int(_number(opts, "epochs"))
    every_opt = int(_number(opts, "eval_every", 10))
    if not wd >= 0 or math.isinf(wd):  # a negative penalty makes the loss unbounded below: the fit diverges
        raise ValueError(f"logistic: weight_decay must be 0 or more (0: no penalty), got {opts['weight_decay']!r}")
    if epochs < 0:  # 0: no iteration, the report is about the start
        raise ValueError(f"logistic: epochs must be 0 or more, got {opts['epochs']!r}")
    if not _number(opts, "lr", 1.0) > 0:
        raise ValueError(f"logistic: lr must be positive, got {opts.get('lr')!r}")
    A, B, y = prepare(Xtr, ytr, Xte, opts, device, prepared)
    yt = torch.from_numpy(np.asarray(yte, dtype=np.int64)).to(device)
    n, d = A.shape
    every = max(1, every_opt)
    W0, b0 = initial_weights(init, n_classes, d, device)  # (C, d): class_scores multiplies W A^T
    # max |gradient| at zero weights (the same for every weight decay): a warm start's scale (``warm_tolerance``)
    gzero = None if init is None else init.get("gzero")
    # (a start from this same weight decay's own solution keeps ``tol``: it is that fit continued, not a new one)
    scale = None if init is None or init.get("weight_decay") == wd else gzero
    tuner = ThreadTuner("head")  # in the thread that runs this task (app.threads; issue 14)
    Wt = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    curves: list[CurvePoint] = []
    stop = stop_report("none", None, None, 0, False)

    def point(step: int, epoch: float, loss: float, force: bool = False):
        with torch.no_grad():
            te = _acc(class_scores(B, Wt, b), yt) if force and len(yt) else None
            tr = _acc(class_scores(A[:20000], Wt, b), y[:20000]) if force else None
        cp = CurvePoint(step, epoch, loss, tr, te)
        curves.append(cp)
        return cp

    # the L-BFGS evaluations' row sums as slices on single-threaded workers (CPU), and the work around them with one
    # torch thread (``slices.evaluation()``): no team waits for a descheduled thread (issue 14); shut down at the end
    # (Adam's minibatch gradients too: a minibatch's sums over rows on a torch team also changed with the count; a
    # minibatch as one slice per ``MINIBATCH_SLICE_ROWS`` rows, at least 2: 16 slices of a 512-row batch took twice
    # the time of 2, measured on 20,000 x 2,048, 2 threads, quiet)
    full_batch = opts["optimizer"] == "lbfgs"
    n_slices = ROW_SLICES if full_batch else max(2, min(ROW_SLICES, math.ceil(
        max(1, int(_number(opts, "batch_size", 512))) / MINIBATCH_SLICE_ROWS)))
    with torch.enable_grad(), RowSlices(tuner.max, A.device, "head", slices=n_slices) as slices:
        if full_batch:
            tol = _number(opts, "tol", 1e-4)
            if not tol >= 0:  # 0: never met (the iteration cap or a stall ends the fit)
                raise ValueError(f"logistic: tol must be 0 or more, got {opts.get('tol')!r}")
            gap_tol = _number(opts, "gap_tol", LOGISTIC_GAP_TOL)
            if not gap_tol >= 0:
                raise ValueError(f"logistic: gap_tol must be 0 or more (0: never met), got {opts.get('gap_tol')!r}")
            with slices.evaluation():  # its Cholesky factor with one thread: the same bits whatever the count
                pre = preconditioner(A, wd, opts.get("precondition", "auto"), seed, slices=slices,
                                     floor=PRECONDITION_FLOOR) if n and d else None
            # with a preconditioner the optimiser works on U = W L, bu = b sqrt(c), where L L^T ~ the Hessian: a
            # nearly isotropic problem that L-BFGS solves in a fraction of the iterations (see ``preconditioner``)
            L, LT, bscale = pre if pre is not None else (None, None, 1.0)
            cd = n_classes * d
            recent: list[tuple[torch.Tensor, float]] = []  # (gradient returned, max |weight gradient|)
            evaluated: list[torch.Tensor] = []  # the last x whose weights Wt, b hold

            @torch.no_grad()
            def set_weights(x: torch.Tensor) -> None:
                U = x[:cd].view(n_classes, d)
                # W = U L^-1, i.e. L^T W^T = U^T: one triangular solve (no d x d inverse is ever formed)
                Wt.copy_(torch.linalg.solve_triangular(LT, U.T, upper=True).T if L is not None else U)
                b.copy_(x[cd:] / bscale)

            @torch.no_grad()
            def fun(x: torch.Tensor) -> tuple[float, torch.Tensor]:
                # one evaluation = one step (iterations differ in their line-search evaluations); on the CPU its
                # row sums as slices on single-threaded workers, the solves around them with one thread
                with tuner.step(), slices.evaluation():
                    return _fun(x)

            def _fun(x: torch.Tensor) -> tuple[float, torch.Tensor]:
                set_weights(x)
                evaluated[:] = [x]
                loss, gW, gb = softmax_objective(A, y, Wt, b, wd, slices)
                gmax = max(float(gW.abs().max()), float(gb.abs().max()))
                gap = relative_gap(float(loss), float(gW.square().sum()), wd)
                if L is not None:  # dU = dW L^-T, i.e. dU^T = L^-1 dW^T
                    gW, gb = torch.linalg.solve_triangular(L, gW.T, upper=False).T, gb / bscale
                g = torch.cat((gW.reshape(-1), gb))
                recent.append((g, gmax, gap))
                del recent[:-4]
                return float(loss), g

            start: list[float] = []  # max |gradient| at this fit's start point x0, and the tolerance it stops at

            def converged(g: torch.Tensor) -> bool:
                """Both rules: max |gradient| within this fit's limit, and the relative duality gap within
                ``gap_tol`` (the gradient alone is met far from the optimum at a small weight decay)."""
                if not start:  # the first call: the gradient at x0 (the line search's first evaluation)
                    start[:] = [recent[0][1], warm_tolerance(tol, recent[0][1], scale)]
                limit = start[1]
                for h, gmax, gap in reversed(recent):  # the line search hands back one of its evaluations (or a copy)
                    if h is g or torch.equal(h, g):
                        return gmax <= limit and (gap <= gap_tol or wd == 0)
                return False  # not one of the recent evaluations (cannot happen with the line search used): go on

            with slices.evaluation():
                x0 = torch.cat(((W0 @ L).reshape(-1) if L is not None else W0.reshape(-1), b0 * bscale))
            last_it = None
            x = x0  # epochs = 0: no iteration, the report is about the start
            for it, x in lbfgs(fun, x0, epochs, converged, history=20, lr=float(opts.get("lr", 1.0)),
                               scope=slices.evaluation):
                check(cancel)
                last = it.converged or it.stalled or it.n_iter >= epochs
                last_it = it
                with slices.evaluation():
                    if not torch.equal(x, evaluated[-1]):  # the line search's last evaluation need not be the iterate
                        set_weights(x)
                    cp = point(it.n_iter, float(it.n_iter), it.loss, force=last or accuracy_due(it.n_iter, every_opt))
                yield Progress(it.n_iter, epochs, f"training logistic head: iteration {it.n_iter}/{epochs}, "
                               f"loss {it.loss:.4f}", cp)
            if not torch.equal(x, evaluated[-1]):  # the final iterate's own gradient, for the report
                fun(x)
            gmax, gap = recent[-1][1], recent[-1][2]
            stop = stop_report("max |gradient|", gmax, tol, last_it.n_iter if last_it else 0,
                               gmax <= tol and (gap <= gap_tol or wd == 0))
            stop.update(duality_gap=gap if math.isfinite(gap) else None, gap_tolerance=gap_tol)
            # a warm start's own, tighter target (``warm_tolerance``): met where float32 sums allowed; the fit counts
            # as converged once within ``tol``, as a fit from zero does
            stop["warm_rule"] = "scaled"
            if start and start[1] < tol:
                stop["target"] = float(start[1])
                stop["target_met"] = bool(gmax <= start[1])
            if init is None and start:  # a fit from zero: its first gradient is the one at zero weights
                gzero = start[0]
            # stopped before its tolerance and its cap: the line search made no further progress (more iterations
            # would not help; ``app.probe.bench.convergence_note``)
            stop["stalled"] = bool(last_it is not None and last_it.stalled and not stop["converged"])
        elif opts["optimizer"] == "adam":
            bs = int(_number(opts, "batch_size", 512))
            if bs < 1:
                raise ValueError(f"logistic: batch_size must be a positive integer, got {opts.get('batch_size')!r}")
            lr = adam_lr(opts)  # the L-BFGS default step is no Adam learning rate (recorded as used, below)
            opt = torch.optim.Adam([Wt, b], lr=lr)
            steps_per_epoch = max(1, math.ceil(n / bs))
            total = epochs * steps_per_epoch
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
            g = torch.Generator(device="cpu").manual_seed(seed)
            step = 0
            for ep in range(epochs):
                perm = torch.randperm(n, generator=g).to(device)
                run_loss = 0.0
                for i in range(steps_per_epoch):
                    check(cancel)
                    idx = perm[i * bs:(i + 1) * bs]
                    # the minibatch's loss and gradient by hand, its row sums as the fixed slices (the same bits on
                    # any thread count); Adam's update is element-wise
                    with tuner.step(items=len(idx)), slices.evaluation(), torch.no_grad():
                        loss, gW, gb = softmax_objective(A[idx], y[idx], Wt.detach(), b.detach(), wd, slices)
                        Wt.grad, b.grad = gW, gb
                        opt.step()
                        sched.step()
                    run_loss += float(loss.detach())
                    step += 1
                cp = point(ep + 1, float(ep + 1), run_loss / steps_per_epoch,
                           force=(ep + 1) % max(1, every // 5) == 0 or ep + 1 == epochs)
                yield Progress(ep + 1, epochs, f"training logistic head: epoch {ep + 1}/{epochs}", cp)
            stop = stop_report("fixed number of epochs (Adam)", None, None, epochs, False)
        else:
            raise ValueError(f"logistic: optimizer must be lbfgs or adam, got {opts['optimizer']!r}")
        with torch.no_grad(), slices.evaluation():
            scores = class_scores(B, Wt, b).float().cpu().numpy()
    state = state_of(Wt, b)
    if gzero is not None:  # handed on to the next fit of a sweep that starts from this one's weights
        state.update(gzero=float(gzero), weight_decay=wd)
    settings = dict(opts)
    if opts["optimizer"] == "adam":  # the learning rate Adam used (not an L-BFGS step it replaced)
        settings["lr"] = adam_lr(opts)
    return HeadResult(scores, tuple(curves), time.perf_counter() - t0, settings, stop, state)


# --- k-NN -----------------------------------------------------------------------------------------------------
RETRIEVAL_K = (1, 5, 10)


def knn_neighbours(Xtr, ytr, Xte, opts: dict, k_max: int, device="cpu", cancel: CancelToken | None = None,
                   query_labels: np.ndarray | None = None):
    """Task: the labels of the ``k_max`` nearest training rows of every test row ((n_test, k_max) int64, nearest
    first; euclidean on standardised features), and given ``query_labels`` (the test labels) the per-query average
    precision and precision@RETRIEVAL_K over the whole training set as the database (``app.metrics``), as
    ``(labels, {"ap": (n_test,), "p@1": (n_test,), ...})``. One distance computation serves every k."""
    from app.metrics import average_precisions, precision_at_k

    A, B, y = prepare(Xtr, ytr, Xte, opts, device)
    k = max(1, min(int(k_max), len(A)))
    n_te = len(B)
    out = np.zeros((n_te, k), np.int64)
    retrieval = query_labels is not None
    per_query: dict[str, np.ndarray] = {}
    if retrieval:
        per_query = {"ap": np.zeros(n_te)} | {f"p@{r}": np.zeros(n_te) for r in RETRIEVAL_K}
    ylab = y.cpu().numpy()
    chunk = max(1, min(1024, (64 * 2**20) // max(1, 4 * len(A))))
    total = math.ceil(n_te / chunk)
    for j, i in enumerate(range(0, n_te, chunk)):
        check(cancel)
        dist = torch.cdist(B[i:i + chunk], A)
        if retrieval:
            order = torch.sort(dist, dim=1, stable=True).indices.cpu().numpy()
            ranked = ylab[order]
            out[i:i + chunk] = ranked[:, :k]
            del order
        else:
            out[i:i + chunk] = y[dist.topk(k, dim=1, largest=False).indices].cpu().numpy()
        yield Progress(j + 1, total, f"k-NN: {min(n_te, i + chunk)}/{n_te} test images")
        if retrieval:
            q = query_labels[i:i + chunk]
            per_query["ap"][i:i + chunk] = average_precisions(ranked, q)
            for r in RETRIEVAL_K:
                per_query[f"p@{r}"][i:i + chunk] = precision_at_k(ranked, q, r, per_query=True)
    return out, per_query


def knn_scores(neighbour_labels: np.ndarray, k: int, n_classes: int) -> np.ndarray:
    """Votes of the first ``k`` neighbours, each weighted 1 + 1e-3/rank (ties go to the nearer neighbours)."""
    k = max(1, min(int(k), neighbour_labels.shape[1]))
    weights = 1.0 + 1e-3 / np.arange(1, k + 1, dtype=np.float64)
    scores = np.zeros((len(neighbour_labels), n_classes), np.float64)
    for r in range(k):
        np.add.at(scores, (np.arange(len(neighbour_labels)), neighbour_labels[:, r]), weights[r])
    return scores.astype(np.float32)


def train_knn(Xtr, ytr, Xte, yte, n_classes: int, opts: dict, device="cpu", seed: int = 0,
              cancel: CancelToken | None = None):
    """k-NN classifier; beside it (``retrieval``, default on, when the test labels are known) the retrieval
    figures of the test rows as queries against the training set: ``extra`` = {"precision@1", "precision@5",
    "precision@10", "mAP"} (relevant = same class)."""
    t0 = time.perf_counter()
    k = max(1, min(int(opts["k"]), len(Xtr)))
    yte = np.asarray(yte, dtype=np.int64)
    retrieval = bool(opts.get("retrieval", True)) and len(yte) == len(Xte) and len(Xte) > 0
    labels, per_query = yield from knn_neighbours(Xtr, ytr, Xte, opts, k, device, cancel,
                                                  yte if retrieval else None)
    scores = knn_scores(labels, k, n_classes)
    extra = {}
    if retrieval:
        extra = {f"precision@{r}": float(np.mean(per_query[f"p@{r}"])) for r in RETRIEVAL_K}
        extra["mAP"] = float(np.nanmean(per_query["ap"])) if np.isfinite(per_query["ap"]).any() else float("nan")
        extra["retrieval_database"] = f"training set ({len(Xtr)} rows), queries: test set"
    te = float(np.mean(scores.argmax(1) == yte)) if len(yte) else None
    cp = CurvePoint(1, 1.0, float("nan"), None, te)
    yield Progress(1, 1, "k-NN done", cp)
    return HeadResult(scores, (cp,), time.perf_counter() - t0, dict(opts, k=k), stop_report("none", None, None, 0,
                                                                                              True), None, extra)


TRAINERS = {"logistic": train_logistic, "ridge": train_ridge, "svm": train_svm, "knn": train_knn}
SHARES_PREPARED = frozenset({"logistic", "svm"})  # trainers taking ``prepared=`` (a sweep makes it once for all fits)


def train_head(head: str, *args, **kw):
    if head not in TRAINERS:
        raise ValueError(f"unknown head {head!r}; choose one of {', '.join(TRAINERS)}")
    return (yield from TRAINERS[head](*args, **kw))
