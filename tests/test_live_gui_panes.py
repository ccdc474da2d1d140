"""Live workspace GUI (issues #9, #12): shortcuts work as soon as the tab is shown, maps per page and shared
contrast reach the pipeline, hover read-out, a failed camera clears the input and the rates."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from app.live.synthetic import write_test_video
from app.models.spec import ModelSpec
from app.session import Session

pytestmark = pytest.mark.gui
TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)})


@pytest.fixture
def ws(qtbot, fe_home, tmp_path):
    from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    video = write_test_video(tmp_path / "cam.avi", frames=20, width=80, height=60, fps=30)
    s = settings()
    s.setValue("live/source", "video")
    s.setValue("live/video_path", str(video))
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": "tiny", "layer": 1, "page": 0}]))
    session = Session()
    session.put_model("tiny", TINY)
    window = QWidget()  # the workspace inside a window, beside a button that holds the focus
    lay = QVBoxLayout(window)
    window.other = QPushButton("elsewhere")
    lay.addWidget(window.other)
    w = LiveWorkspace(session, s)
    lay.addWidget(w)
    qtbot.addWidget(window)
    window.resize(900, 500)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    w.window_ = window
    yield w
    w.shutdown()


def _frames(qtbot, ws, n=2):
    start = ws._frames_shown
    qtbot.waitUntil(lambda: ws._frames_shown >= start + n, timeout=30000)


def test_shortcuts_work_without_a_click_inside_the_workspace(qtbot, ws):
    ws.set_active(True)
    _frames(qtbot, ws)
    other = ws.window_.other
    other.setFocus()
    assert not ws.isAncestorOf(ws.window_.focusWidget())
    qtbot.keyClick(other, Qt.Key.Key_Right)  # step: pauses, one frame
    assert ws.paused and ws.controls.play_btn.text() == "Play"
    qtbot.keyClick(other, Qt.Key.Key_Space)
    assert not ws.paused and ws.controls.play_btn.text() == "Pause"
    qtbot.keyClick(other, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ws.controls.rec_btn.isChecked() and ws.recording is not None
    qtbot.keyClick(other, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not ws.controls.rec_btn.isChecked() and ws.recording is None
    ws.hide()  # another tab: its shortcuts are off
    qtbot.keyClick(other, Qt.Key.Key_Space)
    assert not ws.paused


def test_maps_per_page_contrast_and_hover(qtbot, ws):
    ws.set_active(True)
    _frames(qtbot, ws)
    pane = ws.panes[0]
    pane.per_page_spin.setValue(0)  # all maps
    ws.controls.contrast_combo.setCurrentIndex(ws.controls.contrast_combo.findData("shared"))
    cfg = ws.config()
    assert cfg.contrast == "shared" and cfg.panes[0].per_page >= 6 and cfg.panes[0].aspect > 0
    qtbot.waitUntil(lambda: pane.last is not None and pane.last.count == 6 and pane.last.shared, timeout=20000)
    assert pane.colorbar.isVisible() and "zeros" in pane.stats.text()
    x, y, _, _ = pane.last.grid.rect(2)
    pane.view.hovered.emit(float(x + 1), float(y + 1))
    text = pane.hover.text()  # numbered from 1 with the index beside; a shrunk map's value is a block mean
    assert text.startswith("channel 3 (index 2) · row") and ("value" in text or "block mean" in text)
    pane.view.hovered.emit(-1.0, -1.0)
    assert pane.hover.text().strip() == ""


def test_failed_camera_resets_the_input_and_the_rates(qtbot, ws):
    ws.set_active(True)
    _frames(qtbot, ws)
    assert "FPS" in ws.input.info.text() and ws.input.view.has_image()
    ws.set_source("camera", camera=99)
    qtbot.waitUntil(lambda: "Camera 99" in ws.status.text() and ws.status_level == "error", timeout=20000)
    assert not ws.input.view.has_image() and "FPS" not in ws.input.info.text()
    assert "Camera 99" in ws.input.source_label.text() and "FPS" not in ws.panes[0].info.text()


def test_precision_reaches_the_pipeline_the_pane_says_what_it_ran_in_and_is_remembered(qtbot, ws, monkeypatch):
    from app.live import precision as prec
    from app.live.config import PRECISIONS
    from widgets.live.controls import PRECISIONS as OFFERED
    from widgets.main_window import settings

    assert tuple(k for k, _ in OFFERED) == PRECISIONS  # every arithmetic the core knows, offered
    monkeypatch.setattr(prec, "cpu_bfloat16_native", lambda: True)  # as on this machine's Xeon (emulated elsewhere)
    ws.set_active(True)
    _frames(qtbot, ws)
    pane = ws.panes[0]
    assert ws.config().precision == "auto" and "computed in float32" in pane.info.toolTip().lower()
    combo = ws.controls.precision_combo
    combo.setCurrentIndex(combo.findData("fast"))
    assert ws.config().precision == "fast"
    qtbot.waitUntil(lambda: "bfloat16 autocast" in pane.info.toolTip(), timeout=20000)
    qtbot.waitUntil(lambda: pane.stats.text().endswith("bfloat16\N{NO-BREAK SPACE}maps")
                    or pane.stats.text().endswith("bfloat16 maps"), timeout=20000)  # the strip names its maps'
    assert "bfloat16 maps: " in pane.stats.toolTip()
    ws.controls.save(settings())
    assert settings().value("live/precision") == "fast"
    combo.setCurrentIndex(combo.findData("full"))
    ws.controls.restore(settings())
    assert ws.controls.precision() == "fast"
