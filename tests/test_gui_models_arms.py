"""LC models: the Models workspace shows the parameter counts of both arms (frozen vs learned 3x3 filters)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

pytestmark = pytest.mark.gui


def test_both_lc_arms_have_parameter_counts(qtbot, fe_home, tmp_path):
    from app.models import viz

    if "learn_spatial" not in {f.name for f in viz.option_fields("lc-resnet20")}:
        pytest.skip("lc-resnet20 has no learn_spatial option in this tree yet")
    from app.session import Session
    from widgets.application import make_app
    from widgets.models.workspace import ModelsWorkspace

    make_app()
    ws = ModelsWorkspace(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.show()
    try:
        ws.backbone.setCurrentIndex(ws.backbone.findData("lc-resnet20"))
        qtbot.waitUntil(lambda: ws.builder_ready() and "counting" not in ws.form.arms.text(), timeout=60_000)
        text = ws.form.arms.text()
        assert ws.form.arms.isVisible() and "frozen 3x3 (this model)" in text and "learned 3x3:" in text
        frozen_arm = ws._builder_view.trainable
        ws.option_widget("learn_spatial").setChecked(True)
        qtbot.waitUntil(lambda: ws.builder_ready() and "learned 3x3 (this model)" in ws.form.arms.text()
                        and "counting" not in ws.form.arms.text(), timeout=60_000)
        assert ws._builder_view.trainable > frozen_arm  # the learned arm trains its 3x3 filters too
    finally:
        ws.shutdown()
