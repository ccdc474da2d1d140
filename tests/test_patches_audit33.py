"""The data-dependent baselines' audit of session 33: the ``patches`` kernel kind whitened without taking the mean
patch off (Coates: W (x - M)); a bank of dataset patches was labelled data-independent ("no filter sees the data");
a run whose stem could not be whitened (no bias) still said it was; the tooltips of ``patches``' alpha and its
filters' norms."""

from __future__ import annotations

import numpy as np
import pytest

from app.kernels import generate, generators


# --- 1: the patches kind's whitening takes the mean patch off -----------------------------------------------------
def test_zca_whitening_is_of_the_centred_patches():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=(500, 9)) @ rng.normal(size=(9, 9)) + 3.0  # correlated, far from zero mean
    out = generators.zca_whiten(flat)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-9)  # was W M on every row
    ev, U = np.linalg.eigh(np.cov(flat, rowvar=False))
    W = U @ np.diag(1 / np.sqrt(ev + 0.1)) @ U.T
    np.testing.assert_allclose(out, (flat - flat.mean(0)) @ W, atol=1e-9)
    np.testing.assert_allclose(np.cov(out, rowvar=False), W @ np.cov(flat, rowvar=False) @ W, atol=1e-9)


def test_the_patches_kind_whitens_through_it(monkeypatch):
    calls = []
    real = generators.zca_whiten
    monkeypatch.setattr(generators, "zca_whiten", lambda flat: (calls.append(flat.shape), real(flat))[1])
    b = generate("patches", 16, 5, 1, seed=0, dataset="digits")
    assert calls == [(2000, 25)]


# --- 2: a bank of dataset patches is data-dependent ----------------------------------------------------------------
def test_a_bank_of_dataset_patches_makes_a_fitted_data_dependent_model():
    from app.models.catalog import FAMILY_TIPS, bank_state, family

    patches = generate("patches", 4, 3, 1, seed=0, dataset="digits")
    gauss = generate("gaussian", 4, 3, 1, seed=0)
    assert bank_state([("conv1", patches)]) == "fitted" and bank_state([patches]) == "fitted"
    assert bank_state([("conv1", gauss)]) == "hand-designed" and bank_state(()) == "hand-designed"
    assert bank_state([("conv1", gauss), ("conv2", patches)]) == "fitted"
    assert family("simple", state="fitted") == "data-dependent"  # was data-independent: "no filter sees the data"
    assert family("simple", state="hand-designed") == "data-independent"
    assert family("simple", state="trained") == "trained" and family("simple", trained=True) == "trained"
    assert "validation included" in FAMILY_TIPS["data-dependent"]


def test_probe_with_a_patches_bank_records_it_as_fitted(tmp_path):
    import json

    from app.kernels.io import save
    from tests.cli_inprocess import run_cli

    save(generate("patches", 4, 3, 1, seed=0, dataset="digits"), tmp_path / "p.json")
    save(generate("gaussian", 4, 3, 1, seed=0), tmp_path / "g.json")
    states = []
    for name in ("p", "g"):
        r = run_cli("probe", "--backbone", "simple", "--options", "widths=4", "--bank", f"conv1={tmp_path}/{name}.json",
                    "--dataset", "digits", "--train-limit", "200", "--test-limit", "50", "--head", "ridge", "--grid",
                    "1", "--json", home=tmp_path / "home")
        assert r.returncode == 0, r.stderr[-2000:]
        states.append(json.loads(r.stdout)["resolved"]["model"]["weight_state"])
    assert states == ["fitted", "hand-designed"]  # the patches one was "hand-designed"


def test_an_experiment_cell_with_a_patches_bank_is_fitted():
    from app.experiments.cell import model_spec

    spec = model_spec({"backbone": "simple", "options": {"widths": [4]},
                       "bank": {"kind": "patches", "count": 4, "size": 3, "layer": "conv1"}})
    assert spec.weight_state == "fitted" and len(spec.banks) == 1
    spec = model_spec({"backbone": "simple", "options": {"widths": [4]},
                       "bank": {"kind": "gaussian", "count": 4, "size": 3, "layer": "conv1"}})
    assert spec.weight_state == "hand-designed"


# --- 6: stem whitening that could not be done is not recorded as done ----------------------------------------------
def test_a_stem_without_a_bias_is_recorded_as_not_whitened(monkeypatch):
    from app.data.core import ArrayDataset
    from app.models.spec import ModelSpec
    from app.probe import run as R
    from app.probe.caveats import caveats
    from app.probe.config import ProbeConfig
    from app.tasks import run_to_end

    rng = np.random.default_rng(0)

    def fake(name, split, root=None, **kw):
        n = 60 if split == "train" else 20
        return ArrayDataset("fakecol", split, rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8), np.arange(n) % 2,
                            ("a", "b"), (0.5,) * 3, (0.25,) * 3)

    def fake_task(name, split, root=None, **kw):  # the probe loads its splits as tasks (with their progress)
        return fake(name, split, root)
        yield

    monkeypatch.setattr(R, "load", fake)
    monkeypatch.setattr(R, "load_task", fake_task)
    out = {}
    for bias in (True, False):
        cfg = ProbeConfig(model=ModelSpec(backbone="rdsn", options=(("bias", bias), ("blocks", 0), ("k", 8))),
                          dataset="fakecol", val=10, head="ridge", layer=0, pooling="gap")
        out[bias] = run_to_end(R.run_probe(cfg)).to_dict()
    assert out[True]["resolved"]["whiten"] == 0.1 and out[True]["settings"]["whiten_stem"] == 0.1
    assert "whiten_note" not in out[True]["settings"]
    assert out[False]["resolved"]["whiten"] is None  # was 0.1: Insight's projector then said the run whitened it
    assert out[False]["settings"]["whiten_stem"] is None
    note = out[False]["settings"]["whiten_note"]
    assert note.startswith("stem whitening 0.1 not applied: this model's first convolution has no bias")
    assert note in caveats(out[False])


@pytest.mark.gui
def test_the_probe_model_list_calls_a_patches_bank_model_data_dependent(qtbot):
    from app.models.spec import ModelSpec
    from widgets.application import make_app
    from widgets.probe.model_list import ModelList

    make_app()
    lst = ModelList()
    qtbot.addWidget(lst)
    fitted = ModelSpec.make("simple", label="patch bank", weight_state="fitted")
    hand = ModelSpec.make("simple", label="gauss bank", weight_state="hand-designed")
    lst.set_specs([("patch bank", fitted, "session"), ("gauss bank", hand, "session")])
    tips = [lst.topLevelItem(i).toolTip(0) for i in range(2)]
    assert "family: data-dependent: filters fitted on training patches" in tips[0]  # was "no filter sees the data"
    assert "family: data-independent" in tips[1]
