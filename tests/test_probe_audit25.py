"""Probe numbers audit (session 25): a training split that cannot hold every class is refused, and shift views on
the 8x8 digits carry a caveat."""

from __future__ import annotations

import pytest

from app.data import load
from app.models.spec import ModelSpec
from app.probe.caveats import views_caveat
from app.probe.config import ProbeConfig
from app.probe.resolve import ProbeSettingsError, resolve


def test_a_validation_split_that_leaves_fewer_training_images_than_classes_is_refused(fe_home):
    """`probe --val 1346` on digits (1,347 training images) trained on one image of one class, "selected" a weight
    decay and reported 9.8% test top-1 as a run."""
    train = load("digits", "train")
    spec = ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=0)

    def cfg(**kw):
        return ProbeConfig(model=spec, dataset="digits", **kw)

    with pytest.raises(ProbeSettingsError, match=r"would hold 1 image\(s\) .* for 10 classes"):
        resolve(cfg(val=1346), train)
    with pytest.raises(ProbeSettingsError, match="would hold 5 image"):
        resolve(cfg(train_limit=20, val=15), train)
    record, _ = resolve(cfg(train_limit=20, val=10), train)  # 10 images for 10 classes
    assert record.val == 10


def test_shift_views_on_the_8x8_digits_carry_a_caveat_and_on_mnist_none():
    """Measured by the audit (rdsn defaults, digits): ridge validation 98.88% -> 97.03% with shift views."""
    assert "8x8" in views_caveat("digits", "shift1")
    assert views_caveat("mnist", "shift1") is None and views_caveat("digits", "none") is None


def test_a_fixed_value_beside_a_grid_is_refused_and_a_preset_grid_gives_way_to_it(fe_home):
    """`--head-options weight_decay=1e-3 --grid 1e-2,1e-1` swept the grid and never fitted 1e-3, without a word;
    `--grid ""` fell back to the default grid and `--grid 1e-3,,1e-2` dropped the empty item."""
    from cli_inprocess import run_cli

    home = fe_home
    base = ("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "200", "--test-limit", "50")
    out = run_cli(*base, "--head-options", "weight_decay=1e-3", "--grid", "1e-2,1e-1", home=home)
    assert out.returncode == 2 and "fixes the value, and a grid (0.01, 0.1) sweeps it" in out.stderr
    for grid in ("", "1e-3,,1e-2", ","):
        out = run_cli(*base, "--grid", grid, home=home)
        assert out.returncode == 2 and "an empty value" in out.stderr, (grid, out.stderr)
    from app.probe import presets

    values, overrides = presets.apply("random-mnist", {"head_options": {"weight_decay": 1e-4}})
    assert values["grid"] is None and overrides["grid"] is None  # the user's value, not the preset's grid
    values, _ = presets.apply("random-mnist", {"head_options": {"weight_decay": 1e-4}, "grid": [1e-4]})
    assert values["grid"] == [1e-4]
    values, _ = presets.apply("random-mnist", {})
    assert values["grid"] == [1e-5, 1e-4, 1e-3]


def test_probe_json_resolved_head_options_carry_the_selected_value(fe_home):
    """`resolved.head_options.weight_decay` said 0.001 (the default) beside a run that selected and fitted 0.1."""
    import json

    from cli_inprocess import run_cli

    out = run_cli("probe", "--backbone", "simple", "--dataset", "digits", "--train-limit", "300", "--test-limit", "50",
                  "--grid", "0.1,0.01", "--json", home=fe_home)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    chosen = d["selected"]["weight_decay"]
    assert d["resolved"]["head_options"]["weight_decay"] == chosen == d["settings"]["head_options"]["weight_decay"]


def test_top_k_counts_a_tie_for_the_last_places_by_its_expected_share():
    """k-NN votes tie at 0 for most classes: the lower-index tie-break made top-5 depend on class numbering (digits:
    99.11%, where any order gives 99.11-100%). Pinned by hand on votes; equal to scikit-learn without ties."""
    import numpy as np
    from sklearn.metrics import top_k_accuracy_score

    from app.metrics import topk_accuracy

    votes = np.zeros((4, 10))
    votes[0, [1, 2]] = [3, 2]  # true 9: after the decision (1), class 2 above it, 8 classes tie with it at 0
    votes[1, 1] = 5  # true 1: decided right
    votes[2, 3] = 5  # true 0: 9 classes tie at 0 after the decision (3)
    votes[3, [0, 1, 2, 3]] = [2, 1, 1, 1]  # true 5: three classes above it, 6 tie at 0
    labels = np.array([9, 1, 0, 5])
    assert topk_accuracy(votes, labels, 1) == 0.25
    assert topk_accuracy(votes, labels, 2) == pytest.approx((0 + 1 + 1 / 9 + 0) / 4)
    assert topk_accuracy(votes, labels, 5) == pytest.approx((3 / 8 + 1 + 4 / 9 + 1 / 6) / 4)
    perm = np.random.default_rng(1).permutation(10)  # another class numbering: the same figures
    assert topk_accuracy(votes[:, perm], np.argsort(perm)[labels], 5) == pytest.approx(topk_accuracy(votes, labels, 5))
    scores = np.random.default_rng(0).normal(size=(300, 10))
    y = np.random.default_rng(2).integers(0, 10, 300)
    for k in (2, 5):
        assert topk_accuracy(scores, y, k) == top_k_accuracy_score(y, scores, k=k, labels=range(10))
