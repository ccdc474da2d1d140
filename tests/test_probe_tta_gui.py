"""The Probe workspace's "Test time" choice (#13): one view by default, mirror views or one-pixel shifts carried by
every job, set by a preset (and an override of it when changed), remembered."""

from __future__ import annotations

import pytest

from app.probe import presets
from tests.test_presets_gui import _choose
from tests.test_probe_gui import choose_dataset, make_ws  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui


def test_the_choice_goes_into_every_job_and_follows_the_presets(make_ws):
    ws = make_ws()
    ps = ws.probe_settings
    choose_dataset(ws, "digits")
    assert ps.tta_value() == "none" and ps.tta.toolTip()
    assert [ps.tta.itemData(i) for i in range(ps.tta.count())] == ["none", "hflip", "shift1"]
    assert {j.config.tta for j in ws._configs()} == {"none"}
    ps.set_tta("hflip")
    jobs = ws._configs()
    assert jobs and {j.config.tta for j in jobs} == {"hflip"}  # every checked model: equal settings
    ps.tta.setCurrentIndex(ps.tta.findData("shift1"))  # as a user picks it
    assert {j.config.tta for j in ws._configs()} == {"shift1"}
    for name, p in presets.PRESETS.items():
        _choose(ws, name)
        assert ps.tta_value() == p.tta, name
        (job,) = ws._configs()
        assert job.config.tta == p.tta and "tta" not in job.config.preset_overrides
    _choose(ws, "random-mnist")
    ps.set_tta("hflip")  # mirrored digits: the user's choice, recorded as an override of the preset
    (job,) = ws._configs()
    assert job.config.tta == "hflip" and "tta" in job.config.preset_overrides
    ws._save_settings()
    assert make_ws().probe_settings.tta_value() == "hflip"  # remembered
