"""The SVM head's Weston-Watkins multi-class squared hinge (``multiclass="ww"``): objective and gradient against a
numpy hand computation and finite differences, the duality gap ~0 at scipy's optimum, and the fit reaching it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from app.probe.svm import train_svm, ww_objective_and_gap
from app.tasks import run_to_end
from head_helpers import standardised


def _problem(n=240, d=10, c=4, seed=5):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    X = rng.standard_normal((n, d)) + 0.8 * np.eye(c, d)[y]
    return X.astype(np.float32), y, c


def _std(X):
    return standardised(X).astype(np.float64)


def _numpy_ww(A, y, W, b, C):
    """(scaled loss, dW, db): 0.5/(C n) |[W b]|^2 + mean_i sum_{j != y_i} max(0, 1 - s_iy + s_ij)^2, loops by hand."""
    n, c = len(A), W.shape[0]
    lam = 1.0 / (C * n)
    S = A @ W.T + b
    loss, dS = 0.0, np.zeros_like(S)
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            m = max(0.0, 1.0 - S[i, y[i]] + S[i, j])
            loss += m * m / n
            dS[i, j] += 2 * m / n
            dS[i, y[i]] -= 2 * m / n
    loss += 0.5 * lam * ((W ** 2).sum() + (b ** 2).sum())
    return loss, dS.T @ A + lam * W, dS.sum(0) + lam * b


def _optimum(A, y, c, C):
    n, d = A.shape

    def f(x):
        V = x.reshape(c, d + 1)
        loss, gW, gb = _numpy_ww(A, y, V[:, :d], V[:, d], C)
        return loss, np.hstack([gW, gb[:, None]]).ravel()

    r = minimize(f, np.zeros(c * (d + 1)), jac=True, method="L-BFGS-B",
                 options={"maxiter": 20000, "gtol": 1e-14, "ftol": 1e-16})
    V = r.x.reshape(c, d + 1)
    return V[:, :d], V[:, d]


@pytest.mark.parametrize("C", [0.02, 1.0])
def test_ww_objective_gradient_and_gap(C):
    X, y, c = _problem(n=60)
    A = _std(X)
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((c, A.shape[1])) * 0.4, rng.standard_normal(c) * 0.4
    yt = torch.from_numpy(y.astype(np.int64))
    loss, gW, gb, gap = ww_objective_and_gap(torch.from_numpy(A), yt, torch.from_numpy(W), torch.from_numpy(b), C)
    ref, rgW, rgb = _numpy_ww(A, y, W, b, C)
    assert loss == pytest.approx(ref, rel=1e-12)
    assert np.allclose(gW.numpy(), rgW, atol=1e-12) and np.allclose(gb.numpy(), rgb, atol=1e-12)
    e = np.zeros_like(W)
    e[1, 3] = 1e-6  # finite difference of one weight
    fd = (_numpy_ww(A, y, W + e, b, C)[0] - _numpy_ww(A, y, W - e, b, C)[0]) / 2e-6
    assert float(gW[1, 3]) == pytest.approx(fd, rel=1e-5, abs=1e-9)
    Wo, bo = _optimum(A, y, c, C)
    _, _, _, at_opt = ww_objective_and_gap(torch.from_numpy(A), yt, torch.from_numpy(Wo), torch.from_numpy(bo), C)
    assert abs(at_opt) < 1e-7 < gap


def test_ww_fit_reaches_the_optimum_and_records_its_problem():
    X, y, c = _problem()
    C = 0.5
    res = run_to_end(train_svm(X, y, X[:7], y[:7], c, {"C": C, "epochs": 2000, "precision": "float64",
                                                       "multiclass": "ww", "tol": 1e-6, "gap_tol": 1e-8}))
    assert res.stop["converged"] and res.settings["multiclass"] == "ww"
    A = _std(X)
    Wo, bo = _optimum(A, y, c, C)
    assert np.allclose(res.state["W"], Wo, atol=1e-3) and np.allclose(res.state["b"], bo, atol=1e-3)
    ovr = run_to_end(train_svm(X, y, X[:7], y[:7], c, {"C": C, "epochs": 2000, "precision": "float64"}))
    assert ovr.settings["multiclass"] == "ovr" and not np.allclose(ovr.state["W"], Wo, atol=1e-2)
    with pytest.raises(ValueError, match="multiclass must be one of ovr, ww, got 'cs'"):
        run_to_end(train_svm(X, y, X[:7], y[:7], c, {"C": C, "epochs": 5, "multiclass": "cs"}))
