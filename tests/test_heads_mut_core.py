"""What every head shares (app.probe.headcore) and the ridge head's plumbing, pinned against numpy by hand:
standardisation (chunked, constant columns, one row), conversion to the device, warm-start weights and their
refusal, the stop report, and ridge's progress, curve, state, cancel and chunked accumulation (primal and dual).
Written against the surviving mutants of a mutmut run (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

from app.probe import headcore, ridge
from app.probe.headcore import (accuracy, initial_weights, prepare, standardizer, state_of, stop_report,
                                to_device)
from app.probe.ridge import ridge_system, ridge_weights, train_ridge
from app.tasks import CancelToken, Cancelled, Progress, run_to_end
from head_helpers import drain as _drain


def _reference_standardizer(X):
    X = np.asarray(X, np.float64)
    mean = X.mean(0)
    var = X.var(0)
    eps = 1e-6 * (var.mean() if var.mean() > 0 else 1.0) + 1e-12
    return mean, 1.0 / np.sqrt(var + eps)


# --- standardisation ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [4096, 3])  # one chunk, and 10 rows in chunks of 3 (a partial last chunk)
def test_standardizer_matches_numpy(monkeypatch, chunk):
    monkeypatch.setattr(headcore, "ROW_CHUNK", chunk)
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((10, 4)) * [1.0, 3.0, 0.5, 2.0] + [5.0, -2.0, 0.0, 1.0]).astype(np.float32)
    mean, inv = standardizer(X, True)
    m, i = _reference_standardizer(X)
    assert mean.dtype == np.float32 and inv.dtype == np.float32 and mean.shape == (4,)
    assert np.allclose(mean, m, rtol=1e-6, atol=1e-6) and np.allclose(inv, i, rtol=1e-5)
    off_mean, off_inv = standardizer(X, False)
    assert off_mean.dtype == np.float32 and off_inv.dtype == np.float32
    assert off_mean.tolist() == [0.0] * 4 and off_inv.tolist() == [1.0] * 4


def test_standardizer_constant_columns_and_one_row():
    # every column constant: variance 0 everywhere, so the relative epsilon falls back to 1e-6 (+ 1e-12)
    mean, inv = standardizer(np.zeros((5, 2), np.float32), True)
    assert mean.tolist() == [0.0, 0.0]
    assert inv.tolist() == [np.float32(1.0 / np.sqrt(1e-6 + 1e-12))] * 2
    # one constant column beside one of variance 0.5: epsilon 1e-6 x mean variance (0.25)
    X = np.array([[3.0, 0.0], [3.0, 1.0], [3.0, 2.0], [3.0, 1.0]], np.float32)  # column 2: variance 0.5
    mean, inv = standardizer(X, True)
    assert mean.tolist() == [3.0, 1.0]
    assert inv[0] == pytest.approx(1.0 / np.sqrt(0.25e-6 + 1e-12), rel=1e-6)
    assert inv[1] == pytest.approx(1.0 / np.sqrt(0.5 + 0.25e-6 + 1e-12), rel=1e-6)
    # a single row: its own mean, variance 0
    mean, inv = standardizer(np.array([[2.0, -4.0]], np.float32), True)
    assert mean.tolist() == [2.0, -4.0] and inv.tolist() == [np.float32(1.0 / np.sqrt(1e-6 + 1e-12))] * 2


def test_standardizer_accumulates_in_float64():
    # 1000 rows of a feature near 3000 with standard deviation 1: in float32, x^2 ~ 9e6 has a spacing of 1 and the
    # variance (mean of squares - square of the mean) would be lost; float64 sums keep it
    rng = np.random.default_rng(2)
    X = (3000.0 + rng.standard_normal((1000, 2))).astype(np.float32)
    mean, inv = standardizer(X, True)
    m, i = _reference_standardizer(X)
    assert np.allclose(mean, m, rtol=1e-7) and np.allclose(inv, i, rtol=1e-4)


@pytest.mark.parametrize("chunk", [4096, 3])
def test_to_device_standardises_every_row_and_keeps_float32(monkeypatch, chunk):
    monkeypatch.setattr(headcore, "ROW_CHUNK", chunk)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 3)).astype(np.float16)  # float16 cache: converted per chunk
    mean = np.array([0.5, -1.0, 2.0], np.float32)
    inv = np.array([2.0, 0.5, 4.0], np.float32)
    out = to_device(X, mean, inv, "cpu")
    assert out.dtype == torch.float32 and out.shape == (8, 3)
    assert np.allclose(out.numpy(), (X.astype(np.float32) - mean) * inv, atol=1e-6)
    ro = rng.standard_normal((7, 3)).astype(np.float32)
    ro.setflags(write=False)  # a read-only float32 array (a memmap opened read-only): copied, no torch warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = to_device(ro, mean, inv, "cpu")
    assert np.allclose(got.numpy(), (ro - mean) * inv, atol=1e-6)


def test_prepare_uses_training_statistics_and_int64_labels():
    Xtr = np.array([[0.0, 10.0], [2.0, 30.0]], np.float32)
    Xte = np.array([[1.0, 50.0]], np.float32)
    A, B, y = prepare(Xtr, np.array([1, 0], np.int32), Xte, {}, "cpu")  # int32 labels arrive as int64
    _, inv = _reference_standardizer(Xtr)  # mean (1, 20), standard deviation (1, 10) and a 1e-6 relative epsilon
    assert y.dtype == torch.int64 and y.tolist() == [1, 0]
    assert np.allclose(A.numpy(), [[-inv[0], -10 * inv[1]], [inv[0], 10 * inv[1]]], atol=1e-6)
    assert np.allclose(B.numpy(), [[0.0, 30.0 * inv[1]]], atol=1e-5) and abs(inv[1] - 0.1) < 1e-3
    A2, B2, _ = prepare(Xtr, [1, 0], Xte, {"standardize": False}, "cpu")
    assert np.array_equal(A2.numpy(), Xtr) and np.array_equal(B2.numpy(), Xte)


# --- warm starts, stop report, accuracy, state ------------------------------------------------------------------
def test_initial_weights_zeros_copies_and_refusals():
    W, b = initial_weights(None, 3, 2, "cpu")
    assert W.shape == (3, 2) and b.shape == (3,) and W.dtype == b.dtype == torch.float32
    assert not W.any() and not b.any()
    init = {"W": np.arange(6, dtype=np.float64).reshape(3, 2), "b": np.array([1, 2, 3])}
    W, b = initial_weights(init, 3, 2, "cpu")
    assert W.dtype == b.dtype == torch.float32 and W.tolist() == [[0, 1], [2, 3], [4, 5]] and b.tolist() == [1, 2, 3]
    W += 1  # a copy: the caller's state is untouched
    assert init["W"][0, 0] == 0
    with pytest.raises(ValueError, match=r"^warm start: weights of shape \(2, 2\)/\(3,\) do not fit 3 classes x 2 "
                                         r"features$"):
        initial_weights({"W": np.zeros((2, 2)), "b": np.zeros(3)}, 3, 2, "cpu")
    with pytest.raises(ValueError, match=r"shape \(3, 2\)/\(2,\) do not fit"):  # right W, wrong b
        initial_weights({"W": np.zeros((3, 2)), "b": np.zeros(2)}, 3, 2, "cpu")


def test_stop_report_shape_and_types():
    r = stop_report("max |gradient|", np.float32(0.5), np.float64(1e-4), np.int64(7), np.bool_(False))
    assert r == {"criterion": "max |gradient|", "value": 0.5, "tolerance": 1e-4, "iterations": 7, "converged": False}
    assert type(r["value"]) is float and type(r["tolerance"]) is float and type(r["iterations"]) is int
    assert type(r["converged"]) is bool
    assert stop_report("none", None, None, 0, 1) == {"criterion": "none", "value": None, "tolerance": None,
                                                     "iterations": 0, "converged": True}


def test_accuracy_and_state_of():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert accuracy(scores, torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)
    assert np.isnan(accuracy(scores[:0], torch.tensor([], dtype=torch.int64)))
    W = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    s = state_of(W, torch.tensor([1.0, 2.0]))
    assert set(s) == {"W", "b"} and s["W"].dtype == np.float32 and s["b"].tolist() == [1.0, 2.0]


# --- ridge --------------------------------------------------------------------------------------------------------
def _problem(n, d=5, c=3, seed=0, n_test=7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n + n_test)
    y[:c] = np.arange(c)
    X = (rng.standard_normal((n + n_test, d)) + 2.0 * np.eye(c, d)[y] + 1.0).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:], c


def _closed_form(Xtr, ytr, Xte, c, alpha, standardize=True):
    # standardize off: centred all the same (scale 1), as scikit-learn's Ridge(fit_intercept=True) (audit 32)
    mean, inv = _reference_standardizer(Xtr) if standardize else (Xtr.astype(np.float64).mean(0), 1.0)
    A = (Xtr - mean) * inv
    B = (Xte - mean) * inv
    Y = -np.ones((len(ytr), c))
    Y[np.arange(len(ytr)), ytr] = 1.0
    W = np.linalg.solve(A.T @ A + alpha * np.eye(A.shape[1]), A.T @ (Y - Y.mean(0)))
    return B @ W + Y.mean(0), W, Y.mean(0)


def test_ridge_progress_curve_state_and_settings():
    Xtr, ytr, Xte, yte, c = _problem(40)
    t0 = time.perf_counter()
    steps, res = _drain(train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 2.0}))
    elapsed = time.perf_counter() - t0
    assert [(p.done, p.total, p.message) for p in steps] == [
        (0, 2, "ridge (primal, d=5, n=40): accumulating"), (1, 2, "ridge (primal): 40/40 rows"),
        (2, 2, "ridge (primal) solved")]
    expect, W, ymean = _closed_form(Xtr, ytr, Xte, c, 2.0)
    assert np.allclose(res.scores, expect, atol=1e-4)
    assert res.state["W"].shape == (c, 5) and res.state["W"].dtype == np.float32
    assert np.allclose(res.state["W"], W.T, atol=1e-5)
    assert res.state["b"].dtype == np.float32 and np.allclose(res.state["b"], ymean)
    cp = res.curves[0]
    assert res.curves == (cp,) and steps[-1].payload is cp
    assert (cp.step, cp.epoch, cp.train_acc) == (1, 1.0, None) and np.isnan(cp.loss)
    assert cp.val_acc == pytest.approx(np.mean(expect.argmax(1) == yte))
    assert res.settings == {"alpha": 2.0, "form": "primal"}
    assert 0 < res.seconds <= elapsed
    blind = run_to_end(train_ridge(Xtr, ytr, Xte, yte[:0], c, {"alpha": 2.0}))
    assert blind.curves[0].val_acc is None and np.allclose(blind.scores, res.scores)


def test_ridge_standardize_option_and_primal_at_d_equal_n():
    Xtr, ytr, Xte, yte, c = _problem(5, d=5)
    res = run_to_end(train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 0.5}))
    assert res.settings["form"] == "primal"  # d == n: the d x d system
    assert np.allclose(res.scores, _closed_form(Xtr, ytr, Xte, c, 0.5)[0], atol=1e-4)
    raw = run_to_end(train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 0.5, "standardize": False}))
    assert np.allclose(raw.scores, _closed_form(Xtr, ytr, Xte, c, 0.5, standardize=False)[0], atol=1e-4)
    assert not np.allclose(raw.scores, res.scores, atol=1e-2)


@pytest.mark.parametrize("n, form", [(10, "primal"), (4, "dual")])
def test_ridge_accumulates_in_row_chunks(monkeypatch, n, form):
    monkeypatch.setattr(ridge, "ROW_CHUNK", 3)
    monkeypatch.setattr(headcore, "ROW_CHUNK", 3)
    Xtr, ytr, Xte, yte, c = _problem(n)
    steps, res = _drain(train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 1.5}))
    assert res.settings["form"] == form
    assert np.allclose(res.scores, _closed_form(Xtr, ytr, Xte, c, 1.5)[0], atol=1e-4)
    chunks = -(-n // 3)
    assert [(p.done, p.total) for p in steps] == [(k, chunks + 1) for k in range(chunks + 2)]
    ends = [min(n, 3 * (k + 1)) for k in range(chunks)]
    rows = [f"ridge (primal): {e}/{n} rows" for e in ends] if form == "primal" else \
        [f"ridge (dual): kernel {e}/{n} rows" for e in ends]
    assert [p.message for p in steps] == [f"ridge ({form}, d=5, n={n}): accumulating"] + rows + \
        [f"ridge ({form}) solved"]


@pytest.mark.parametrize("n", [12, 4])  # primal and dual
def test_ridge_cancel_between_chunks_and_before_the_solve(n):
    Xtr, ytr, Xte, yte, c = _problem(n)
    live = CancelToken()  # a token that is never set changes nothing
    assert np.allclose(run_to_end(train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 1.0}, cancel=live)).scores,
                       _closed_form(Xtr, ytr, Xte, c, 1.0)[0], atol=1e-4)
    token = CancelToken()
    gen = train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 1.0}, cancel=token)
    assert next(gen).done == 0
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)  # the accumulation checks before its first chunk
    token = CancelToken()
    gen = train_ridge(Xtr, ytr, Xte, yte, c, {"alpha": 1.0}, cancel=token)
    next(gen)
    assert next(gen).done == 1  # the last (only) chunk is accumulated
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)  # checked again before the solve


def test_ridge_weights_restore_the_system_and_refuse_bad_alpha():
    Xtr, ytr, Xte, yte, c = _problem(30)
    system = run_to_end(ridge_system(Xtr, ytr, c, {}))
    before = system.M.clone()
    for alpha in (0.5, 4.0, 0.5):  # the matrix is restored after each solve: the third equals the first
        W = ridge_weights(system, alpha)
        assert W.dtype == torch.float32 and np.allclose(W.numpy(), _closed_form(Xtr, ytr, Xte, c, alpha)[1],
                                                        atol=1e-5)
    assert torch.equal(system.M, before)
    scores = ridge.ridge_scores(system, ridge_weights(system, 0.5), Xte)  # the device defaults to the CPU
    assert np.allclose(scores.numpy(), _closed_form(Xtr, ytr, Xte, c, 0.5)[0], atol=1e-4)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="ridge: alpha must be positive, got"):
            ridge_weights(system, bad)
    assert isinstance(next(ridge_system(Xtr, ytr, c, {})), Progress)
