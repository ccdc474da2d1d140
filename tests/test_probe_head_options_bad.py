"""Bad head options and grids of ``probe`` are refused with the project's own error (``error: ...``, exit code 2),
naming the option and the value, before any feature is extracted and with nothing stored in the history: a k-NN k
that is not a positive integer or exceeds the training rows, a negative logistic weight decay, epochs < 1, lr <= 0,
tol < 0, batch_size < 1, a value that is no number. A feature budget at least the feature count is recorded as not
applied (and said once)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.probe.history import History
from tests.cli_inprocess import run_cli

BASE = ("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "300", "--test-limit", "100")


def stored(home: Path) -> int:
    path = home / "history.sqlite"
    if not path.exists():
        return 0
    with History(path) as h:
        return len(h.list())


@pytest.fixture
def no_extraction(monkeypatch):
    """Extraction fails the test: a refusal must come before any feature is computed."""
    from app.probe import extract

    def refuse(*a, **k):
        raise AssertionError("features were extracted before the bad option was refused")

    monkeypatch.setattr(extract, "extract", refuse)


def refused(home: Path, *args: str) -> str:
    r = run_cli(*BASE, *args, home=home)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert stored(home) == 0
    return r.stderr


@pytest.mark.parametrize("args,text", [
    # 1. k-NN: a positive integer, at most the training rows (300 images less 60 for validation)
    (("--head", "knn", "--head-options", "k=5000"),
     "error: knn: k = 5000 is more than the 240 training rows (300 training images less 60 for validation)"),
    (("--head", "knn", "--grid=3,500"), "error: knn: k = 500 is more than the 240 training rows"),
    (("--head", "knn", "--head-options", "k=0"), "error: --head-options: k must be a positive integer, got 0"),
    (("--head", "knn", "--head-options", "k=-2"), "error: --head-options: k must be a positive integer, got -2"),
    (("--head", "knn", "--head-options", "k=2.5"), "error: --head-options: k must be a positive integer, got 2.5"),
    (("--head", "knn", "--head-options", "k=true"), "error: --head-options: k must be a positive integer, got True"),
    (("--head", "knn", "--grid=1.5,2"), "error: --grid: k must be a positive integer, got 1.5"),
    # 2. logistic weight decay: 0 or more
    (("--head-options", "weight_decay=-1"),
     "error: --head-options: weight_decay must be 0 or more (0: no penalty), got -1"),
    (("--grid=-1,0",), "error: --grid: weight_decay must be 0 or more (0: no penalty), got -1"),
    (("--head", "ridge", "--grid=-1,1"), "error: --grid: alpha must be positive, got -1"),
    (("--head", "svm", "--head-options", "C=0"), "error: --head-options: C must be positive, got 0"),
    # 3. iterations and step sizes
    (("--head-options", "epochs=-3"), "error: --head-options: epochs must be a positive integer, got -3"),
    (("--head-options", "epochs=0"), "error: --head-options: epochs must be a positive integer, got 0"),
    (("--head", "svm", "--head-options", "epochs=0"), "error: --head-options: epochs must be a positive integer"),
    (("--head-options", "lr=0"), "error: --head-options: lr must be positive, got 0"),
    (("--head-options", "lr=-0.5"), "error: --head-options: lr must be positive, got -0.5"),
    (("--head-options", "tol=-1"), "error: --head-options: tol must be 0 or more, got -1"),
    (("--head-options", "optimizer=adam", "batch_size=0"),
     "error: --head-options: batch_size must be a positive integer, got 0"),
    # 5. not a number at all
    (("--head-options", "tol=abc"), "error: --head-options: tol must be a number, got 'abc'"),
    (("--head-options", "weight_decay=NaN"), "error: --head-options: weight_decay must be a finite number"),
    (("--head-options", "optimizer=sgd"), "error: --head-options: optimizer must be one of lbfgs, adam, got 'sgd'"),
])
def test_bad_head_values_are_refused_before_extraction_and_not_stored(tmp_path, no_extraction, args, text):
    assert text in refused(tmp_path, *args)


def test_the_library_path_refuses_them_too_with_the_head_s_own_message(fe_home, no_extraction):
    # the desktop app builds a ProbeConfig and runs run_probe: the same checks, named by the head
    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig
    from app.probe.resolve import ProbeSettingsError
    from app.probe.run import run_probe
    from app.tasks import run_to_end

    def config(head="logistic", **kw):
        return ProbeConfig(model=ModelSpec.make("simple"), dataset="digits", train_limit=300, test_limit=100,
                           head=head, **kw)

    cases = [(config(head_options=(("epochs", -3),)), "logistic: epochs must be a positive integer, got -3"),
             (config(grid=(-1.0, 0.0)), "logistic: weight_decay must be 0 or more (0: no penalty), got -1.0"),
             (config(head_options=(("tol", "abc"),)), "logistic: tol must be a number, got 'abc'"),
             (config("knn", grid=(1.5, 2)), "knn: k must be a positive integer, got 1.5"),
             (config("knn", head_options=(("k", 5000),)), "knn: k = 5000 is more than the 240 training rows")]
    for cfg, text in cases:
        with pytest.raises(ProbeSettingsError) as exc:
            run_to_end(run_probe(cfg))
        assert text in str(exc.value)


def test_the_settings_check_refuses_them_before_any_data_is_loaded(monkeypatch):
    from app.models.spec import ModelSpec
    from app.probe import run as run_mod
    from app.probe.config import ProbeConfig
    from app.probe.resolve import ProbeSettingsError, check_config

    monkeypatch.setattr(run_mod, "load", lambda *a, **k: pytest.fail("the dataset was loaded"))
    monkeypatch.setattr(run_mod, "load_task", lambda *a, **k: pytest.fail("the dataset was loaded"))
    cfg = ProbeConfig(model=ModelSpec.make("simple"), dataset="digits", head="svm", head_options=(("epochs", 0),))
    with pytest.raises(ProbeSettingsError, match=r"^svm: epochs must be a positive integer, got 0$"):
        check_config(cfg)
    with pytest.raises(ProbeSettingsError, match=r"^ridge: alpha must be positive, got -1$"):
        check_config(ProbeConfig(model=cfg.model, dataset="digits", head="ridge", grid=(-1, 1)))


def test_a_rerun_of_a_record_with_a_bad_value_is_refused_too(tmp_path, fe_home, monkeypatch):
    from app.probe.resolve import ProbeSettingsError
    from app.probe.run import rerun
    from app.tasks import run_to_end

    r = run_cli(*BASE, "--head-options", "epochs=5", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    with History(tmp_path / "history.sqlite") as h:
        stored_run = h.get(json.loads(r.stdout)["run_id"])
    stored_run["resolved"]["head_options"]["epochs"] = -3  # a record written before the check, or edited
    from app.probe import extract

    monkeypatch.setattr(extract, "extract", lambda *a, **k: pytest.fail("features were extracted"))
    with pytest.raises(ProbeSettingsError, match=r"^logistic: epochs must be a positive integer, got -3$"):
        run_to_end(rerun(stored_run))


def test_the_heads_refuse_what_would_diverge_or_not_train():
    from app.probe.heads import train_logistic
    from app.tasks import run_to_end

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    base = {"optimizer": "lbfgs", "weight_decay": 1e-2, "epochs": 5}
    for opts, text in [({"weight_decay": -1.0}, "logistic: weight_decay must be 0 or more (0: no penalty), got -1.0"),
                       ({"epochs": -3}, "logistic: epochs must be 0 or more, got -3"),
                       ({"lr": 0.0}, "logistic: lr must be positive, got 0.0"),
                       ({"tol": -1e-3}, "logistic: tol must be 0 or more, got -0.001"),
                       ({"tol": "abc"}, "logistic: tol must be a number, got 'abc'"),
                       ({"optimizer": "adam", "batch_size": 0}, "logistic: batch_size must be a positive integer")]:
        with pytest.raises(ValueError) as exc:
            run_to_end(train_logistic(X, y, X, y, 2, dict(base, **opts)))
        assert text in str(exc.value)
    # 0 stays legitimate: no penalty, and a tolerance never met (the iteration cap ends the fit)
    ok = run_to_end(train_logistic(X, y, X, y, 2, dict(base, weight_decay=0.0, tol=0.0)))
    assert np.isfinite(ok.scores).all()


def test_the_knn_sweep_takes_whole_ks_up_to_the_training_rows():
    from app.probe.selection import knn_values

    assert knn_values([20, 5.0, 1], 300) == [20, 5, 1]
    with pytest.raises(ValueError, match=r"knn: k = 20 is more than the 12 training rows"):
        knn_values([20, 5, 1], 12)
    with pytest.raises(ValueError, match=r"knn: k must be a positive integer, got 1.5"):
        knn_values([2, 1.5], 300)
    with pytest.raises(ValueError, match=r"knn: k must be a positive integer, got 0"):
        knn_values([0], 300)
    assert knn_values([20, 10, 5, 3, 1], 8, given=False) == [5, 3, 1]  # the default grid: what can be honoured


def test_a_grid_with_0_ending_best_is_not_called_the_strongest_nor_missing_a_weaker_one():
    from app.probe.notes import selection_note

    note = selection_note([(1e-3, 0.90), (0, 0.95)])
    assert note == "0.001: 90.00%, 0: 95.00%; the best is the grid's last value, 0 (no regularisation at all)"
    assert "strongest" not in selection_note([(1e-3, 0.95), (0, 0.90)]).split("0: 90.00%")[0]


def test_weight_decay_0_and_k_equal_to_the_training_rows_still_run(tmp_path):
    r = run_cli(*BASE, "--grid=0,1e-3", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [v for v, _ in json.loads(r.stdout)["selection"]] == [1e-3, 0]
    r = run_cli(*BASE, "--head", "knn", "--head-options", "k=240", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["selected"] == {"k": 240} and stored(tmp_path) == 2


@pytest.mark.parametrize("budget", ["100000", "256"])
def test_a_budget_not_smaller_than_the_features_is_recorded_as_not_applied(tmp_path, budget):
    r = run_cli(*BASE, "--feature-budget", budget, "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    note = f"feature budget {budget} not applied: there are only 256 features, no more than the budget"
    assert out["n_features"] == 256
    assert out["settings"]["feature_budget"] is None and out["settings"]["budget_method"] is None
    assert out["resolved"]["feature_budget"] is None and out["resolved"]["budget_method"] is None
    assert out["settings"]["feature_budget_note"].startswith(note)
    assert out["config"]["feature_budget"] == int(budget)  # what was asked stays in the request
    assert [c for c in out["caveats"] if "feature budget" in c] == [out["settings"]["feature_budget_note"]]
    with History(tmp_path / "history.sqlite") as h:
        kept = h.get(out["run_id"])
    assert kept["resolved"]["feature_budget"] is None and kept["settings"]["feature_budget"] is None
    printed = run_cli(*BASE, "--feature-budget", budget, home=tmp_path)
    assert printed.returncode == 0 and printed.stdout.count("not applied") == 1
    assert f"  caveat: {note}" in printed.stdout
    # a budget below the feature count is applied and recorded as before, without the note
    small = json.loads(run_cli(*BASE, "--feature-budget", "100", "--json", home=tmp_path).stdout)
    assert small["n_features"] == 100 and small["resolved"]["feature_budget"] == 100
    assert "feature_budget_note" not in small["settings"] and not any("feature budget" in c for c in small["caveats"])
