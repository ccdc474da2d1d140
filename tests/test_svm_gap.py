"""The SVM head's duality-gap stopping rule (#10): the gap is the textbook one (hand computation in numpy, and the
gap of scikit-learn's own optimum is ~0), it is met at the returned weights, and it keeps the fit going where the
gradient rule alone stops far from the optimum."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from app.probe.bench_svm import svm_quality
from app.probe.svm import SVM_GAP_TOL, objective_and_gap, train_svm
from app.tasks import run_to_end
from head_helpers import standardised


def _problem(n=300, d=12, c=4, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    X = rng.standard_normal((n, d)) + 0.9 * np.eye(c, d)[y]
    return X.astype(np.float32), y, c


def _std(X):
    return standardised(X).astype(np.float64)


def _numpy_gap(A, y, c, W, b, C):
    """(primal - dual) / primal of LinearSVC's one-vs-rest problem, unscaled: primal 0.5 |[W b]|^2 + C sum m^2,
    dual at alpha = 2 C m: sum alpha - 0.5 |sum alpha y [x 1]|^2 - sum alpha^2 / (4 C)."""
    n = len(A)
    Y = -np.ones((n, c))
    Y[np.arange(n), y] = 1.0
    m = np.maximum(0.0, 1.0 - Y * (A @ W.T + b))
    primal = 0.5 * ((W ** 2).sum() + (b ** 2).sum()) + C * (m ** 2).sum()
    alpha = 2.0 * C * m
    v_w = (alpha * Y).T @ A
    v_b = (alpha * Y).sum(0)
    dual = alpha.sum() - 0.5 * ((v_w ** 2).sum() + (v_b ** 2).sum()) - (alpha ** 2).sum() / (4.0 * C)
    return (primal - dual) / primal


def _optimum(A, y, c, C):
    """(W, b) minimising LinearSVC's one-vs-rest squared hinge, by scipy's L-BFGS-B in float64 (a reference solver
    independent of ours; scikit-learn's liblinear does not always reach 1e-10 within its iteration cap)."""
    n, d = A.shape
    Y = -np.ones((n, c))
    Y[np.arange(n), y] = 1.0
    A1 = np.hstack([A, np.ones((n, 1))])

    def f(x):
        V = x.reshape(c, d + 1)
        m = np.maximum(0.0, 1.0 - Y * (A1 @ V.T))
        return 0.5 * (V ** 2).sum() + C * (m ** 2).sum(), (V - 2.0 * C * (m * Y).T @ A1).ravel()

    r = minimize(f, np.zeros(c * (d + 1)), jac=True, method="L-BFGS-B",
                 options={"maxiter": 100000, "gtol": 1e-13, "ftol": 1e-16})
    V = r.x.reshape(c, d + 1)
    return V[:, :d], V[:, d]


def _ypm(y, c, n):
    Ypm = -torch.ones(n, c, dtype=torch.float64)
    Ypm[torch.arange(n), torch.from_numpy(np.asarray(y))] = 1.0
    return Ypm


@pytest.mark.parametrize("C", [0.05, 0.5])
def test_gap_matches_a_hand_computation(C):
    X, y, c = _problem()
    A = _std(X)
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((c, A.shape[1])) * 0.3, rng.standard_normal(c) * 0.3
    _, _, _, gap = objective_and_gap(torch.from_numpy(A), _ypm(y, c, len(A)), torch.from_numpy(W),
                                     torch.from_numpy(b), C)
    assert gap == pytest.approx(_numpy_gap(A, y, c, W, b, C), rel=1e-10)
    assert gap == pytest.approx(svm_quality(A, y, W, b, C, c)["relative_duality_gap"], rel=1e-4)
    Wo, bo = _optimum(A, y, c, C)  # the optimum: gap ~ 0
    _, _, _, at_opt = objective_and_gap(torch.from_numpy(A), _ypm(y, c, len(A)), torch.from_numpy(Wo),
                                        torch.from_numpy(bo), C)
    assert abs(at_opt) < 1e-7 < gap  # (rounding: -2e-16 measured)


def test_the_gap_rule_keeps_a_large_C_fit_going_to_the_optimum():
    X, y, c = _problem(n=400, d=30)
    C = 50.0
    base = {"C": C, "epochs": 3000, "precision": "float64", "precondition": "off", "tol": 0.05}
    grad_only = run_to_end(train_svm(X, y, X[:5], y[:5], c, dict(base, gap_tol=1e9)))
    both = run_to_end(train_svm(X, y, X[:5], y[:5], c, dict(base, gap_tol=1e-4)))
    assert grad_only.stop["converged"] and both.stop["converged"]
    assert both.stop["duality_gap"] <= 1e-4 < grad_only.stop["duality_gap"]
    assert both.stop["iterations"] > grad_only.stop["iterations"]
    A = _std(X)
    Wo, bo = _optimum(A, y, c, C)

    def primal(W, b):
        Y = -np.ones((len(A), c))
        Y[np.arange(len(A)), y] = 1.0
        m = np.maximum(0.0, 1.0 - Y * (A @ W.T + b))
        return 0.5 * ((W ** 2).sum() + (b ** 2).sum()) + C * (m ** 2).sum()

    opt = primal(Wo, bo)
    assert primal(both.state["W"], both.state["b"]) <= opt * (1 + 1e-4)  # the gap bounds the excess objective
    assert primal(grad_only.state["W"], grad_only.state["b"]) > opt * (1 + 1e-3)  # the gradient rule alone: far
    # the report: both values at the returned weights, the default gap tolerance recorded when not given
    assert both.stop["duality_gap"] == pytest.approx(_numpy_gap(A, y, c, both.state["W"], both.state["b"], C),
                                                     rel=1e-2)  # weights returned in float32
    default = run_to_end(train_svm(X, y, X[:5], y[:5], c, {"C": 0.1, "epochs": 500}))
    assert default.stop["gap_tolerance"] == SVM_GAP_TOL and default.stop["duality_gap"] <= SVM_GAP_TOL


@pytest.mark.parametrize("bad", [{"gap_tol": -1.0}, {"tol": -0.5}])
def test_negative_tolerances_are_refused(bad):
    X, y, c = _problem(n=40)
    with pytest.raises(ValueError, match="tol and gap_tol must be >= 0"):
        run_to_end(train_svm(X, y, X[:5], y[:5], c, dict({"C": 1.0, "epochs": 10}, **bad)))
