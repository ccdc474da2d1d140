"""The SVM head's Nystrom preconditioner (wide features) and the ``bench svm`` report: the objective both sides are
scored on, LinearSVC's solver choice, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.probe.bench_svm import svm_quality
from app.probe.precond import nystrom
from app.probe.svm import train_svm
from app.tasks import run_to_end
from head_helpers import standardised


def _wide(n=300, d=60, c=5, seed=0, n_test=80):
    """Correlated features (a few strong directions, as random-network features have) and c classes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n + n_test)
    Z = rng.standard_normal((n + n_test, 6)) @ rng.standard_normal((6, d)) * 3.0
    X = (Z + rng.standard_normal((n + n_test, d)) + 1.5 * np.eye(c, d)[y]).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:], c


def _std(Xtr, X):
    return standardised(Xtr, X).astype(np.float64)


def test_nystrom_is_exact_at_full_rank_and_its_half_powers_invert():
    rng = np.random.default_rng(1)
    A = torch.from_numpy(rng.standard_normal((50, 5)) @ rng.standard_normal((5, 20))).double()  # rank 5
    lam, c = 0.01, 0.1
    pre = nystrom(A, lam, c, seed=0, rank=5, rows=50)
    H = c * A.T @ A / 50 + lam * torch.eye(20, dtype=torch.float64)
    V = torch.from_numpy(rng.standard_normal((3, 20)))
    assert torch.allclose(pre.weights(pre.coords(V)), V, atol=1e-8)
    assert torch.allclose(pre.to_coords(pre.from_coords(V)), V, atol=1e-8)
    # rank 5 captures the whole curvature: P = H on the row space of A; outside it, the 5th eigenvalue + lam
    R = torch.from_numpy(rng.standard_normal((3, 50))) @ A
    assert torch.allclose(pre.coords(pre.coords(R)), R @ H, atol=1e-4 * float((R @ H).abs().max()))
    Q = torch.linalg.qr(A.T, mode="complete").Q[:, 5:].T  # orthogonal to the row space
    fifth = float(torch.linalg.eigvalsh(H)[-5])
    assert torch.allclose(pre.coords(pre.coords(Q)), fifth * Q, atol=1e-4 * fifth)
    low = nystrom(A, lam, c, seed=0, rank=2, rows=50)  # rank 2: the 3 smaller directions at the 2nd eigenvalue
    assert not torch.allclose(low.coords(low.coords(R)), R @ H, atol=1e-3 * float((R @ H).abs().max()))
    assert low.rank == 2 and pre.bscale == pytest.approx(c ** 0.5)


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_nystrom_preconditioned_svm_matches_linearsvc(C):
    from sklearn.svm import LinearSVC

    Xtr, ytr, Xte, yte, c = _wide()
    opts = {"C": C, "epochs": 3000, "tol": 1e-6, "precision": "float64", "precondition": "nystrom",
            "nystrom_rank": 8, "nystrom_rows": 200}
    res = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, opts))
    assert res.settings["preconditioner"] == "nystrom" and res.stop["converged"]
    sk = LinearSVC(C=C, loss="squared_hinge", dual=True, tol=1e-10, max_iter=200000, intercept_scaling=1.0)
    sk.fit(_std(Xtr, Xtr), ytr)
    scale = max(1.0, np.abs(sk.coef_).max())
    assert np.abs(res.state["W"] - sk.coef_).max() < 2e-3 * scale
    assert np.abs(res.state["b"] - sk.intercept_).max() < 2e-3 * max(1.0, np.abs(sk.intercept_).max())
    plain = run_to_end(train_svm(Xtr, ytr, Xte, yte, c, dict(opts, precondition="off")))
    assert np.abs(plain.state["W"] - res.state["W"]).max() < 2e-3 * scale  # the same minimiser either way


def test_svm_precondition_mode_is_checked():
    Xtr, ytr, Xte, yte, c = _wide(n=40, d=8)
    with pytest.raises(ValueError, match="precondition must be"):
        run_to_end(train_svm(Xtr, ytr, Xte, yte, c, {"C": 1.0, "epochs": 5, "precondition": "sometimes"}))


def test_svm_quality_objective_and_gradient():
    from sklearn.svm import LinearSVC

    Xtr, ytr, _, _, c = _wide(n=200, d=30)
    A = _std(Xtr, Xtr).astype(np.float32)
    zero = svm_quality(A, ytr, np.zeros((c, 30)), np.zeros(c), 0.5, c)
    assert zero["objective"] == pytest.approx(0.5 * len(A) * c)  # every margin 1: C x n x classes
    assert zero["relative_gradient"] == pytest.approx(1.0)
    sk = LinearSVC(C=0.5, dual=True, tol=1e-10, max_iter=200000).fit(A.astype(np.float64), ytr)
    q = svm_quality(A, ytr, sk.coef_, sk.intercept_, 0.5, c)
    assert q["relative_gradient"] < 1e-4 and q["objective"] < 0.5 * zero["objective"]
    assert abs(q["relative_duality_gap"]) < 1e-5 and zero["relative_duality_gap"] > 0.5
    # liblinear's per-class primal objectives summed, computed independently in numpy
    Y = np.where(np.arange(c)[None, :] == ytr[:, None], 1.0, -1.0)
    m = np.maximum(0, 1 - Y * (A.astype(np.float64) @ sk.coef_.T + sk.intercept_))
    expect = 0.5 * (np.square(sk.coef_).sum() + np.square(sk.intercept_).sum()) + 0.5 * np.square(m).sum()
    assert q["objective"] == pytest.approx(expect, rel=1e-5)
    worse = svm_quality(A, ytr, 1.1 * sk.coef_, sk.intercept_, 0.5, c)
    assert worse["objective"] > q["objective"] and worse["relative_gradient"] > 10 * q["relative_gradient"]
    assert worse["relative_duality_gap"] > 100 * max(q["relative_duality_gap"], 1e-9)


@pytest.mark.parametrize("argv, message", [
    (["--C", "-1"], "--C must be a positive number, got -1"),
    (["--C", "inf"], "--C must be a positive number, got inf"),  # a ZeroDivisionError after the extraction
    (["--select-C", "0.1,inf"], "--select-C needs positive numbers"),
    (["--select-C", "nan"], "--select-C needs positive numbers"),
    (["--sklearn-tol", "inf"], "--sklearn-tol must be a positive number, got inf"),  # scikit-learn's own error
    (["--tol", "nan"], "--tol must be a positive number, got nan"),
])
def test_bench_svm_refuses_a_bad_number_before_any_work(argv, message, fe_home):
    from tests.cli_inprocess import run_cli

    r = run_cli("bench", "svm", "--quick", *argv, home=fe_home)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_a_speed_up_over_an_unfinished_fit_says_so_and_select_c_holds_out_exactly_val(tmp_path, fe_home):
    """``bench svm`` printed a speed-up while our fit had stopped at its iteration cap ("converged": false), and
    ``--val 200`` held out 201 images (per-class rounding)."""
    import json

    from app.data.core import validation_indices
    from app.probe.bench import convergence_note
    from tests.cli_inprocess import run_cli

    r = run_cli("bench", "svm", "--quick", "--epochs", "2", home=fe_home)
    assert r.returncode == 0, r.stderr
    assert "note: ours stopped at the iteration cap before reaching the tolerance: the speed-up times an " \
           "unfinished fit" in r.stdout
    r = run_cli("bench", "svm", "--quick", "--select-C", "0.01,0.1", "--val", "200", "--json", home=fe_home)
    d = json.loads(r.stdout)
    assert d["settings"]["selection"]["n_val"] == 200
    assert d["convergence_note"] == convergence_note(d["stop"]["converged"], d["sklearn_converged"], d["stop"],
                                                     d["settings"]["max_iterations"])
    assert convergence_note(True, True) == "" and "two unfinished fits" in convergence_note(False, False)
    labels = np.repeat(np.arange(10), [57, 61, 59, 60, 58, 62, 63, 55, 64, 61])
    for n_val in (1, 7, 200, 599):
        idx = validation_indices(labels, n_val, 0)
        assert len(idx) == n_val == len(set(idx.tolist()))
