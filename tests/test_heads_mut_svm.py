"""The linear SVM head in detail, against numpy by hand: the objective and its gradient, the reported stopping value,
the curve and progress a user reads, the settings recorded, the options honoured (tol, eval_every, precondition,
precision) and their refusals. Written against the surviving mutants of a mutmut run (docs/testing.md)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from app.probe.heads import accuracy_due
from app.probe.svm import STOP_CRITERION, SVM_TOL, svm_objective, train_svm
from app.tasks import CancelToken, Cancelled, run_to_end
from head_helpers import standardised, drain as _drain


def _problem(n=120, d=6, c=4, seed=0, n_test=40):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n + n_test)
    X = (rng.standard_normal((n + n_test, d)) + 1.2 * np.eye(c, d)[y] + 0.3).astype(np.float32) * 2.0
    return X[:n], y[:n], X[n:], y[n:], c


def _std(Xtr, X):
    return standardised(Xtr, X).astype(np.float64)


def _numpy_objective(A, y, c, W, b, C):
    """(loss, gW, gb, relative gradient norm) of the scaled one-vs-rest squared hinge, float64."""
    n = len(A)
    Y = -np.ones((n, c))
    Y[np.arange(n), y] = 1.0
    W = W.astype(np.float64)
    b = b.astype(np.float64)
    lam = 1.0 / (C * n)
    margin = np.maximum(0.0, 1.0 - Y * (A @ W.T + b))
    loss = (margin ** 2).sum() / n + 0.5 * lam * ((W ** 2).sum() + (b ** 2).sum())
    dz = -2.0 / n * margin * Y
    gW = dz.T @ A + lam * W
    gb = dz.sum(0) + lam * b
    g0 = np.sqrt(((-2.0 / n * Y.T @ A) ** 2).sum() + ((-2.0 / n * Y.sum(0)) ** 2).sum())
    rel = np.sqrt((gW ** 2).sum() + (gb ** 2).sum()) / g0
    return loss, gW, gb, rel


def test_svm_objective_matches_numpy():
    rng = np.random.default_rng(0)
    n, d, c = 9, 4, 3
    A = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    W = rng.standard_normal((c, d)) * 0.5
    b = rng.standard_normal(c) * 0.5
    Ypm = -torch.ones(n, c, dtype=torch.float64)
    Ypm[torch.arange(n), torch.from_numpy(y)] = 1.0
    for C in (0.3, 4.0):
        loss, gW, gb = svm_objective(torch.from_numpy(A), Ypm, torch.from_numpy(W), torch.from_numpy(b), C)
        ref_loss, ref_gW, ref_gb, _ = _numpy_objective(A, y, c, W, b, C)
        assert loss == pytest.approx(ref_loss, rel=1e-12)
        assert np.allclose(gW.numpy(), ref_gW, rtol=1e-12, atol=1e-14)
        assert np.allclose(gb.numpy(), ref_gb, rtol=1e-12, atol=1e-14)
    assert torch.equal(Ypm.abs(), torch.ones(n, c, dtype=torch.float64))  # the labels are not overwritten


@pytest.mark.parametrize("precondition", ["auto", "off"])
def test_svm_curve_progress_settings_and_stop_value(precondition):
    Xtr, ytr, Xte, yte, c = _problem()
    opts = {"C": 0.5, "epochs": 300, "precision": "float64", "precondition": precondition, "tol": 1e-6}
    t0 = time.perf_counter()
    steps, res = _drain(train_svm(Xtr, ytr, Xte, yte, c, opts))
    elapsed = time.perf_counter() - t0
    A, B = _std(Xtr, Xtr), _std(Xtr, Xte)
    loss, _, _, rel = _numpy_objective(A, ytr, c, res.state["W"], res.state["b"], 0.5)
    s = res.stop
    assert s["criterion"] == STOP_CRITERION and s["tolerance"] == 1e-6 and s["gap_tolerance"] == 1e-3
    assert s["converged"] is True and s["value"] <= 1e-6 and s["iterations"] > 10  # past the first eval_every
    assert s["value"] == pytest.approx(rel, rel=5e-2, abs=1e-9)
    assert res.settings == dict(opts, multiclass="ovr", intercept="penalised (LinearSVC intercept_scaling=1)",
                                preconditioned=precondition == "auto",
                                preconditioner="cholesky" if precondition == "auto" else "none")  # 5 features
    assert 0 < res.seconds <= elapsed
    # the curve: one point per iteration, the final loss is the objective at the returned weights
    curves = res.curves
    assert [cp.step for cp in curves] == list(range(1, s["iterations"] + 1))
    assert all(cp.epoch == float(cp.step) for cp in curves)
    assert curves[-1].loss == pytest.approx(loss, rel=1e-6)
    assert all(b_.loss <= a_.loss + 1e-12 for a_, b_ in zip(curves, curves[1:]))
    measured = [cp.step for cp in curves if cp.val_acc is not None]
    assert measured == [k for k in range(1, s["iterations"] + 1) if accuracy_due(k, 10) or k == s["iterations"]]
    assert [cp.step for cp in curves if cp.train_acc is not None] == measured
    assert np.allclose(res.scores, B @ res.state["W"].T + res.state["b"], atol=1e-5)
    assert curves[-1].val_acc == pytest.approx(np.mean(res.scores.argmax(1) == yte))
    train_pred = (A @ res.state["W"].T + res.state["b"]).argmax(1)
    assert curves[-1].train_acc == pytest.approx(np.mean(train_pred == ytr))
    # progress: one per iteration, with the loss a user reads
    assert [(p.done, p.total) for p in steps] == [(cp.step, 300) for cp in curves]
    assert [p.payload for p in steps] == list(curves) and all(p.payload is cp for p, cp in zip(steps, curves))
    assert [p.message for p in steps] == [f"training linear SVM: iteration {cp.step}/300, loss {cp.loss:.4f}"
                                         for cp in curves]


def test_svm_stop_value_is_relative_to_the_gradient_at_zero_weights():
    # two balanced classes and features without signal: the gradient at zero weights is small (norm 0.41 here), and
    # the reported value is the final gradient norm divided by it, recomputed here in numpy
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 5)).astype(np.float32)
    y = np.repeat([0, 1], 100)
    res = run_to_end(train_svm(X, y, X[:10], y[:10], 2, {"C": 1.0, "epochs": 300, "precision": "float64"}))
    A = _std(X, X)
    _, gW, gb, rel = _numpy_objective(A, y, 2, res.state["W"], res.state["b"], 1.0)
    Y = np.where(np.arange(2)[None, :] == y[:, None], 1.0, -1.0)
    g0 = np.sqrt(((-2.0 / 200 * Y.T @ A) ** 2).sum() + ((-2.0 / 200 * Y.sum(0)) ** 2).sum())
    assert 0.3 < g0 < 0.5
    assert res.stop["value"] == pytest.approx(rel, rel=2e-2) and res.stop["converged"]


def test_svm_preconditioning_does_not_change_the_optimum_and_float32_agrees():
    Xtr, ytr, Xte, yte, c = _problem(seed=1)
    base = {"C": 2.0, "epochs": 500, "tol": 1e-6, "precision": "float64"}
    on = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, dict(base, precondition="on")))
    off = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, dict(base, precondition="off")))
    assert on.settings["preconditioned"] is True and off.settings["preconditioned"] is False
    assert on.stop["converged"] and off.stop["converged"]
    assert np.allclose(on.state["W"], off.state["W"], atol=1e-4) and np.allclose(on.state["b"], off.state["b"],
                                                                                   atol=1e-4)
    f32 = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 2.0, "epochs": 500}))
    assert f32.scores.dtype == np.float32 and f32.state["W"].dtype == np.float32
    assert np.abs(f32.scores - on.scores).max() < 2e-2 * max(1.0, np.abs(on.scores).max())
    # float32 is the default and is what runs (float64 only when asked): in float32 the line search stalls near a
    # relative gradient of 1e-5 (measured 3e-6 to 1e-5), float64 gets below 1e-6
    Xtr, ytr, Xte, yte, c = _problem(seed=0)
    deep = {"C": 2.0, "epochs": 500, "tol": 5e-7}
    s32 = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, deep)).stop
    s64 = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, dict(deep, precision="float64"))).stop
    assert s64["converged"] and not s32["converged"] and s32["value"] > 5 * s64["value"]


def test_svm_options_tol_and_eval_every_are_honoured():
    Xtr, ytr, Xte, yte, c = _problem(seed=2)
    loose = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300, "tol": 0.05,
                                                         "precision": "float64"}))
    tight = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300, "tol": 1e-6,
                                                         "precision": "float64"}))
    assert loose.stop["tolerance"] == 0.05 and loose.stop["converged"] and loose.stop["value"] <= 0.05
    assert tight.stop["converged"] and tight.stop["value"] <= 1e-6
    assert loose.stop["iterations"] < tight.stop["iterations"]
    assert loose.stop["value"] > tight.stop["value"]
    every3 = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300, "tol": 1e-6,
                                                          "precision": "float64", "eval_every": 3}))
    last = every3.stop["iterations"]
    assert [cp.step for cp in every3.curves if cp.val_acc is not None] == \
        [k for k in range(1, last + 1) if k in (1, 2) or k % 3 == 0 or k == last]
    none = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300, "eval_every": 0}))
    assert [cp.step for cp in none.curves if cp.val_acc is not None] == [none.stop["iterations"]]
    blind = run_to_end(train_svm(Xtr, ytr, Xte, yte[:0], c, {"C": 1.0, "epochs": 300}))
    assert all(cp.val_acc is None for cp in blind.curves) and blind.curves[-1].train_acc is not None
    assert blind.scores.shape == (len(Xte), c)


def test_svm_refusals_name_the_option():
    Xtr, ytr, Xte, yte, c = _problem(n=30, n_test=5)
    with pytest.raises(ValueError, match=r"^svm: precision must be float32 or float64, got 'float16'$"):
        run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 5, "precision": "float16"}))
    with pytest.raises(ValueError, match=r"^svm: C must be positive, got -1.0$"):
        run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": -1.0, "epochs": 5}))
    small = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 0.5, "epochs": 50}))  # 0 < C < 1 is allowed
    assert small.stop["iterations"] > 0


def test_svm_warm_start_from_the_optimum_without_preconditioner():
    Xtr, ytr, Xte, yte, c = _problem(seed=3)
    opts = {"C": 1.0, "epochs": 300, "precision": "float64", "precondition": "off", "tol": 1e-6}
    cold = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, opts))
    warm = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, opts, init=cold.state))
    assert cold.stop["iterations"] > 2 and warm.stop["iterations"] <= 1 and warm.stop["converged"]
    assert np.allclose(warm.scores, cold.scores, atol=1e-4)
    # a warm start from other weights ends at the same optimum
    other = {"W": cold.state["W"] * 3.0, "b": cold.state["b"] - 1.0}
    far = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, opts, init=other))
    assert far.stop["converged"] and np.allclose(far.scores, cold.scores, atol=1e-3)


def test_svm_cancel_and_live_token():
    Xtr, ytr, Xte, yte, c = _problem(seed=4)
    live = CancelToken()
    res = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300}, cancel=live))
    assert res.stop["iterations"] > 1
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300}, cancel=token))


def test_svm_stops_at_the_first_iterate_under_the_tolerance_and_marks_the_last_point():
    Xtr, ytr, Xte, yte, c = _problem(seed=5)
    opts = {"C": 1.0, "epochs": 300, "tol": 1e-6, "precision": "float64", "eval_every": 0}
    full = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, opts))
    n = full.stop["iterations"]
    assert full.stop["converged"] and n > 2
    before = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, dict(opts, epochs=n - 1)))
    assert before.stop["iterations"] == n - 1 and not before.stop["converged"] and before.stop["value"] > 1e-6
    # eval_every 0: only the last point is measured, whether the run converged, hit its cap or stalled
    for res in (full, before):
        assert [cp.step for cp in res.curves if cp.val_acc is not None] == [res.stop["iterations"]]
        assert res.curves[-1].train_acc is not None
    stalled = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 300, "tol": 1e-12,
                                                           "eval_every": 0}))  # float32 stalls long before 1e-12
    assert not stalled.stop["converged"] and stalled.stop["iterations"] < 300
    assert stalled.curves[-1].val_acc is not None and stalled.curves[-1].train_acc is not None


def test_svm_without_iterations_reports_the_start():
    # no iteration allowed: the weights stay at zero, whose relative gradient norm is 1 by definition
    Xtr, ytr, Xte, yte, c = _problem(seed=6)
    res = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 0, "precision": "float64"}))
    assert res.stop["iterations"] == 0 and not res.stop["converged"]
    assert res.stop["value"] == pytest.approx(1.0, rel=1e-12)
    assert res.curves == () and not res.scores.any() and not res.state["W"].any()


def test_svm_train_accuracy_on_more_than_20000_rows_uses_the_first_20000():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 20003)
    X = (rng.standard_normal((20003, 2)) + 2.0 * y[:, None]).astype(np.float32)
    res = run_to_end(train_svm(X, y, X[:5], y[:5], 2, {"C": 1.0, "epochs": 2, "eval_every": 1}))
    A = _std(X, X)[:20000]
    pred = (A @ res.state["W"].T + res.state["b"]).argmax(1)
    assert res.curves[-1].train_acc == pytest.approx(np.mean(pred == y[:20000]), abs=1e-4)


def test_svm_preconditioner_saves_iterations_on_correlated_features():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300)
    X = ((rng.standard_normal((300, 6)) + np.eye(4, 6)[y]) @ (np.eye(6) + 0.95 * np.ones((6, 6)))).astype(np.float32)
    opts = {"C": 1.0, "epochs": 500, "precision": "float64"}  # precondition: the default, "auto"
    auto = run_to_end(train_svm(X, y, X[:20], y[:20], 4, opts))
    off = run_to_end(train_svm(X, y, X[:20], y[:20], 4, dict(opts, precondition="off")))
    assert auto.stop["converged"] and off.stop["converged"] and auto.settings["preconditioned"]
    assert 2 * auto.stop["iterations"] < off.stop["iterations"]  # measured: 7 vs 27
    assert np.allclose(auto.scores, off.scores, atol=1e-3)
