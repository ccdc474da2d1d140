"""``main.py bench head``: our logistic head against scikit-learn's LogisticRegression on the same features.

Features are extracted once (cached), standardised once with the training statistics; both heads minimise the same
objective: mean cross-entropy + wd/2 * ||W||^2, i.e. scikit-learn's ``C = 1 / (wd * n_train)`` (lbfgs, multinomial,
intercept unpenalised in both). scikit-learn runs under ``threadpoolctl.threadpool_limits(1)`` (one BLAS thread) for
timing stability on this shared machine; ours uses torch with its configured threads on the compute device.
"""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np

from app.errors import UserError


def bench_dataset(args) -> str:
    """The benchmarks' dataset: ``--dataset``; else the embedded digits with ``--quick``; else MNIST where it loads
    (``--data-root``, or ../shared), the embedded digits otherwise."""
    from app.data import load

    if args.dataset:
        return args.dataset
    if args.quick:
        return "digits"
    try:
        load("mnist", "test", args.data_root)
        return "mnist"
    except Exception:  # noqa: BLE001 - no MNIST here: fall back to the embedded digits
        return "digits"


def bench_options(args, default: dict) -> dict:
    """``--options`` (a JSON object; UserError otherwise), else ``default``."""
    if not args.options:
        return dict(default)
    try:
        options = json.loads(args.options)
    except json.JSONDecodeError as exc:
        raise UserError(f"--options must be a JSON object, e.g. '{{\"k\": 512}}': {exc}") from None
    if not isinstance(options, dict):
        raise UserError(f"--options must be a JSON object, e.g. '{{\"k\": 512}}', got {args.options!r}")
    return options


def rdsn_default(backbone: str, options: dict) -> dict:
    """``options`` (a bench's default rdsn options) for rdsn, else none: each other backbone its own defaults."""
    return dict(options) if backbone == "rdsn" else {}


def check_positive(name: str, value, what: str = "a positive number") -> None:
    """UserError unless ``value`` (the option ``name``'s) is at least 1."""
    if value is None or value < 1:
        raise UserError(f"{name} must be {what}, got {value}")


def check_backbone(name: str) -> None:
    """UserError for a backbone name the registry does not know (before any data is loaded)."""
    from app.models import registry

    if name not in registry.names():
        raise UserError(f"--backbone {name!r}: unknown backbone; known: {', '.join(registry.names())}")


def check_feature_args(args, default_pooling: bool = False) -> None:
    """The arguments of ``bench_features`` that can be checked before any work: limits, backbone, options, pooling
    (``default_pooling``: None or "default" stand for the probe default, resolved later)."""
    from app.probe.extract import parse_pooling

    check_positive("--train-limit", args.train_limit, "a positive number of images")
    check_positive("--test-limit", args.test_limit, "a positive number of images")
    check_backbone(args.backbone)
    bench_options(args, {})
    if default_pooling and args.pooling in (None, "default"):
        return
    try:
        parse_pooling(args.pooling)
    except ValueError as exc:
        raise UserError(f"--pooling: {exc}") from None


def check_head_args(args) -> None:
    """``bench head``'s arguments, checked before any features are extracted (UserError)."""
    check_feature_args(args)
    if not (args.weight_decay > 0 and np.isfinite(args.weight_decay)):  # sklearn's C = 1 / (wd n): positive, finite
        raise UserError(f"--weight-decay must be positive (scikit-learn's C = 1 / (wd n)), got {args.weight_decay:g}")
    check_positive("--epochs", args.epochs, "at least 1 (our L-BFGS iterations)")


def bench_features(args, prefix: str = "bench head: "):
    """The cached features of ``args`` (dataset, backbone, options, layer, pooling, limits, seed): a dict with
    Xtr, Xte (float32), ytr, yte, n_classes, spec, layer, dataset, extract_seconds."""
    from app import device as devices
    from app.data import load
    from app.models.spec import ModelSpec
    from app.data.core import limited
    from app.probe import extract as ex
    from app.models.inputs import dataset_stats, input_spec
    from app.probe.run import build_model, effective_spec
    from app.tasks import cli_progress, run_to_end

    check_feature_args(args)
    dataset = bench_dataset(args)
    # the bench's own rdsn size; another backbone gets its own defaults (the k of rdsn is no option of lenet5)
    options = bench_options(args, rdsn_default(args.backbone, {"k": 32} if args.quick else {"k": 512}))
    if args.quick:
        train_limit, test_limit = min(args.train_limit, 600), min(args.test_limit, 200)
    else:
        train_limit, test_limit = args.train_limit, args.test_limit
    train = limited(load(dataset, "train", args.data_root), train_limit, args.seed)
    test = limited(load(dataset, "test", args.data_root), test_limit, args.seed)
    spec = effective_spec(ModelSpec.make(args.backbone, options=options), train)
    model = build_model(spec)
    n_layers = len(model.feature_info)
    layer = args.layer if args.layer >= 0 else n_layers + args.layer
    if not 0 <= layer < n_layers:
        raise UserError(f"--layer {args.layer}: {spec.backbone} has feature layers 0..{n_layers - 1} "
                        f"(or -{n_layers}..-1 from the end)")
    ispec = input_spec(spec, model, stats=dataset_stats(train))
    dev = devices.pick()
    whash = ex.weights_hash(model) + "|" + spec.key()
    feats, hits = [], []
    t0 = time.perf_counter()
    for split, ds, lim in (("train", train, train_limit), ("test", test, test_limit)):
        key = ex.cache_key(weights=whash, layer=layer, pooling=args.pooling, content=ex.content_digest(ds),
                           dataset=dataset, data_root=args.data_root, split=split, ispec=ispec, dtype="auto")
        f = run_to_end(ex.extract(model, ds.images, ispec, layer, args.pooling, device=dev, key=key,
                                  label=f"{split} features"), cli_progress(prefix))
        feats.append(np.asarray(f.array, dtype=np.float32))
        hits.append(bool(f.cache_hit))
    extract_seconds = time.perf_counter() - t0
    Xtr, Xte = feats
    return {"Xtr": Xtr, "Xte": Xte, "ytr": train.labels, "yte": test.labels, "n_classes": len(train.classes),
            "spec": spec, "layer": layer, "dataset": dataset, "extract_seconds": extract_seconds, "device": dev,
            # extract_seconds of features read from the cache is a read, not an extraction
            "features_cached": "both" if all(hits) else ("none" if not any(hits) else "train" if hits[0] else "test")}


def stop_rule(stop: dict | None) -> str:
    """The stopping rule a fit reports (``headcore.stop_report``), as text: "stopping at max |gradient| <= 0.0001
    and relative duality gap <= 0.1"."""
    stop = stop or {}
    text = f"stopping at {stop.get('criterion', '?')}"
    if stop.get("tolerance") is not None:
        text += f" <= {stop['tolerance']:g}"
    if stop.get("gap_tolerance") is not None:
        text += f" and relative duality gap <= {stop['gap_tolerance']:g}"
    return text


def bench_head(args, tuner=None) -> dict:
    """``tuner``: an ``app.threads.ThreadTuner`` timing our head's iterations (``bench load``), or None."""
    import torch

    from app.probe.config import HEAD_DEFAULTS
    from app.probe.heads import PRECONDITION_MAX_FEATURES, standardizer, train_logistic
    from app.tasks import run_to_end
    from app.threads import reports, tuned

    check_head_args(args)
    f = bench_features(args)
    Xtr, Xte, dev, spec, layer, dataset = f["Xtr"], f["Xte"], f["device"], f["spec"], f["layer"], f["dataset"]
    extract_seconds = f["extract_seconds"]

    ytr, yte = f["ytr"], f["yte"]

    n, d = Xtr.shape
    n_classes = f["n_classes"]
    wd = float(args.weight_decay)

    # ours (standardisation included in our time)
    # eval_every=0: no accuracy points while timing (only the final one)
    opts = dict(HEAD_DEFAULTS["logistic"], weight_decay=wd, epochs=int(args.epochs), eval_every=0)
    # warm-up on a tiny problem: torch.optim's first use pays one-time lazy imports (seconds), not training time
    run_to_end(train_logistic(Xtr[:20], ytr[:20], Xte[:5], yte[:5], n_classes,
                              dict(opts, epochs=2), device=dev, seed=args.seed))
    if tuner is not None:
        # the warm-up's own tuner (not nested: no outer tuner drove it) may have left torch at another count (it ends
        # in the middle of a trial of one thread fewer), and the timed fit's inner tuner, nested, never sets one: the
        # outer tuner's count is the one the timed fit starts at, and reports
        torch.set_num_threads(tuner.threads)
    t = time.perf_counter()
    task = train_logistic(Xtr, ytr, Xte, yte, n_classes, opts, device=dev, seed=args.seed)
    hr = run_to_end(task if tuner is None else tuned(task, tuner))
    ours_seconds = time.perf_counter() - t
    thread_report = tuner.report() if tuner is not None else reports().get("head")
    ours_top1 = float(np.mean(hr.scores.argmax(1) == yte))
    ours_steps = hr.curves[-1].step if hr.curves else 0

    # scikit-learn, on the same standardised features (standardisation not counted in its time)
    from sklearn.linear_model import LogisticRegression

    mean, inv = standardizer(Xtr, True)
    Atr = (Xtr - mean) * inv
    Ate = (Xte - mean) * inv
    C = 1.0 / (wd * n)
    clf = LogisticRegression(C=C, solver="lbfgs", max_iter=1000, tol=1e-4)
    sklearn_seconds, converged = timed_fit(clf, Atr, ytr)
    sk_top1 = float(np.mean(clf.predict(Ate) == yte))
    return {
        **versus(ours_seconds, sklearn_seconds, ours_top1, sk_top1),
        "ours_iterations": ours_steps,
        "sklearn_iterations": int(np.max(clf.n_iter_)),
        "ours_converged": (hr.stop or {}).get("converged"),
        "ours_stalled": (hr.stop or {}).get("stalled"),
        "sklearn_converged": converged,
        "convergence_note": convergence_note((hr.stop or {}).get("converged"), converged, hr.stop, int(args.epochs)),
        # the thread tuner's report of our timed fit (bench load's when it drives it): the count at the end is not
        # necessarily the one every iteration ran on
        "threads": thread_report,
        "settings": {
            "dataset": dataset, "n_train": n, "n_test": len(Xte), "n_features": d, "n_classes": n_classes,
            "backbone": spec.backbone, "options": dict(spec.options), "layer": layer, "pooling": args.pooling,
            "weight_decay": wd, "sklearn_C": C, "sklearn": "LogisticRegression(solver='lbfgs', max_iter=1000, "
            "tol=1e-4), standardised float32 features, threadpoolctl.threadpool_limits(1)",
            # the stopping rule and preconditioner as the fit reports them (a fixed text here went stale: it named
            # the gradient rule alone, where the head also stops on a duality gap)
            "ours": f"L-BFGS (strong Wolfe, history 20; {stop_rule(hr.stop)}), preconditioner "
                    f"{opts['precondition']} (used when d <= {PRECONDITION_MAX_FEATURES}), at most {args.epochs} "
                    f"iterations, full batch, "
                    f"after a tiny warm-up call, "
                    f"torch {torch.__version__}, {threads_used(thread_report)}",
            "device": device_text(dev, thread_report), "extract_seconds": round(extract_seconds, 3),
            "features_cached": f["features_cached"],
            "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        },
    }


def timed_fit(clf, X, y) -> tuple[float, bool]:
    """Fit a scikit-learn estimator with one BLAS thread (timing stability on a shared machine): (seconds, whether
    it converged, i.e. raised no ConvergenceWarning)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        t = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - t
    return seconds, not any(issubclass(w.category, ConvergenceWarning) for w in caught)


def ms(seconds: float) -> str:
    """A benchmark time for print: milliseconds with one decimal (a ratio of two printed times can be checked)."""
    return f"{1000 * seconds:.1f} ms"


def convergence_note(ours_converged: bool | None, sklearn_converged: bool | None, ours_stop: dict | None = None,
                     ours_cap: int | None = None) -> str:
    """What a speed-up does not say by itself: a side that stopped before its tolerance was timed on an unfinished
    fit ("" when both converged). Ours stopped either at its iteration cap (more iterations would go on) or, before
    it, because its L-BFGS line search made no further progress (``ours_stop["stalled"]``, or fewer iterations than
    ``ours_cap``): then raising the cap cannot help, and only the objectives say how close it came."""
    late = [who for who, ok in (("ours", ours_converged), ("scikit-learn", sklearn_converged)) if ok is False]
    if not late:
        return ""
    stop = ours_stop or {}
    its = stop.get("iterations")
    stalled = stop.get("stalled")
    if stalled is None and its is not None and ours_cap:
        stalled = int(its) < int(ours_cap)
    if "ours" not in late or not stalled:
        return (f"{' and '.join(late)} stopped at the iteration cap before reaching the tolerance: the speed-up times "
                f"{'an unfinished fit' if len(late) == 1 else 'two unfinished fits'} (raise --epochs / the cap, or "
                f"compare the objectives)")
    where = (f" at {its} of {ours_cap} iterations" if its is not None and ours_cap
             else f" after {its} iterations" if its is not None else "")
    text = (f"ours stalled{where} before reaching the tolerance (its line search made no further progress): raising "
            f"--epochs cannot help; compare the objectives to see how close it came")
    if "scikit-learn" in late:
        text += ("; scikit-learn stopped at its iteration cap before reaching its tolerance: the speed-up times its "
                 "unfinished fit")
    return text


def threads_used(report: dict | None) -> str:
    """The thread tuner's report of a timed fit (``ThreadTuner.report()``) in words: a fixed count, or the most it
    could use and what it did (the count at the end alone is not what every step ran on)."""
    if not report:
        return "threads not reported"
    n, top = int(report.get("threads") or 0), int(report.get("max") or 0)
    if not report.get("adaptive"):
        return f"{n} thread{'s' if n != 1 else ''} (fixed)"
    return (f"up to {top} thread{'s' if top != 1 else ''}, adapted to the load by the thread tuner "
            f"({report.get('trials', 0)} trials, {report.get('changes', 0)} changes; {n} at the end)")


def device_text(dev, report: dict | None) -> str:
    """The compute device; on the CPU with the thread tuner's report instead of the count of the moment."""
    from app import device as devices

    info = devices.describe(dev)
    return f"CPU ({threads_used(report)})" if info.kind == "cpu" else info.name


def versus(ours_seconds: float, sklearn_seconds: float, ours_top1: float, sklearn_top1: float) -> dict:
    """The figures every head benchmark prints: both times, the speed-up, both top-1 and their gap in points."""
    return {"ours_seconds": round(ours_seconds, 4), "sklearn_seconds": round(sklearn_seconds, 4),
            "speedup": round(sklearn_seconds / max(ours_seconds, 1e-9), 2), "ours_top1": ours_top1,
            "sklearn_top1": sklearn_top1, "top1_gap_points": round(100 * (sklearn_top1 - ours_top1), 3)}
