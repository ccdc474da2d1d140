"""A hyperparameter sweep standardises its features once (app.probe.headcore.Prepared, issue 14).

Every candidate of a sweep fits the same standardised matrix; each fit made its own before (and the test scoring one
more): on an H200 most of the random-cifar10 preset's head time was those passes over 45,000 x 36,864 float16
features. The figures must not move: the same table, the same test scores, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.probe import headcore, selection
from app.probe.heads import TRAINERS
from app.tasks import run_to_end


def _data(n=240, d=24, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * 1.5
    y = rng.integers(0, classes, n)
    X = (centres[y] + rng.normal(size=(n, d)) * 2 + 5).astype(np.float16)  # a float16 cache, off-centre
    return X, y


def _split():
    X, y = _data()
    return X[:160], y[:160], X[160:200], y[160:200], X[200:], y[200:]


@pytest.mark.parametrize("head,opts,grid", [
    ("logistic", {"optimizer": "lbfgs", "epochs": 30, "weight_decay": 0.01}, [0.1, 0.01, 0.001]),
    ("svm", {"epochs": 30, "C": 1.0}, [0.1, 1.0, 10.0]),
])
def test_a_sweep_standardises_once_and_its_figures_do_not_move(monkeypatch, head, opts, grid):
    Xtr, ytr, Xval, yval, Xte, yte = _split()
    from app.probe.config import HEAD_DEFAULTS
    opts = dict(HEAD_DEFAULTS[head], **opts)
    calls = []
    real = headcore.standardizer

    def counting(X, standardize, device=None):
        calls.append(len(X))
        return real(X, standardize, device)

    monkeypatch.setattr(headcore, "standardizer", counting)
    sel = run_to_end(selection.select_and_fit(head, Xtr, ytr, Xval, yval, Xte, yte, 3, opts, grid=grid))
    assert calls == [len(Xtr)]  # once, on the training rows (was one per candidate and one for the test scores)
    monkeypatch.setattr(headcore, "standardizer", real)

    # each candidate fitted on its own, as the sweep did before (the same warm starts, in the same order)
    key = selection.HYPER[head]
    state, table, fits = None, [], {}
    for value in selection.sweep_order(head, grid):
        res = run_to_end(TRAINERS[head](Xtr, ytr, Xval, yval, 3, dict(opts, **{key: value}), init=state))
        state = res.state
        table.append((value, float(np.mean(res.scores.argmax(1) == yval))))
        fits[value] = res
    assert list(sel.table) == table
    best = fits[sel.best_value]
    mean, inv = real(Xtr, True)
    B = headcore.to_device(Xte, mean, inv, "cpu").numpy()
    expected = B @ best.state["W"].T + best.state["b"]
    np.testing.assert_allclose(sel.result.scores, expected, rtol=1e-5, atol=1e-5)


def test_prepared_features_refuse_a_fit_that_standardises_otherwise():
    Xtr, ytr, Xval, yval, _, _ = _split()
    prep = headcore.prepare_once(Xtr, ytr, Xval, {"standardize": True}, "cpu")
    with pytest.raises(ValueError, match="standardize=True"):
        prep.tensors({"standardize": False})
    A, B, y = prep.tensors({})
    mean, inv = headcore.standardizer(Xtr, True)
    np.testing.assert_array_equal(A.numpy(), headcore.to_device(Xtr, mean, inv, "cpu").numpy())
    assert y.dtype.is_floating_point is False and len(B) == len(Xval)


def test_the_selection_hands_its_statistics_to_the_head_export():
    Xtr, ytr, Xval, yval, Xte, yte = _split()
    from app.probe.config import HEAD_DEFAULTS
    opts = dict(HEAD_DEFAULTS["logistic"], epochs=10)
    sel = run_to_end(selection.select_and_fit("logistic", Xtr, ytr, Xval, yval, Xte, yte, 3, opts, grid=[0.1, 0.01]))
    mean, inv = headcore.standardizer(Xtr, True)
    np.testing.assert_array_equal(sel.stats[0], mean)
    np.testing.assert_array_equal(sel.stats[1], inv)
