"""The logistic head's options and messages in detail: the progress a user reads (L-BFGS iterations, Adam epochs),
Adam's learning-rate rule, batch size, seed, accuracy points, and train_head passing keywords through.
Written against the surviving mutants of a mutmut run (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch._dynamo  # noqa: F401  (the first Adam step imports it, ~4 s: here once per session, and once for
# all mutants under mutmut's forkserver, which imports the test modules before it forks)

from app.probe.heads import train_head, train_logistic
from app.tasks import CancelToken, Cancelled, run_to_end
from head_helpers import drain as _drain


def _problem(n=200, d=8, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    X = (rng.standard_normal((n, d)) + 1.5 * np.eye(c, d)[y]).astype(np.float32)
    return X, y, c


def test_lbfgs_progress_messages_and_time():
    X, y, c = _problem()
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 150}
    t0 = time.perf_counter()
    steps, res = _drain(train_logistic(X, y, X[:40], y[:40], c, opts))
    elapsed = time.perf_counter() - t0
    assert [(p.done, p.total) for p in steps] == [(cp.step, 150) for cp in res.curves]
    assert [p.message for p in steps] == [f"training logistic head: iteration {cp.step}/150, loss {cp.loss:.4f}"
                                         for cp in res.curves]
    assert 0 < res.seconds <= elapsed
    auto = run_to_end(train_logistic(X, y, X[:40], y[:40], c, dict(opts, precondition="auto")))
    assert np.array_equal(auto.scores, res.scores)  # "auto" is the default
    off = run_to_end(train_logistic(X, y, X[:40], y[:40], c, dict(opts, precondition="off")))
    assert np.allclose(off.scores, res.scores, atol=2e-3)  # the same optimum without the preconditioner


def test_adam_progress_learning_rate_rule_batches_and_seed():
    X, y, c = _problem(n=600, seed=1)
    base = {"optimizer": "adam", "weight_decay": 1e-3, "epochs": 3, "eval_every": 3}
    steps, ref = _drain(train_logistic(X, y, X[:50], y[:50], c, base))  # lr and batch_size: the defaults
    assert [(p.done, p.total, p.message) for p in steps] == [
        (k, 3, f"training logistic head: epoch {k}/3") for k in (1, 2, 3)]
    # eval_every 3: every max(1, 3 // 5) = 1 epoch gets accuracies
    assert all(cp.val_acc is not None and cp.train_acc is not None for cp in ref.curves)

    def fit(**kw):
        return run_to_end(train_logistic(X, y, X[:50], y[:50], c, dict(base, **kw))).scores

    # an L-BFGS-sized step (>= 0.5, the default 1.0 included) is replaced by Adam's 1e-3; smaller ones are kept
    assert np.array_equal(fit(lr=1.0), ref.scores) and np.array_equal(fit(lr=0.5), ref.scores)
    assert np.array_equal(fit(lr=1e-3), ref.scores)
    assert not np.allclose(fit(lr=0.05), ref.scores, atol=1e-3)
    # batch size 512 is the default (600 rows: two batches per epoch)
    assert np.array_equal(fit(batch_size=512), ref.scores)
    assert not np.allclose(fit(batch_size=600), ref.scores, atol=1e-5)
    # the seed draws the batches: seed 0 is the default, another seed gives other batches
    seeded = run_to_end(train_logistic(X, y, X[:50], y[:50], c, base, seed=0)).scores
    other = run_to_end(train_logistic(X, y, X[:50], y[:50], c, base, seed=1)).scores
    assert np.array_equal(seeded, ref.scores) and not np.allclose(other, ref.scores, atol=1e-5)
    # weight decay reaches the Adam loss
    assert np.abs(fit(weight_decay=1.0) - ref.scores).max() > 1e-5


def test_adam_cancel_and_train_head_passes_keywords():
    X, y, c = _problem(seed=2)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(train_logistic(X, y, X, y, c, {"optimizer": "adam", "weight_decay": 0.0, "epochs": 2},
                                  cancel=token))
    with pytest.raises(Cancelled):
        run_to_end(train_head("logistic", X, y, X, y, c, {"optimizer": "lbfgs", "weight_decay": 1e-2,
                                                          "epochs": 10}, cancel=token))
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 100}
    cold = run_to_end(train_head("logistic", X, y, X, y, c, opts))
    warm = run_to_end(train_head("logistic", X, y, X, y, c, opts, init=cold.state))
    assert warm.stop["iterations"] <= 1 < cold.stop["iterations"]


def _start_gradient_max(X, y, c):
    """max |gradient| of the mean cross-entropy at zero weights (uniform probabilities), numpy float64."""
    from app.probe.headcore import standardizer

    m, inv = standardizer(X, True)
    A = ((X - m) * inv).astype(np.float64)
    P = np.full((len(y), c), 1.0 / c)
    P[np.arange(len(y)), y] -= 1.0
    return max(np.abs(P.T @ A / len(y)).max(), np.abs(P.mean(0)).max())


def test_lbfgs_without_iterations_reports_the_start():
    # epochs = 0 used to end in UnboundLocalError (the final iterate was never bound)
    X, y, c = _problem(seed=4)
    res = run_to_end(train_logistic(X, y, X[:10], y[:10], c, {"optimizer": "lbfgs", "weight_decay": 1e-2,
                                                               "epochs": 0}))
    assert res.stop["iterations"] == 0 and res.stop["converged"] is False
    assert res.stop["value"] == pytest.approx(_start_gradient_max(X, y, c), rel=1e-5)
    assert res.curves == () and not res.scores.any() and not res.state["W"].any()


def test_lbfgs_stops_at_the_first_iterate_under_the_tolerance_and_measures_the_last_point():
    X, y, c = _problem(seed=5)
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 300, "tol": 1e-3, "eval_every": 0}
    full = run_to_end(train_logistic(X, y, X[:30], y[:30], c, opts))
    n = full.stop["iterations"]
    assert full.stop["converged"] and n > 2
    before = run_to_end(train_logistic(X, y, X[:30], y[:30], c, dict(opts, epochs=n - 1)))
    assert before.stop["iterations"] == n - 1 and not before.stop["converged"] and before.stop["value"] > 1e-3
    stalled = run_to_end(train_logistic(X, y, X[:30], y[:30], c, dict(opts, tol=0.0)))  # never met: stalls
    assert not stalled.stop["converged"] and stalled.stop["iterations"] < 300
    for res in (full, before, stalled):  # eval_every 0: only the last point is measured, however the run ended
        assert [cp.step for cp in res.curves if cp.val_acc is not None] == [res.stop["iterations"]]
        assert res.curves[-1].train_acc is not None


def test_train_accuracy_on_more_than_20000_rows_uses_the_first_20000():
    from app.probe.headcore import standardizer

    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 20003)
    X = (rng.standard_normal((20003, 2)) + 2.0 * y[:, None]).astype(np.float32)
    for optimizer in ("lbfgs", "adam"):
        res = run_to_end(train_logistic(X, y, X[:5], y[:5], 2, {"optimizer": optimizer, "weight_decay": 1e-3,
                                                                 "epochs": 1, "eval_every": 1, "lr": 0.01}))
        m, inv = standardizer(X, True)
        pred = ((((X - m) * inv) @ res.state["W"].T) + res.state["b"]).argmax(1)
        assert res.curves[-1].train_acc == pytest.approx(np.mean(pred[:20000] == y[:20000]), abs=1e-4)


def test_preconditioner_saves_iterations_on_correlated_features():
    from app.probe.heads import accuracy_due

    # six strongly correlated features: an ill-conditioned Hessian that the preconditioner makes nearly isotropic
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300)
    X = ((rng.standard_normal((300, 6)) + np.eye(4, 6)[y]) @ (np.eye(6) + 0.95 * np.ones((6, 6)))).astype(np.float32)
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-3, "epochs": 500}  # precondition: the default, "auto"
    auto = run_to_end(train_logistic(X, y, X[:20], y[:20], 4, opts))
    off = run_to_end(train_logistic(X, y, X[:20], y[:20], 4, dict(opts, precondition="off")))
    assert auto.stop["converged"] and off.stop["converged"]
    assert 1.5 * auto.stop["iterations"] < off.stop["iterations"]  # measured: 8 vs 19
    assert np.allclose(auto.scores, off.scores, atol=5e-3)
    # the default eval_every (10): accuracies at 1, 2, 4, 8, 10, 20, ... and the last point, train and test alike
    last = off.stop["iterations"]
    due = [k for k in range(1, last + 1) if accuracy_due(k, 10) or k == last]
    assert last > 10 and 10 in due
    assert [cp.step for cp in off.curves if cp.val_acc is not None] == due
    assert [cp.step for cp in off.curves if cp.train_acc is not None] == due


def test_adam_epoch_loss_is_the_objective_when_the_step_is_negligible():
    # lr 1e-12: the weights stay at the warm start, so each epoch's reported loss is the mean cross-entropy plus
    # weight_decay/2 |W|^2 at those weights, computed here in numpy (200 rows < the default batch of 512: one batch)
    from app.probe.headcore import standardizer

    X, y, c = _problem(seed=6)
    rng = np.random.default_rng(0)
    init = {"W": rng.standard_normal((c, 8)).astype(np.float32) * 0.3, "b": rng.standard_normal(c).astype(np.float32)}
    wd = 0.5
    res = run_to_end(train_logistic(X, y, X[:10], y[:10], c, {"optimizer": "adam", "weight_decay": wd, "epochs": 2,
                                                               "lr": 1e-12}, init=init))
    m, inv = standardizer(X, True)
    z = ((X - m) * inv).astype(np.float64) @ init["W"].T.astype(np.float64) + init["b"]
    z -= z.max(1, keepdims=True)
    ce = -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean()
    expect = ce + 0.5 * wd * (init["W"].astype(np.float64) ** 2).sum()
    assert [cp.loss for cp in res.curves] == pytest.approx([expect, expect], rel=1e-5)
    assert np.allclose(res.state["W"], init["W"], atol=1e-6) and np.isfinite(res.scores).all()


def test_preconditioner_defaults_and_seeded_row_sample():
    import torch

    from app.probe.heads import preconditioner

    rng = np.random.default_rng(8)
    A = torch.from_numpy(rng.standard_normal((40, 3)).astype(np.float32))
    L, LT, s = preconditioner(A, 0.1)  # defaults: mode "auto", curvature 0.01, all 40 rows (fewer than 1024)
    assert torch.allclose(L @ LT, 0.01 * A.T @ A / 40 + 0.1 * torch.eye(3), atol=1e-6) and s == pytest.approx(0.1)
    # more rows than max(d, 1024): a sample of 1024 rows, drawn by a generator seeded with ``seed`` (default 0)
    big = torch.from_numpy(rng.standard_normal((1100, 3)).astype(np.float32))
    for seed in (0, 3):
        idx = torch.randperm(1100, generator=torch.Generator().manual_seed(seed))[:1024]
        S = big[idx]
        expect = 0.5 * S.T @ S / 1024 + 0.1 * torch.eye(3)
        L, _, _ = preconditioner(big, 0.1, "on", seed, curvature=0.5) if seed else preconditioner(big, 0.1, "on",
                                                                                                    curvature=0.5)
        assert torch.allclose(L @ L.T, expect, atol=1e-5)
        assert not torch.allclose(L @ L.T, 0.5 * big.T @ big / 1100 + 0.1 * torch.eye(3), atol=1e-5)
