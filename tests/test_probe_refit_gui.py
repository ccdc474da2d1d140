"""The Probe workspace's "Final fit" switch (refit on training + validation): off by default, carried by every job,
set by a preset (an override of it when changed), remembered."""

from __future__ import annotations

import pytest

from app.probe import presets
from tests.test_presets_gui import _choose
from tests.test_probe_gui import choose_dataset, make_ws  # noqa: F401 (fixture)

pytestmark = pytest.mark.gui


def test_the_switch_goes_into_every_job_and_follows_the_presets(make_ws):
    ws = make_ws()
    ps = ws.probe_settings
    choose_dataset(ws, "digits")
    assert not ps.refit.isChecked() and "validation" in ps.refit.toolTip()
    assert {j.config.refit for j in ws._configs()} == {False}
    ps.refit.click()  # as a user ticks it
    jobs = ws._configs()
    assert jobs and {j.config.refit for j in jobs} == {True}  # every checked model: equal settings
    for name, p in presets.PRESETS.items():
        _choose(ws, name)
        assert ps.refit.isChecked() is p.refit, name
        (job,) = ws._configs()
        assert job.config.refit is p.refit and "refit" not in job.config.preset_overrides
    _choose(ws, "random-mnist")
    ps.refit.click()
    (job,) = ws._configs()
    assert job.config.refit is (not presets.get("random-mnist").refit) and "refit" in job.config.preset_overrides
    ws._save_settings()
    assert make_ws().probe_settings.refit.isChecked() is (not presets.get("random-mnist").refit)  # remembered


def test_the_results_header_says_which_fit_each_figure_is(make_ws, fe_home):
    from PySide6.QtGui import QTextDocument

    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end
    from widgets.probe.model import RunView

    ws = make_ws()
    result = run_to_end(run_probe(ProbeConfig(model=ModelSpec.make("rdsn", options={"k": 8, "blocks": 1}),
                                              dataset="digits", train_limit=300, test_limit=100, refit=True)))
    ws.results.show_run(RunView.from_dict(result.to_dict()))
    doc = QTextDocument()
    doc.setHtml(ws.results.header.text())
    text = doc.toPlainText()
    assert "Caveat: refit: the test figure is the head fitted again" in text
    assert "on 300 images (the 240 training + 60 validation images" in text
