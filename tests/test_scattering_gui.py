"""The ``scattering`` backbone in the Models workspace (#13): it builds (no conv layers, no parameters), its options
are fields, and a J too large for the input size is shown in the banner with the last good model kept."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def ws(models_workspace):
    return models_workspace("scattering", '{"in_channels": 1}')


def test_models_workspace_builds_scattering_and_names_a_bad_J(qtbot, ws):
    assert ws.backbone.currentData() == "scattering"
    assert not ws.banner.isVisible(), ws.banner.text()
    assert ws.option_widget("J").text() == "2" and ws.option_widget("L").text() == "8"
    assert ws.totals.text().startswith("0 parameters")
    w = ws.option_widget("J")  # a spin box from 1 up: J=0 cannot be typed here (the CLI test covers it)
    w.setValue(6)
    qtbot.waitUntil(lambda: "J=6 is too large for input_size of 32x32 pixels" in ws.banner.text(), timeout=10000)
    w.setValue(3)
    qtbot.waitUntil(lambda: ws.builder_ready() and not ws.banner.isVisible(), timeout=20000)
