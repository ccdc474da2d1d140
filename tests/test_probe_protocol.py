"""The probe protocol (issues 9 and 10): one resolved record up front, a seeded validation split, hyperparameters
chosen on validation, three honoured seeds, an equal feature budget, reruns from the record, the guardrails."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.data import load
from app.models.base import ModelError
from app.models.spec import ModelSpec
from app.probe.budget import fit_projection
from app.probe.config import CurvePoint, ProbeConfig
from app.probe.resolve import ProbeSettingsError, ResolvedProbe, default_val, effective_spec
from app.probe.run import rerun, run_probe, train_splits
from app.tasks import run_to_end


def cfg(**kw) -> ProbeConfig:
    base = dict(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}), dataset="digits", head="ridge",
                train_limit=200, test_limit=80, pooling="grid2")
    base.update(kw)
    return ProbeConfig(**base)


# --- the record ---------------------------------------------------------------------------------------------------
def test_default_validation_sizes():
    assert default_val(300, 10) == 60  # 20%
    assert default_val(19999, 10) == 4000  # round(0.2 * 19999) = 4000
    assert default_val(20000, 10) == 5000 and default_val(60000, 10) == 5000
    assert default_val(20, 10) == 10  # 20% = 4 < one per class: 10, still half left for training
    assert default_val(5, 10) == 2 and default_val(1, 10) == 0


def test_the_record_is_complete_and_round_trips(fe_home):
    result = run_to_end(run_probe(cfg(pooling="default", head="logistic")))
    r = result.resolved
    assert isinstance(r, ResolvedProbe)
    assert r.pooling == "grid3" and r.layer == 1 and r.layer_name == "block1"  # rdsn's gray defaults, concrete
    assert r.head_options == tuple(sorted(r.head_options)) and dict(r.head_options)["weight_decay"] == 1e-3
    assert set(dict(r.head_options)) == {"optimizer", "weight_decay", "epochs", "lr", "batch_size", "tol", "gap_tol",
                                         "precondition", "standardize", "eval_every"}
    assert dict(r.model.options) == {"k": 8, "blocks": 1, "in_channels": 1, "input_size": 8, "seed": 0}
    # the random backbone reads digits by its training split's own statistics, as measured from its pixels
    pixels = load("digits", "train").images.astype(np.float64) / 255
    assert r.input.channels == 1 and r.input.mean == (0.3049,) and r.input.std == (0.3761,)
    assert r.input.mean[0] == pytest.approx(pixels.mean(), abs=5e-5)
    assert r.input.std[0] == pytest.approx(pixels.std(), abs=5e-5)
    assert r.val == 40 and r.seeds.to_dict() == {"model": 0, "split": 0, "head": 0}
    assert r.data_root.startswith("/")
    d = json.loads(json.dumps(result.to_dict()))
    assert ResolvedProbe.from_dict(d["resolved"]) == r
    assert d["settings"]["pooling"] == "grid3" and d["settings"]["layer_name"] == "block1"


def test_rerun_reproduces_the_numbers(fe_home):
    first = run_to_end(run_probe(cfg(head="logistic", split_seed=3, head_seed=5, val=30)))
    again = run_to_end(rerun(json.loads(json.dumps(first.to_dict()))))
    assert again.resolved == first.resolved
    assert (again.top1, again.val_top1, again.n_features, again.selected) == \
        (first.top1, first.val_top1, first.n_features, first.selected)
    assert np.array_equal(again.confusion, first.confusion)


def test_settings_errors_are_the_projects_own(fe_home):
    with pytest.raises(ProbeSettingsError, match="layer 7 out of range"):
        run_to_end(run_probe(cfg(layer=7)))
    with pytest.raises(ProbeSettingsError, match="validation split of 200"):
        run_to_end(run_probe(cfg(val=200)))
    with pytest.raises(ProbeSettingsError, match="needs a validation split"):
        run_to_end(run_probe(cfg(val=0, select_pooling=True)))
    with pytest.raises(ProbeSettingsError, match="budget method"):
        run_to_end(run_probe(cfg(feature_budget=4, budget_method="svd")))


# --- validation split and selection -------------------------------------------------------------------------------
def test_validation_split_is_seeded_stratified_and_disjoint(fe_home):
    r = run_to_end(run_probe(cfg(val=50))).resolved
    train, val = train_splits(r)
    assert len(train) == 150 and len(val) == 50
    full = load("digits", "train").subset(200, seed=0)
    rows = {im.tobytes() for im in full.images}
    assert {im.tobytes() for im in train.images} | {im.tobytes() for im in val.images} <= rows
    assert not {im.tobytes() for im in train.images} & {im.tobytes() for im in val.images}
    share = np.floor(np.bincount(full.labels, minlength=10) * 50 / 200)  # stratified: each class's share
    assert (np.bincount(val.labels, minlength=10) >= share).all()
    whole = r.with_(train_limit=None)  # the same (whole) training set, two split seeds: two validation sets
    _, v1 = train_splits(whole)
    _, v2 = train_splits(whole.with_(seeds=r.seeds.__class__(0, 1, 0)))
    assert len(v1) == len(v2) == 50
    assert {im.tobytes() for im in v2.images} != {im.tobytes() for im in v1.images}  # the split seed counts


def test_val_zero_is_allowed_and_recorded(fe_home):
    result = run_to_end(run_probe(cfg(val=0)))
    assert result.n_val == 0 and result.val_top1 is None and result.resolved.val == 0 and result.n_train == 200


def test_hyperparameter_chosen_on_validation(fe_home):
    result = run_to_end(run_probe(cfg(grid=(1e-3, 1e7))))
    table = dict(result.selection)
    assert set(table) == {1e-3, 1e7}
    assert table[1e-3] > table[1e7]  # alpha 1e7 shrinks every weight to ~0
    assert result.selected == {"alpha": 1e-3} and result.val_top1 == table[1e-3]
    assert result.resolved.grid == (1e-3, 1e7)


def test_select_layer_and_pooling_on_validation(fe_home):
    result = run_to_end(run_probe(cfg(select_layer=True, select_pooling=True)))
    assert set(result.selected) == {"alpha", "layer", "pooling"}
    assert result.resolved.layer == result.selected["layer"] and result.resolved.pooling == result.selected["pooling"]
    assert result.resolved.select == ("layer", "pooling")


def test_curve_points_read_old_runs():
    old = {"step": 3, "epoch": 1.0, "loss": 0.5, "train_acc": 0.9, "test_acc": 0.8}
    cp = CurvePoint.from_dict(old)
    assert cp.val_acc == 0.8 and cp.to_dict()["val_acc"] == 0.8 and "test_acc" not in cp.to_dict()


# --- seeds ----------------------------------------------------------------------------------------------------------
def test_model_seed_changes_random_features(fe_home):
    a = run_to_end(run_probe(cfg(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}, seed=0))))
    b = run_to_end(run_probe(cfg(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}, seed=1))))
    assert a.seeds["model"] == 0 and b.seeds["model"] == 1
    assert dict(b.resolved.model.options)["seed"] == 1  # rdsn's own seed option follows the model seed
    assert not b.feature_cache_hit  # other weights, other features


def test_seeds_are_recorded_separately(fe_home):
    r = run_to_end(run_probe(cfg(seed=4, split_seed=2, head_seed=9)))
    assert r.seeds == {"model": 0, "split": 2, "head": 9}
    assert run_to_end(run_probe(cfg(seed=4))).seeds == {"model": 0, "split": 4, "head": 4}


# --- equal feature budget -------------------------------------------------------------------------------------------
def test_pca_projection_by_hand():
    X = np.array([[2.0, 0.0], [0.0, 1.0], [-2.0, 0.0], [0.0, -1.0]], np.float32) + [1.0, 5.0]
    p = fit_projection(X, 1, "pca")
    assert p.method == "pca" and p.mean.tolist() == [1.0, 5.0]
    assert np.allclose(p.matrix[:, 0], [1.0, 0.0])  # the direction of largest variance, sign made positive
    assert np.allclose(p.apply(X)[:, 0], [2.0, 0.0, -2.0, 0.0])
    wide = fit_projection(X[:, [0, 1, 0, 1, 1]], 1, "pca")  # fewer rows than columns: the Gram form
    assert np.allclose(np.abs(wide.matrix[:, 0]), np.array([1, 0, 1, 0, 0]) / np.sqrt(2), atol=1e-6)
    assert fit_projection(X, 2, "pca").method == "identity"


def test_random_projection_is_seeded():
    X = np.ones((3, 50), np.float32)
    a, b, c = fit_projection(X, 5, "random", 1), fit_projection(X, 5, "random", 1), fit_projection(X, 5, "random", 2)
    assert a.matrix.shape == (50, 5) and np.array_equal(a.matrix, b.matrix) and not np.array_equal(a.matrix, c.matrix)
    assert a.mean is None and a.matrix.std() == pytest.approx(1 / np.sqrt(5), rel=0.2)


def test_feature_budget_in_a_run(fe_home):
    full = run_to_end(run_probe(cfg()))
    pca = run_to_end(run_probe(cfg(feature_budget=10)))
    rnd = run_to_end(run_probe(cfg(feature_budget=10, budget_method="random")))
    assert full.n_features == 32 and pca.n_features == 10 and rnd.n_features == 10
    assert pca.resolved.feature_budget == 10 and pca.resolved.budget_method == "pca"
    assert rnd.resolved.budget_method == "random" and full.resolved.budget_method is None
    assert pca.top1 != rnd.top1 or pca.val_top1 != rnd.val_top1
    other = run_to_end(run_probe(cfg(feature_budget=10, budget_method="random", head_seed=1)))
    assert (other.top1, other.val_top1) != (rnd.top1, rnd.val_top1)  # the head seed draws the projection


# --- guardrails -----------------------------------------------------------------------------------------------------
def _checkpoint(tmp_path, num_classes: int, dataset: str):
    from app.models.build import build
    from app.models.weights import save_checkpoint

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": (4,), "num_classes": num_classes,
                                              "input_size": 8})
    st, _ = save_checkpoint(build(spec, "cpu"), tmp_path / f"m{num_classes}", spec, dataset=dataset)
    return ModelSpec.make("simple", options=dict(spec.options), init="checkpoint", weights=str(st),
                          weight_state="trained")


def test_own_head_refuses_a_classifier_of_another_dataset(fe_home, tmp_path):
    spec = _checkpoint(tmp_path, 10, "cifar10")
    with pytest.raises(ModelError, match="trained on cifar10, not on digits"):
        run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="own", test_limit=20)))


def test_own_head_refuses_a_classifier_with_other_classes(fe_home, tmp_path):
    spec = _checkpoint(tmp_path, 1000, "digits")
    with pytest.raises(ModelError, match="1000 classes but digits has 10"):
        run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="own", test_limit=20)))


def test_own_head_on_its_own_dataset(fe_home, tmp_path):
    spec = _checkpoint(tmp_path, 10, "digits")
    r = run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="own", test_limit=20)))
    assert r.n_test == 20 and r.confusion.sum() == 20 and r.resolved.pooling == "none"


def test_a_trained_backbone_keeps_its_options(fe_home):
    from app.data import ArrayDataset

    ds = ArrayDataset("t", "train", np.zeros((2, 8, 8, 1), np.uint8), np.zeros(2, np.int64), ("a",))
    trained = ModelSpec.make("rdsn", options={"k": 4}, weights="x.safetensors", init="checkpoint")
    assert effective_spec(trained, ds) is trained


def test_an_empty_split_is_a_clear_error(fe_home, monkeypatch):
    from app.data import ArrayDataset, DatasetError
    from app.probe import run as run_mod

    empty = ArrayDataset("void", "train", np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64), ("a", "b"))
    def loaded(*a, **k):  # the probe loads its splits as tasks (their decoding's progress shown)
        return empty
        yield

    monkeypatch.setattr(run_mod, "load_task", loaded)
    with pytest.raises(DatasetError, match="the train split has no images"):
        run_to_end(run_probe(cfg()))


def test_the_test_split_is_scored_once_at_the_end(fe_home, monkeypatch):
    """Selection sees validation only; the test features reach the head once, in the last call."""
    from app.probe import run as run_mod

    calls = []
    real = run_mod.select_and_fit

    def spy(head, Xtr, ytr, Xval, yval, Xte, yte, *a, **kw):
        calls.append((len(Xtr), len(Xval), len(Xte), np.array_equal(yval, yte)))
        return (yield from real(head, Xtr, ytr, Xval, yval, Xte, yte, *a, **kw))

    monkeypatch.setattr(run_mod, "select_and_fit", spy)
    result = run_to_end(run_probe(cfg(select_layer=True, grid=(0.1, 10.0))))
    assert (result.n_train, result.n_val, result.n_test) == (160, 40, 80)
    assert len(calls) == 2 + 1  # two layers of rdsn (blocks=1), then the final fit
    assert all(c == (160, 40, 40, True) for c in calls[:-1])  # candidates: validation in place of test
    assert calls[-1] == (160, 40, 80, False)


def test_a_hyperparameter_the_user_fixed_is_used_not_swept(fe_home):
    """--head-options alpha=X (or the GUI field with "auto" unchecked) is that value, scored on validation and test;
    without it, the default grid is swept."""
    fixed = run_to_end(run_probe(cfg(head_options=(("alpha", 123.0),))))
    assert fixed.resolved.grid == (123.0,) and fixed.selected == {"alpha": 123.0}
    assert fixed.val_top1 is not None and fixed.n_val > 0
    swept = run_to_end(run_probe(cfg()))
    assert swept.resolved.grid is None and swept.selected["alpha"] in (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4)
    with pytest.raises(ProbeSettingsError, match="fixes the value, and a grid"):  # the grid won without a word
        run_to_end(run_probe(cfg(head_options=(("alpha", 123.0),), grid=(1.0, 10.0))))
