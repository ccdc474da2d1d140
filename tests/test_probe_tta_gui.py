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


def test_mirror_views_on_digits_say_their_caveat_before_the_run(make_ws):
    """Picking mirror views with handwritten digits: the ready line says what they do to digits (measured in
    tests/test_probe_caveats.py), as the choice is made; one view, or a dataset of photographs, says nothing."""
    ws = make_ws()
    ps = ws.probe_settings
    choose_dataset(ws, "digits")
    ws.models.set_checked(ws.models.labels()[:1])
    assert "Ready: press Train" in ws.stage.text() and "Caveat" not in ws.stage.text()
    ps.tta.setCurrentIndex(ps.tta.findData("hflip"))  # as a user picks it
    assert "Caveat: mirror views on digits: handwritten digits are not left-right symmetric" in ws.stage.text()
    assert ws.stage.text().startswith("Ready: press Train")
    choose_dataset(ws, "fashion-mnist")  # clothes: a mirrored shirt is a shirt
    assert "Caveat" not in ws.stage.text()
    choose_dataset(ws, "mnist")
    assert "Caveat: mirror views on mnist" in ws.stage.text()
    ps.tta.setCurrentIndex(ps.tta.findData("shift1"))
    assert "Caveat" not in ws.stage.text()
