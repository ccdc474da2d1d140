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
