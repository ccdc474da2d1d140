"""Refit on training + validation (``probe --refit``, the Probe workspace's "Final fit", a recipe's ``refit``): the
value is chosen on validation by the fit on training rows alone, exactly as without a refit; then that value is
fitted on the training rows followed by the validation rows and the test split is scored by that fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.experiments.recipe import RecipeError, load_recipe
from app.probe import presets
from app.probe.caveats import caveats
from app.probe.config import ProbeConfig
from app.probe.headcore import RowStack
from app.probe.heads import train_knn, train_logistic
from app.probe.resolve import ProbeSettingsError, ResolvedProbe
from app.probe.ridge import train_ridge
from app.probe.run import run_probe
from app.probe.selection import select_and_fit
from app.models.spec import ModelSpec
from app.tasks import run_to_end
from tests.cli_inprocess import run_cli
from tests.test_heads_selection import _split


def test_a_row_stack_reads_as_the_concatenation():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 3)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float16)
    s = RowStack(a, b)
    whole = np.concatenate([a, b.astype(np.float32)])
    assert len(s) == 12 and s.shape == (12, 3) and s.dtype == np.float32 and s.ndim == 2
    for i, j in ((0, 12), (0, 7), (7, 12), (3, 9), (6, 8), (11, 40), (5, 5), (0, 0)):
        np.testing.assert_array_equal(s[i:j], whole[i:j])
    np.testing.assert_array_equal(np.asarray(s), whole)
    with pytest.raises(TypeError, match="slice"):
        s[3]
    with pytest.raises(TypeError, match="slice"):
        s[::2]
    with pytest.raises(ValueError, match="same number of columns"):
        RowStack(a, np.zeros((2, 4)))


def test_the_choice_is_the_same_and_the_test_scores_are_the_refits():
    """Logistic: table, chosen value and validation figure as without refit; the test scores those of the chosen
    value fitted on the concatenated rows from the chosen fit's weights (by hand here, through the trainer)."""
    Xtr, ytr, Xv, yv, Xte, yte, c = _split(seed=3)
    opts = {"optimizer": "lbfgs", "weight_decay": 1e-3, "epochs": 200}
    plain = run_to_end(select_and_fit("logistic", Xtr, ytr, Xv, yv, Xte, yte, c, opts, grid=(1e-1, 1e-2, 1e-3)))
    refit = run_to_end(select_and_fit("logistic", Xtr, ytr, Xv, yv, Xte, yte, c, opts, grid=(1e-1, 1e-2, 1e-3),
                                      refit=(Xv, yv)))
    assert refit.table == plain.table and refit.best_value == plain.best_value and refit.val_top1 == plain.val_top1
    assert plain.refit is None
    assert refit.refit["rows"] == 400 and refit.refit["train_rows"] == 300 and refit.refit["val_rows"] == 100
    assert refit.refit["weight_decay"] == plain.best_value and refit.refit["warm_start"] is True
    by_hand = run_to_end(train_logistic(np.concatenate([Xtr, Xv]), np.concatenate([ytr, yv]), Xte, yte, c,
                                        dict(opts, weight_decay=plain.best_value), init=plain.result.state))
    np.testing.assert_allclose(refit.result.scores, by_hand.scores, rtol=1e-4, atol=1e-4)
    assert not np.allclose(refit.result.scores, plain.result.scores, atol=1e-3)  # another model scored the test
    # the exported head's standardisation: the statistics of all the rows it was fitted on
    whole = np.concatenate([Xtr, Xv])
    np.testing.assert_allclose(refit.stats[0], whole.mean(0), rtol=1e-5, atol=1e-5)


def test_ridge_and_knn_refit_on_all_the_rows():
    Xtr, ytr, Xv, yv, Xte, yte, c = _split(seed=4)
    sel = run_to_end(select_and_fit("ridge", Xtr, ytr, Xv, yv, Xte, yte, c, {"alpha": 1.0}, grid=(100.0, 1.0),
                                    refit=(Xv, yv)))
    ref = run_to_end(train_ridge(np.concatenate([Xtr, Xv]), np.concatenate([ytr, yv]), Xte, yte, c,
                                 {"alpha": sel.best_value}))
    np.testing.assert_allclose(sel.result.scores, ref.scores, rtol=1e-4, atol=1e-4)
    assert sel.refit["iterations"] is None and sel.refit["warm_start"] is False
    # k-NN: a test image that is a validation image (of a class no training image near it has) is found by 1-NN
    Xte2 = np.concatenate([Xv[:1] + 1e-4, Xte])
    yv2 = yv.copy()
    odd = (int(yv[0]) + 1) % c
    yv2[0] = odd
    yte2 = np.concatenate([[odd], yte])
    sel = run_to_end(select_and_fit("knn", Xtr, ytr, Xv, yv2, Xte2, yte2, c, {"k": 1}, grid=(1,), refit=(Xv, yv2)))
    assert sel.result.scores[0].argmax() == odd
    plain = run_to_end(train_knn(Xtr, ytr, Xte2, yte2, c, {"k": 1}))
    assert plain.scores[0].argmax() != odd


def test_refit_inputs_are_checked():
    Xtr, ytr, Xv, yv, Xte, yte, c = _split()
    with pytest.raises(ValueError, match="rows"):
        run_to_end(select_and_fit("ridge", Xtr, ytr, Xv, yv, Xte, yte, c, {"alpha": 1.0}, refit=(Xv[:5], yv)))
    with pytest.raises(ValueError, match="no validation split"):
        run_to_end(select_and_fit("ridge", Xtr, ytr, Xv[:0], yv[:0], Xte, yte, c, {"alpha": 1.0},
                                  refit=(Xv[:0], yv[:0])))


def _config(**kw) -> ProbeConfig:
    base = dict(model=ModelSpec.make("rdsn", options={"k": 16, "blocks": 1}), dataset="digits", head="logistic",
                train_limit=400, test_limit=200, pooling="grid2")
    return ProbeConfig(**{**base, **kw})


def test_a_run_with_refit_records_it_and_chooses_as_without(fe_home):
    plain = run_to_end(run_probe(_config()))
    refit = run_to_end(run_probe(_config(refit=True)))
    assert refit.val_top1 == plain.val_top1 and refit.selected == plain.selected
    assert refit.feature_cache_hit  # the validation images' own features: read from the cache
    info = refit.settings["refit"]
    assert info["rows"] == refit.n_train + refit.n_val == 400 and "refit" not in plain.settings
    d = refit.to_dict()
    assert d["resolved"]["refit"] is True and "refit" not in plain.to_dict()["resolved"]
    assert ResolvedProbe.from_dict(d["resolved"]).refit is True
    assert ProbeConfig.from_dict(d["config"]).refit is True
    assert any(c.startswith("refit: the test figure is the head fitted again") and "320 training + 80 validation"
               in c for c in caveats(d))
    assert not any(c.startswith("refit") for c in caveats(plain.to_dict()))


def test_refit_without_a_validation_split_or_with_the_own_classifier_is_refused(fe_home):
    with pytest.raises(ProbeSettingsError, match="needs a validation split"):
        run_to_end(run_probe(_config(refit=True, val=0)))
    with pytest.raises(ProbeSettingsError, match="not to a model's own classifier"):
        run_to_end(run_probe(_config(refit=True, head="own")))


def test_the_command_takes_refit_and_a_preset_can_be_overridden(fe_home):
    args = ["probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=8", "blocks=1", "--train-limit",
            "300", "--test-limit", "100", "--refit"]
    r = run_cli(*args, "--json", home=fe_home)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["settings"]["refit"]["rows"] == 300 and d["resolved"]["refit"] is True
    assert any(c.startswith("refit:") for c in d["caveats"])
    r = run_cli(*args, "--val", "0", home=fe_home)
    assert r.returncode == 2 and "needs a validation split" in r.stderr
    values, overrides = presets.apply("random-mnist", {"refit": not presets.get("random-mnist").refit})
    assert values["refit"] is (not presets.get("random-mnist").refit) and "refit" in overrides
    values, overrides = presets.apply("random-mnist", {"refit": None})
    assert values["refit"] is presets.get("random-mnist").refit and "refit" not in overrides


def test_a_recipe_takes_refit_as_a_switch(tmp_path):
    def recipe(value):
        p = tmp_path / "r.toml"
        p.write_text(f'name = "r"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "digits"\nrefit = {value}\n'
                     '[[variants]]\nlabel = "a"\n')
        return load_recipe(p)

    assert recipe("true").cells()[0].config["refit"] is True
    with pytest.raises(RecipeError, match="'refit' must be true or false"):
        recipe('"false"')


def test_runs_with_and_without_a_refit_are_two_groups_told_apart(fe_home, tmp_path):
    from app.probe.compare import compare_groups
    from app.probe.history import History

    h = History(tmp_path / "h.sqlite")
    a = h.add(run_to_end(run_probe(_config())).to_dict())
    b = h.add(run_to_end(run_probe(_config(refit=True))).to_dict())
    c = h.add(run_to_end(run_probe(_config(seed=1))).to_dict())  # another seed without: the first one's group
    groups = compare_groups(h.list())
    assert sorted(g.ids for g in groups) == [(a, c), (b,)]
    details = {g.ids: g.detail for g in groups}
    assert details[(b,)] == "refit = true" and details[(a, c)] == "refit = false"
    h.close()


@pytest.mark.parametrize("head", ["logistic", "ridge"])
def test_the_kept_head_is_the_refit_and_scores_as_the_run_did(fe_home, head):
    """The head file a refit run keeps (Live's "Use in Live") is the refit, with the standardisation of all the rows
    it was fitted on: on the run's own test images it predicts what the run scored, image by image."""
    from pathlib import Path

    from app.probe.head_export import open_head
    from app.probe.run import test_split

    spec = ModelSpec.make("simple", "simple (random)", options={"widths": (8, 16)})
    result = run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head=head, train_limit=300,
                                              test_limit=120, val=60, refit=True)))
    test = test_split(result.resolved)
    pred = np.asarray(test.labels, dtype=np.int64).copy()
    pred[np.asarray(result.misclassified, dtype=np.int64)] = np.asarray(result.mis_predicted, dtype=np.int64)
    scores = open_head(Path(result.settings["head_file"])).scores(test.images)
    assert np.array_equal(scores.argmax(1), pred)
