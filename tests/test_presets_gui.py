"""The Probe workspace's preset combo (#13): choosing a preset sets the fields and checks its model; the jobs carry
the preset, its grid and the fields the user changed; families show in the model list's tooltips."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.test_probe_gui import choose_dataset, make_ws  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui


def _choose(ws, name: str) -> None:
    combo = ws.probe_settings.preset
    i = combo.findData(name)
    assert i >= 0, [combo.itemData(j) for j in range(combo.count())]
    combo.setCurrentIndex(i)


def test_choosing_a_preset_sets_the_fields_and_its_model(make_ws):
    ws = make_ws()
    ps = ws.probe_settings
    assert ps.preset_name() == "" and ps.preset_fields() == {}
    choose_dataset(ws, "digits")
    ps.pooling.setCurrentIndex(ps.pooling.findData("gap"))
    ps.head.setCurrentIndex(ps.head.findData("ridge"))
    _choose(ws, "random-mnist")
    assert (ps.layer_value(), ps.pooling_value(), ps.head_name()) == (1, "avgmaxgrid3", "logistic")
    assert ps.is_auto("logistic", "weight_decay")
    label = "random-mnist (rdsn)"
    assert ws.models.checked_labels() == [label]  # the preset fixes the backbone: only its model is checked
    assert dict(ws.models.spec(label).options) == {"activation": "relu", "blocks": 2, "deskew": True, "k": 1024}
    assert "family: data-independent" in ws.models.item_for(label).toolTip(0)
    tip = ps.preset.itemData(ps.preset.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    assert "data-independent" in tip and "partly selected on validation" in tip
    (job,) = ws._configs()
    cfg = job.config
    assert cfg.preset == "random-mnist" and cfg.preset_overrides == () and cfg.grid == (1e-5, 1e-4, 1e-3)
    assert (cfg.layer, cfg.pooling, cfg.head) == (1, "avgmaxgrid3", "logistic")

    # a field changed after choosing is recorded as an override; another head drops the preset's grid
    ps.pooling.setCurrentIndex(ps.pooling.findData("grid2"))
    ps.head.setCurrentIndex(ps.head.findData("ridge"))
    (job,) = ws._configs()
    assert job.config.preset_overrides == ("head", "pooling") and job.config.grid is None

    _choose(ws, "patches-cifar10")
    label = "patches-cifar10 (patches)"
    assert ws.models.checked_labels() == [label] and "random-mnist (rdsn)" in ws.models.labels()
    assert "family: data-dependent" in ws.models.item_for(label).toolTip(0)
    assert (ps.layer_value(), ps.pooling_value(), ps.head_name()) == (-1, "avgmaxgrid3", "logistic")
    ws.models.set_checked([label, "random-mnist (rdsn)"])
    jobs = {j.config.model.label: j.config for j in ws._configs()}
    assert jobs[label].preset == "patches-cifar10" and jobs["random-mnist (rdsn)"].preset is None  # its own model
    ws._save_settings()

    again = make_ws()  # the chosen preset and its checked model come back
    assert again.probe_settings.preset_name() == "patches-cifar10"
    assert again.models.checked_labels() == [label] and again.probe_settings.pooling_value() == "avgmaxgrid3"
