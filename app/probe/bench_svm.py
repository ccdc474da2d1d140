"""``main.py bench svm``: our linear SVM head against scikit-learn's ``LinearSVC`` on the same standardised features,
both scored on the one objective they minimise (``svm_quality``), and the C that the benchmark uses (``DEFAULT_C``,
selected on validation: ``C_CHOICE``; ``select_C`` for another grid)."""

from __future__ import annotations

import os
import time

import numpy as np

from app.probe.bench import bench_features, convergence_note, device_text, threads_used, timed_fit, versus


def bench_svm(args) -> dict:
    """Our linear SVM head vs scikit-learn's ``LinearSVC`` (one-vs-rest, squared hinge, the same C, the intercept a
    penalised constant feature in both: ``intercept_scaling=1``) on the same standardised features.

    Both solutions are also scored on the one objective they minimise (``svm_quality``: the sum over classes of
    LinearSVC's primal objective, and the gradient norm relative to its norm at zero weights, our stopping rule), so
    that the report says how converged each side is, whatever its own stopping rule. LinearSVC's solver: ``--dual``
    (default True: liblinear's dual coordinate descent; "auto" picks the primal trust-region Newton solver when
    n_train >= n_features, which on the default 10,000 x 9,216 features ran > 14 minutes)."""
    import torch

    from app.probe.config import probe_defaults
    from app.probe.heads import standardizer
    from app.probe.svm import SVM_CURVATURE, train_svm
    from app.tasks import run_to_end
    from app.threads import reports

    d0 = probe_defaults(args.backbone)
    if args.layer is None:
        args.layer = d0["layer"]
    if args.pooling in (None, "default"):
        args.pooling = d0["pooling"]
    if args.options is None and not args.quick:
        args.options = "{}"  # the backbone's own defaults (rdsn: k = 1024, 2 blocks)
    f = bench_features(args, "bench svm: ")
    Xtr, Xte, ytr, yte, dev = f["Xtr"], f["Xte"], f["ytr"], f["yte"], f["device"]
    n, d = Xtr.shape
    n_classes = f["n_classes"]
    tol = float(args.tol) if args.tol is not None else BENCH_TOL
    opts = {"C": float(args.C), "epochs": int(args.epochs), "tol": tol, "standardize": True, "eval_every": 0,
            "multiclass": "ovr"}  # LinearSVC's problem (the default may differ), the one compared
    run_to_end(train_svm(Xtr[:20], ytr[:20], Xte[:5], yte[:5], n_classes, dict(opts, epochs=2), device=dev))  # warm-up
    selection = None
    if getattr(args, "select_C", None):
        selection = select_C(Xtr, ytr, n_classes, opts, args.select_C, int(args.val), args.seed, dev)
        opts["C"] = selection["C"]
    C = float(opts["C"])
    given = getattr(args, "C_given", None)  # set by the command (cmd_bench_svm): whether --C was given
    if given is None:  # a caller that fills args.C itself: a C other than the default is its own
        given = C != DEFAULT_C
    if selection is not None:
        chosen = f"selected on validation ({selection['n_val']} of the {n} training images, seed {args.seed})"
    elif given:
        chosen = "given (--C)"
    else:
        chosen = "fixed (the --quick default)" if args.quick else C_CHOICE
    t = time.perf_counter()
    hr = run_to_end(train_svm(Xtr, ytr, Xte, yte, n_classes, opts, device=dev, seed=args.seed))
    ours_seconds = time.perf_counter() - t
    thread_report = reports().get("head")  # the timed fit's own tuner (its latest "head" tuner)
    ours_top1 = float(np.mean(hr.scores.argmax(1) == yte))

    from sklearn.svm import LinearSVC

    mean, inv = standardizer(Xtr, True)
    Atr = (Xtr - mean) * inv
    Ate = (Xte - mean) * inv
    dual = args.dual
    sk_tol = float(args.sklearn_tol)
    clf = LinearSVC(C=C, loss="squared_hinge", dual=dual, tol=sk_tol, max_iter=int(args.sklearn_max_iter),
                    intercept_scaling=1.0)
    sklearn_seconds, converged = timed_fit(clf, Atr, ytr)
    sk_scores = clf.decision_function(Ate)
    sk_top1 = float(np.mean(sk_scores.argmax(1) == yte))
    ours_q = svm_quality(Atr, ytr, hr.state["W"], hr.state["b"], C, n_classes)
    sk_q = svm_quality(Atr, ytr, clf.coef_, clf.intercept_, C, n_classes)
    return {
        **versus(ours_seconds, sklearn_seconds, ours_top1, sk_top1),
        "max_decision_difference": float(np.abs(hr.scores - sk_scores).max()),
        "iterations": hr.stop["iterations"],
        "stop": hr.stop,
        "sklearn_iterations": int(np.max(clf.n_iter_)),
        "sklearn_converged": converged,
        "convergence_note": convergence_note((hr.stop or {}).get("converged"), converged, hr.stop, int(args.epochs)),
        "threads": thread_report,
        "ours_objective": ours_q["objective"], "sklearn_objective": sk_q["objective"],
        "objective_relative_difference": (ours_q["objective"] - sk_q["objective"]) / max(abs(sk_q["objective"]),
                                                                                             1e-30),
        "ours_relative_gradient": ours_q["relative_gradient"], "sklearn_relative_gradient": sk_q["relative_gradient"],
        "ours_duality_gap": ours_q["relative_duality_gap"], "sklearn_duality_gap": sk_q["relative_duality_gap"],
        "settings": {
            "dataset": f["dataset"], "n_train": n, "n_test": len(Xte), "n_features": d, "n_classes": n_classes,
            "backbone": f["spec"].backbone, "options": dict(f["spec"].options), "layer": f["layer"],
            "pooling": args.pooling, "C": C, "C_chosen": chosen, "selection": selection,
            "tol": tol, "max_iterations": int(args.epochs),
            "sklearn": f"LinearSVC(C={C}, loss='squared_hinge', dual={dual!r}, tol={sk_tol:g}, "
                       f"max_iter={args.sklearn_max_iter}, intercept_scaling=1) (liblinear, one thread), "
                       "standardised float32 features, threadpoolctl.threadpool_limits(1)",
            "ours": f"one-vs-rest squared hinge, intercept penalised (as LinearSVC), full-batch L-BFGS (strong Wolfe, "
                    f"history 20), preconditioner {hr.settings.get('preconditioner')} (c = {SVM_CURVATURE}), "
                    f"stopping: {(hr.stop or {}).get('criterion', '?')}, after a tiny warm-up call, "
                    f"torch {torch.__version__}, {threads_used(thread_report)}",
            "objective": "sum over classes of 0.5 (|w|^2 + b^2) + C sum_i max(0, 1 - y_i (w.x_i + b))^2 on the "
                         "training features; relative gradient: its gradient norm / the norm at zero weights; "
                         "duality gap: (objective - dual objective at alpha = 2 C margins) / objective",
            "device": device_text(dev, thread_report), "extract_seconds": round(f["extract_seconds"], 3),
            "features_cached": f["features_cached"],
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        },
    }


# The bench's default C, chosen on VALIDATION (never test): ``bench svm --select-C 1e-4,1e-3,1e-2,0.1,1`` (2,000 of
# the 10,000 default training images held out, seed 0); see docs/benchmarks/probe.md#linear-svm-head.
DEFAULT_C = 0.01
C_CHOICE = ("selected on validation: 1,999 of the 10,000 training images held out (stratified, seed 0), "
            "grid 1e-4..1, by `bench svm --select-C 1e-4,1e-3,1e-2,0.1,1`")
# Our stopping tolerance here: liblinear's primal rule for LinearSVC's tol = 1e-4 with 10 one-vs-rest classes
# (|gradient| <= tol x min(#positive, #negative) / n x |gradient at zero| ~ 1e-5 |gradient at zero|)
BENCH_TOL = 1e-5


def select_C(Xtr, ytr, n_classes: int, opts: dict, grid, n_val: int, seed: int, device) -> dict:
    """Choose C on a seeded stratified validation split of the TRAINING features (our head, warm-started sweep,
    ``app.probe.selection``); the test features are not involved. Returns {"C", "table", "val_top1", "n_val"}."""
    from app.probe.selection import select_and_fit
    from app.tasks import run_to_end

    ytr = np.asarray(ytr)
    n = len(ytr)
    if not 0 < n_val < n:
        from app.errors import UserError

        raise UserError(f"bench svm: --val must be between 1 and {n - 1}, got {n_val}")
    from app.data.core import validation_indices

    # the probe's validation split: stratified, exactly n_val images (per-class rounding held out 201 for --val 200)
    val = np.zeros(n, bool)
    val[validation_indices(ytr, n_val, seed)] = True
    tr = ~val
    # validation stands in for the test set while choosing
    sel = run_to_end(select_and_fit("svm", Xtr[tr], ytr[tr], Xtr[val], ytr[val], Xtr[val], ytr[val], n_classes,
                                    opts, grid=list(grid), device=device, seed=seed))
    return {"C": float(sel.best_value), "table": [[float(v), float(a)] for v, a in sel.table],
            "val_top1": sel.val_top1, "n_val": int(val.sum())}


def svm_quality(A: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray, C: float, n_classes: int) -> dict:
    """LinearSVC's one-vs-rest primal objective of (W, b) on standardised training features A, summed over the
    classes, and the norm of its gradient relative to the norm at zero weights (float64 accumulation)."""
    import torch

    n = len(A)
    At = torch.from_numpy(np.ascontiguousarray(A, dtype=np.float32))
    Wt = torch.from_numpy(np.asarray(W, dtype=np.float32))
    bt = torch.from_numpy(np.asarray(b, dtype=np.float32))
    Y = -torch.ones(n, n_classes)
    Y[torch.arange(n), torch.from_numpy(np.asarray(y, dtype=np.int64))] = 1.0
    margin = torch.clamp(1 - Y * torch.nn.functional.linear(At, Wt, bt), min=0)
    penalty = float(Wt.double().square().sum()) + float(bt.double().square().sum())
    objective = 0.5 * penalty + C * float(margin.double().square().sum())
    dz = -2.0 * C * margin * Y  # d objective / d scores
    gW = Wt.double() + (dz.T @ At).double()
    gb = bt.double() + dz.sum(0).double()
    g0W, g0b = (-2.0 * C * Y.T @ At).double(), (-2.0 * C * Y.sum(0)).double()
    g = float(torch.sqrt(gW.square().sum() + gb.square().sum()))
    g0 = float(torch.sqrt(g0W.square().sum() + g0b.square().sum()))
    # the dual point of (W, b): alpha_i = 2 C margin_i, v = sum_i alpha_i y_i [x_i 1] = [W b] - gradient; the dual
    # objective sum alpha - |v|^2 / 2 - sum alpha^2 / (4 C) is a lower bound of the optimum, so objective - dual
    # bounds how far (W, b) is from it
    v2 = float((Wt.double() - gW).square().sum() + (bt.double() - gb).square().sum())
    m64 = margin.double()
    dual = 2.0 * C * float(m64.sum()) - 0.5 * v2 - C * float(m64.square().sum())
    return {"objective": objective, "relative_gradient": g / max(g0, 1e-30),
            "relative_duality_gap": (objective - dual) / max(abs(objective), 1e-30)}
