"""Logistic head in detail: the reported stop, the curves' numbers, Adam, warm starts, the gradient helper."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.probe.headcore import standardizer
from app.probe.heads import preconditioner, train_head, train_logistic, weight_gradient_max
from app.tasks import Progress, run_to_end


def _problem(n=200, d=8, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    X = (rng.standard_normal((n, d)) + 1.5 * np.eye(c, d)[y]).astype(np.float32)
    return X, y, c


def _objective_and_grad(X, y, W, b, wd):
    """Mean cross-entropy + wd/2 |W|^2 and max |gradient| in numpy float64 on standardised X."""
    m, inv = standardizer(X, True)
    A = ((X - m) * inv).astype(np.float64)
    z = A @ W.T.astype(np.float64) + b
    z -= z.max(1, keepdims=True)
    P = np.exp(z)
    P /= P.sum(1, keepdims=True)
    n = len(y)
    loss = -np.log(P[np.arange(n), y]).mean() + 0.5 * wd * (W.astype(np.float64) ** 2).sum()
    P[np.arange(n), y] -= 1
    gW = P.T @ A / n + wd * W
    gb = P.sum(0) / n
    return loss, max(np.abs(gW).max(), np.abs(gb).max())


def test_lbfgs_stop_report_and_curve_numbers():
    X, y, c = _problem()
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 200}  # tol and eval_every: the defaults
    steps = []
    gen = train_logistic(X, y, X[:50], y[:50], c, opts)
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        res = stop.value
    s = res.stop
    assert s["criterion"] == "max |gradient|" and s["tolerance"] == 1e-4
    assert s["iterations"] == res.curves[-1].step == len(res.curves) and s["converged"] is True
    loss, gmax = _objective_and_grad(X, y, res.state["W"], res.state["b"], 1e-2)
    assert s["value"] == pytest.approx(gmax, rel=1e-2, abs=2e-6) and s["value"] <= 1e-4
    assert res.curves[-1].loss == pytest.approx(loss, rel=1e-5)
    assert [cp.step for cp in res.curves] == list(range(1, len(res.curves) + 1))
    assert all(cp.epoch == float(cp.step) for cp in res.curves)
    assert all(b.loss <= a.loss + 1e-7 for a, b in zip(res.curves, res.curves[1:]))
    with_acc = [cp.step for cp in res.curves if cp.test_acc is not None]
    assert with_acc[:3] == [1, 2, 4] and with_acc[-1] == res.curves[-1].step  # eval_every default 10
    last = res.curves[-1]
    assert last.test_acc == pytest.approx(np.mean(res.scores.argmax(1) == y[:50]))
    m, inv = standardizer(X, True)
    train_pred = (((X - m) * inv) @ res.state["W"].T + res.state["b"]).argmax(1)
    assert last.train_acc == pytest.approx(np.mean(train_pred == y))
    assert all(isinstance(p, Progress) and p.total == 200 and p.payload is res.curves[i] for i, p in enumerate(steps))
    assert res.settings == opts
    assert res.seconds > 0
    # scores are the test rows under the stored weights
    assert np.allclose(res.scores, ((X[:50] - m) * inv) @ res.state["W"].T + res.state["b"], atol=1e-4)


def test_lbfgs_iteration_cap_is_reported_as_not_converged():
    X, y, c = _problem(seed=1)
    res = run_to_end(train_logistic(X, y, X, y, c, {"optimizer": "lbfgs", "weight_decay": 1e-4, "epochs": 3,
                                                    "tol": 1e-9}))
    assert res.stop["iterations"] == 3 and res.stop["converged"] is False and res.stop["value"] > 1e-9


def test_warm_start_from_the_optimum_stops_at_once():
    X, y, c = _problem(seed=2)
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 200, "precondition": "on"}
    cold = run_to_end(train_logistic(X, y, X, y, c, opts))
    warm = run_to_end(train_logistic(X, y, X, y, c, opts, init=cold.state))
    assert warm.stop["converged"] and warm.stop["iterations"] <= 1 < cold.stop["iterations"]
    assert np.allclose(warm.scores, cold.scores, atol=1e-3)
    near = run_to_end(train_logistic(X, y, X, y, c, dict(opts, weight_decay=2e-2)))
    from_near = run_to_end(train_logistic(X, y, X, y, c, opts, init=near.state))
    assert from_near.stop["iterations"] < cold.stop["iterations"]
    assert np.allclose(from_near.scores, cold.scores, atol=2e-2)
    with pytest.raises(ValueError, match="warm start"):
        run_to_end(train_logistic(X, y, X, y, c, opts, init={"W": np.zeros((c, 3)), "b": np.zeros(c)}))


def test_adam_runs_its_epochs_and_says_so():
    X, y, c = _problem(seed=3)
    opts = {"optimizer": "adam", "weight_decay": 1e-3, "epochs": 10, "lr": 0.05, "batch_size": 64, "eval_every": 10}
    progress = []
    gen = train_logistic(X, y, X[:60], y[:60], c, opts)
    try:
        while True:
            progress.append(next(gen))
    except StopIteration as stop:
        res = stop.value
    assert res.stop == {"criterion": "fixed number of epochs (Adam)", "value": None, "tolerance": None,
                        "iterations": 10, "converged": False}
    assert [p.done for p in progress] == list(range(1, 11)) and all(p.total == 10 for p in progress)
    assert [cp.step for cp in res.curves] == list(range(1, 11))
    assert [cp.step for cp in res.curves if cp.test_acc is not None] == [2, 4, 6, 8, 10]  # every 10 // 5 epochs
    lb = run_to_end(train_logistic(X, y, X[:60], y[:60], c, {"optimizer": "lbfgs", "weight_decay": 1e-3,
                                                             "epochs": 100}))
    agree = np.mean(res.scores.argmax(1) == lb.scores.argmax(1))
    assert agree >= 0.9 and res.curves[-1].loss < res.curves[0].loss
    with pytest.raises(ValueError, match="optimizer must be lbfgs or adam, got 'sgd'"):
        run_to_end(train_logistic(X, y, X, y, c, dict(opts, optimizer="sgd")))


def test_weight_gradient_max_in_original_coordinates():
    n_classes, d = 2, 3
    g = torch.tensor([1.0, -2.0, 0.5, 0.0, 0.25, -0.5, 3.0, -0.1])
    assert weight_gradient_max(g, None, n_classes, d) == pytest.approx(3.0)
    g2 = g.clone()
    g2[6] = 0.0
    assert weight_gradient_max(g2, None, n_classes, d) == pytest.approx(2.0)
    L = torch.tensor([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    pre = (L, L.T.contiguous(), 4.0)
    gU = g[:6].view(2, 3)
    expect = max(float((gU @ L.T).abs().max()), float((g[6:] * 4.0).abs().max()))
    assert weight_gradient_max(g, pre, n_classes, d) == pytest.approx(expect)
    g3 = torch.zeros(8)
    g3[:6] = g[:6]
    assert weight_gradient_max(g3, pre, n_classes, d) == pytest.approx(float((gU @ L.T).abs().max()))


def test_preconditioner_factor_and_modes():
    rng = np.random.default_rng(4)
    A = torch.from_numpy(rng.standard_normal((50, 6)).astype(np.float32))
    L, LT, s = preconditioner(A, 0.1, "on", seed=0, curvature=0.02)
    M = 0.02 * A.T @ A / 50 + 0.1 * torch.eye(6)  # m = min(n, max(d, 1024)) = all 50 rows
    assert torch.allclose(L @ LT, M, atol=1e-5) and s == pytest.approx(np.sqrt(0.02))
    for off in (False, "off", "no", 0):
        assert preconditioner(A, 0.1, off) is None
    for on in (True, "yes", 1, "auto"):
        assert preconditioner(A, 0.1, on) is not None
    wide = torch.zeros(4, 4097)
    assert preconditioner(wide, 0.1, "auto") is None and preconditioner(wide[:, :4096], 0.1, "auto") is not None
    L0, _, _ = preconditioner(A, 0.0, "on", curvature=1.0)  # wd 0: a tiny relative ridge keeps it definite
    M0 = A.T @ A / 50
    assert torch.allclose(L0 @ L0.T, M0 + 1e-6 * M0.diagonal().mean() * torch.eye(6), atol=1e-4)
    assert preconditioner(torch.zeros(10, 3), 0.0, "on") is not None  # all-zero features: 1e-12 ridge
    with pytest.raises(ValueError, match="precondition must be auto, on or off, got 2"):
        preconditioner(A, 0.1, 2)


def test_train_head_dispatches_and_refuses_unknown_heads():
    X, y, c = _problem(seed=5)
    res = run_to_end(train_head("ridge", X, y, X[:10], y[:10], c, {"alpha": 1.0}))
    assert res.scores.shape == (10, c)
    with pytest.raises(ValueError, match="unknown head 'tree'; choose one of logistic, ridge, svm, knn"):
        run_to_end(train_head("tree", X, y, X, y, c, {}))
