"""Audit 32 of the probe's numerical core: the ridge head without standardisation against scikit-learn (its
intercept), the recorded model seed where the options carry one (history grouping), the learning rate an Adam
logistic head records."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from app.models.spec import ModelSpec
from app.probe.compare import compare_groups, seed_reruns
from app.probe.config import HEAD_DEFAULTS, ProbeConfig
from app.probe.heads import train_logistic
from app.probe.history import History
from app.probe.history_schema import setting_of
from app.probe.ridge import train_ridge
from app.probe.selection import select_and_fit
from app.tasks import run_to_end


# --- 1. ridge with standardize off: scikit-learn's Ridge(alpha, fit_intercept=True) on the raw features ---------
def _raw_problem(n, d, seed=0):
    """Features far from centred (column means 3..8, scales 0.5..2.5): the intercept mean(Y) alone is far off."""
    g = np.random.default_rng(seed)
    Z = g.standard_normal((n + 200, d))
    y = (Z @ g.standard_normal((d, 4)) + 2.0 * g.standard_normal((n + 200, 4))).argmax(1)
    X = (Z * g.uniform(0.5, 2.5, d) + g.uniform(3.0, 8.0, d)).astype(np.float32)
    return X[:n], y[:n], X[n:], y[n:]


def _sk_ridge(X, y, Xq, alpha, C=4):
    from sklearn.linear_model import Ridge

    Y = -np.ones((len(y), C))
    Y[np.arange(len(y)), y] = 1.0
    sk = Ridge(alpha=alpha, fit_intercept=True, solver="cholesky").fit(X.astype(np.float64), Y)
    return sk, sk.predict(Xq.astype(np.float64)), Y


@pytest.mark.parametrize("n,d,form", [(400, 24, "primal"), (30, 60, "dual")])
@pytest.mark.parametrize("alpha", [1.0, 100.0])
def test_unstandardised_ridge_is_sklearns_ridge_on_the_raw_features(n, d, form, alpha):
    Xtr, ytr, Xte, yte = _raw_problem(n, d)
    res = run_to_end(train_ridge(Xtr, ytr, Xte, yte, 4, {"alpha": alpha, "standardize": False}))
    assert res.settings["form"] == form
    sk, ref, Y = _sk_ridge(Xtr, ytr, Xte, alpha)
    scale = np.abs(ref).max()
    assert np.abs(res.scores - ref).max() <= 1e-4 * scale  # (uncentred: up to ~0.5 x scale apart before the fix)
    # the state (raw coordinates, as headcore.standardizer's for standardize off: what the exported head applies)
    W, b = res.state["W"].astype(np.float64), res.state["b"].astype(np.float64)
    assert np.abs(Xte @ W.T + b - ref).max() <= 1e-4 * scale
    assert np.allclose(W, sk.coef_, rtol=1e-3, atol=1e-5 * np.abs(sk.coef_).max())
    assert np.allclose(b, sk.intercept_, rtol=1e-4, atol=1e-4)

    def objective(W, b):  # sum of squares + alpha ||W||^2, the objective both minimise
        return ((Xtr.astype(np.float64) @ W.T + b - Y) ** 2).sum() + alpha * (W ** 2).sum()

    assert objective(W, b) == pytest.approx(objective(sk.coef_, sk.intercept_), rel=1e-6)


def test_unstandardised_ridge_on_the_digits_pixels_reaches_sklearns_objective():
    """The audit's case: 1347 digits images, raw pixels, alpha 1 (before: objective 1646.39 against 1643.13, test
    scores 0.098 apart, 92.67% against scikit-learn's 93.11%)."""
    from app.data import load

    tr, te = load("digits", "train"), load("digits", "test")
    Xtr = tr.images.reshape(len(tr), -1).astype(np.float32)
    Xte = te.images.reshape(len(te), -1).astype(np.float32)
    res = run_to_end(train_ridge(Xtr, tr.labels, Xte, te.labels, 10, {"alpha": 1.0, "standardize": False}))
    sk, ref, Y = _sk_ridge(Xtr, tr.labels, Xte, 1.0, C=10)
    assert np.abs(res.scores - ref).max() <= 1e-4 * np.abs(ref).max()
    assert np.mean(res.scores.argmax(1) == te.labels) == pytest.approx(np.mean(ref.argmax(1) == te.labels))
    W, b = res.state["W"].astype(np.float64), res.state["b"].astype(np.float64)
    obj = ((Xtr @ W.T + b - Y) ** 2).sum() + (W ** 2).sum()
    assert obj == pytest.approx(((Xtr @ sk.coef_.T + sk.intercept_ - Y) ** 2).sum() + (sk.coef_ ** 2).sum(),
                                rel=1e-6)


@pytest.mark.parametrize("n,d", [(400, 24), (30, 60)])
def test_the_ridge_sweep_reuses_the_centred_system(n, d):
    """selection._select_ridge: every alpha's validation figure and the winner's test scores and state are
    scikit-learn's (one system, standardize off)."""
    Xtr, ytr, Xo, yo = _raw_problem(n, d, seed=3)
    Xval, yval, Xte, yte = Xo[:100], yo[:100], Xo[100:], yo[100:]
    grid = (0.1, 10.0, 1000.0)
    sel = run_to_end(select_and_fit("ridge", Xtr, ytr, Xval, yval, Xte, yte, 4, {"alpha": 1.0, "standardize": False},
                                    grid=grid))
    for alpha, acc in sel.table:
        _, ref_val, _ = _sk_ridge(Xtr, ytr, Xval, alpha)
        assert acc == pytest.approx(np.mean(ref_val.argmax(1) == yval))
    sk, ref, _ = _sk_ridge(Xtr, ytr, Xte, sel.best_value)
    assert np.abs(sel.result.scores - ref).max() <= 1e-4 * np.abs(ref).max()
    W, b = sel.result.state["W"].astype(np.float64), sel.result.state["b"].astype(np.float64)
    assert np.abs(Xte @ W.T + b - ref).max() <= 1e-4 * np.abs(ref).max()


def test_standardised_ridge_state_is_unchanged_in_its_coordinates():
    """standardize on (the default): the state stays in standardised coordinates with intercept mean(Y)."""
    from app.probe.headcore import standardizer

    Xtr, ytr, Xte, yte = _raw_problem(300, 20, seed=5)
    res = run_to_end(train_ridge(Xtr, ytr, Xte, yte, 4, {"alpha": 10.0}))
    Y = -np.ones((len(ytr), 4))
    Y[np.arange(len(ytr)), ytr] = 1.0
    assert np.array_equal(res.state["b"], Y.mean(0).astype(np.float32))
    m, inv = standardizer(Xtr, True)
    _, ref, _ = _sk_ridge((Xtr - m) * inv, ytr, (Xte - m) * inv, 10.0)
    assert np.abs(res.scores - ref).max() <= 1e-4 * np.abs(ref).max()


# --- 2. the recorded model seed: the one that drew the weights ------------------------------------------------
def _digits_train():
    from app.data import load

    return load("digits", "train")


def _rdsn(spec_seed, **options):
    return ModelSpec.make("rdsn", options={"k": 8, "blocks": 1, **options}, seed=spec_seed)


def test_the_options_seed_is_the_recorded_model_seed():
    from app.probe.resolve import model_seed, resolve

    train = _digits_train()
    for spec, want in [(_rdsn(1, seed=5), 5), (_rdsn(2, seed=5), 5), (_rdsn(0, seed=6), 6), (_rdsn(3), 3)]:
        record, _ = resolve(ProbeConfig(model=spec, dataset="digits", head="ridge", train_limit=200), train)
        assert record.seeds.model == want and dict(record.model.options)["seed"] == want
    # an initialisation drawn from the spec's seed (build: apply_init seeded with spec.seed + 1): the spec's seed
    assert model_seed(dataclasses.replace(_rdsn(1, seed=5), init="kaiming")) == 1
    assert model_seed(dataclasses.replace(_rdsn(1, seed=5), init="default")) == 5
    assert model_seed(ModelSpec.make("simple", seed=4)) == 4  # no options seed: the spec's
    # a data-dependent backbone: the run fits its filters with the recorded seed, the spec's (as before)
    patches = ModelSpec.make("patches", options={"k": 8, "seed": 5}, seed=1)
    assert model_seed(patches, fitted=True) == 1
    record, _ = resolve(ProbeConfig(model=patches, dataset="digits", head="ridge", train_limit=200), train)
    assert record.seeds.model == 1
    assert model_seed(ModelSpec.make("lenet5", seed=4)) == 4  # a backbone that takes no seed option: the spec's


def _record(options_seed, spec_seed, recorded, **extra):
    """A stored run's ``resolved`` record (the fields setting_of reads), as ``ResolvedProbe.to_dict`` writes it."""
    res = {"model": {"backbone": "rdsn", "seed": spec_seed, "options": {"k": 64, "seed": options_seed}},
           "layer": 1, "pooling": "grid2", "head": "logistic", "head_options": {"epochs": 5},
           "seeds": {"model": recorded, "split": 0, "head": 0}, "dataset": "digits"}
    res.update(extra)
    return {"resolved": res}


def test_setting_of_keeps_an_options_seed_that_is_not_the_recorded_model_seed():
    # the recorded model seed in the options (copied there, or the options seed recorded): left out
    assert setting_of(_record(5, 1, 5)) == setting_of(_record(5, 2, 5)) == setting_of(_record(6, 0, 6))
    assert setting_of(_record(0, 0, 0)) == setting_of(_record(3, 3, 3))
    assert '"seed"' not in setting_of(_record(5, 1, 5))
    # a run stored before the fix: --options seed=5 / seed=6 recorded model seed 0: two settings, not one seed twice
    old5, old6 = setting_of(_record(5, 0, 0)), setting_of(_record(6, 0, 0))
    assert old5 != old6 and json.loads(old5)["model"]["options"]["seed"] == 5
    # no recorded seeds (the history's model_seed column reads the spec's seed): compared with that
    no_seeds = _record(5, 5, None)
    no_seeds["resolved"].pop("seeds")
    assert '"seed"' not in setting_of(no_seeds)
    no_seeds["resolved"]["model"]["seed"] = 1
    assert json.loads(setting_of(no_seeds))["model"]["options"]["seed"] == 5


def _stored(options_seed, spec_seed, recorded, top1):
    d = _record(options_seed, spec_seed, recorded)
    d["resolved"]["model"].update(label="rdsn", weight_state="random", weights=None)
    d.update(top1=top1, top2=top1, top5=top1, n_train=300, n_test=100, n_val=0, n_features=256,
             classes=[str(i) for i in range(10)], created="2026-12-05T00:00:00")
    return d


def test_compare_groups_of_runs_stored_before_the_fix(tmp_path):
    """The audit's case B as stored before: ``seed=5`` and ``seed=6`` (other weights: 93.56% and 94.00%) both
    recorded model seed 0: one group, one distinct seed, std 0, called a rerun that differs. Read now: two groups."""
    h = History(tmp_path / "h.sqlite")
    a = h.add(_stored(5, 0, 0, 0.9356))
    b = h.add(_stored(6, 0, 0, 0.9400))
    groups = compare_groups(h.list())
    assert sorted(g.ids for g in groups) == [(a,), (b,)]
    assert all(seed_reruns(g) == [] for g in groups)
    h.close()


def test_probe_runs_record_the_seed_that_drew_their_weights(fe_home):
    """End to end on digits (tiny limits): ``--options seed=5 --model-seed 1`` and ``--model-seed 2`` build the same
    weights: recorded model seed 5 both, one group, a rerun of one seed (not two seeds with no spread); ``seed=5``
    and ``seed=6``: recorded 5 and 6, two seeds of one setting."""
    from app.probe.run import run_probe

    def probe(spec):
        cfg = ProbeConfig(model=spec, dataset="digits", head="ridge", train_limit=200, test_limit=150, val=0,
                          pooling="grid2", head_options=(("alpha", 10.0),))
        return run_to_end(run_probe(cfg))

    a1, a2, b6 = probe(_rdsn(1, seed=5)), probe(_rdsn(2, seed=5)), probe(_rdsn(0, seed=6))
    assert [r.seeds["model"] for r in (a1, a2, b6)] == [5, 5, 6]
    assert [r.resolved.seeds.model for r in (a1, a2, b6)] == [5, 5, 6]
    assert a1.top1 == a2.top1 and list(a1.misclassified) == list(a2.misclassified)  # the same weights
    assert list(a1.misclassified) != list(b6.misclassified)  # other weights
    h = History(fe_home / "h.sqlite")
    ids = [h.add(r) for r in (a1, a2, b6)]
    assert [s.model_seed for s in sorted(h.list(), key=lambda s: s.id)] == [5, 5, 6]
    (group,) = compare_groups(h.list())
    assert group.ids == tuple(ids) and group.distinct_seeds == 2 and group.repeated_seeds == 1
    assert seed_reruns(group) == [(ids[0], ids[1])]
    assert group.top1_mean == pytest.approx((a1.top1 + b6.top1) / 2)
    h.close()


# --- 3. the learning rate an Adam head records ------------------------------------------------------------------
def _logistic_problem(n=400, d=12, seed=1):
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)).astype(np.float32)
    y = (X @ g.standard_normal((d, 3))).argmax(1)
    return X, y


def test_an_adam_head_records_the_learning_rate_it_used():
    X, y = _logistic_problem()
    base = {"optimizer": "adam", "weight_decay": 1e-3, "epochs": 3, "eval_every": 0}

    def fit(**kw):
        return run_to_end(train_logistic(X, y, X[:50], y[:50], 3, dict(base, **kw)))

    ref = fit(lr=1e-3)
    assert ref.settings["lr"] == 1e-3
    for asked in (None, 1.0, 0.5):  # none, or an L-BFGS step (the head options' default 1.0): Adam's 1e-3
        r = fit() if asked is None else fit(lr=asked)
        assert np.array_equal(r.scores, ref.scores) and r.settings["lr"] == 1e-3
    merged = run_to_end(train_logistic(X, y, X[:50], y[:50], 3, dict(HEAD_DEFAULTS["logistic"], **base)))
    assert np.array_equal(merged.scores, ref.scores) and merged.settings["lr"] == 1e-3
    other = fit(lr=0.05)  # a learning rate below 0.5: used as given
    assert other.settings["lr"] == 0.05 and not np.allclose(other.scores, ref.scores, atol=1e-3)
    # L-BFGS records its step as given (it uses it)
    assert fit(optimizer="lbfgs", lr=1.0).settings["lr"] == 1.0


def _logistic_config(**head_options):
    return ProbeConfig(model=_rdsn(0), dataset="digits", head="logistic", train_limit=200, test_limit=150,
                       pooling="grid2", head_options=tuple(sorted(head_options.items())))


def test_resolve_records_adams_learning_rate_and_refuses_an_lbfgs_step():
    from app.probe.resolve import ProbeSettingsError, check_config, head_options

    assert head_options(_logistic_config(optimizer="adam"), 1)["lr"] == 1e-3  # the default 1.0: not what Adam uses
    assert head_options(_logistic_config(optimizer="adam", lr=0.02), 1)["lr"] == 0.02
    assert head_options(_logistic_config(), 1)["lr"] == 1.0  # L-BFGS: its step, as before
    assert head_options(_logistic_config(lr=0.7), 1)["lr"] == 0.7
    for lr in (0.5, 1.0):
        with pytest.raises(ProbeSettingsError, match="Adam learning rate must be below 0.5"):
            check_config(_logistic_config(optimizer="adam", lr=lr))


def test_an_adam_probe_records_the_rate_it_used_and_reruns_an_older_record(fe_home):
    from app.probe.paired import rerun_check
    from app.probe.run import rerun, run_probe

    result = run_to_end(run_probe(_logistic_config(optimizer="adam", epochs=2, weight_decay=1e-3)))
    assert result.resolved.options["lr"] == 1e-3 and result.settings["head_options"]["lr"] == 1e-3
    assert result.to_dict()["resolved"]["head_options"]["lr"] == 1e-3
    # a run stored before recorded lr 1.0 (the default) and trained with 1e-3: its rerun is the same run
    old = json.loads(json.dumps(result.to_dict()))
    old["resolved"]["head_options"]["lr"] = 1.0
    again = run_to_end(rerun(old))
    assert rerun_check(result.to_dict(), again.to_dict())["reproduced"]
    assert again.settings["head_options"]["lr"] == 1e-3
