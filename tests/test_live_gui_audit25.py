"""Audit M finding 15 in the Live GUI: the hover read-out and the page label say which channel numbering they use,
a shrunk map's hover value is called a block mean, and the longer read-out does not widen the pane."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from app.live.synthetic import write_test_video
from app.models.spec import ModelSpec
from app.session import Session

pytestmark = pytest.mark.gui
TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)})


@pytest.fixture
def ws(qtbot, fe_home, tmp_path):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    video = write_test_video(tmp_path / "cam.avi", frames=20, width=80, height=60, fps=30)
    s = settings()
    s.setValue("live/source", "video")
    s.setValue("live/video_path", str(video))
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": "tiny", "layer": 1, "page": 0}] * 3))
    session = Session()
    session.put_model("tiny", TINY)
    window = QWidget()
    lay = QVBoxLayout(window)
    w = LiveWorkspace(session, s)
    lay.addWidget(w)
    qtbot.addWidget(window)
    window.resize(900, 500)
    window.show()
    qtbot.waitExposed(window)
    w.window_ = window
    yield w
    w.shutdown()


def test_hover_and_page_label_name_number_and_index_and_a_block_mean(qtbot, ws):
    ws.set_active(True)
    pane = ws.panes[0]
    qtbot.waitUntil(lambda: pane.last is not None and pane.last.grid is not None, timeout=30000)
    r = pane.last
    assert "(indices 0–" in pane.page_label.text() and "from 1" in pane.page_label.toolTip()
    # the width the layout asks for (deterministic; the window's own width followed layout passes still under way on
    # a loaded machine: a clean clone measured it before and after one)
    width = ws.window_.minimumSizeHint().width()
    # the same maps shown shrunk 3x (a 240x320 camera frame's maps): the read-out is a block mean
    pane.last = replace(r, factor=3, map_size=(r.map_size[0] * 3, r.map_size[1] * 3))
    x, y, _, _ = r.grid.rect(2)
    pane._on_hover(float(x + 1), float(y + 1))
    text = pane.hover.text()
    assert text.startswith("channel 3 (index 2) · rows 3–5, cols 3–5 · 3x3 block mean "), text
    assert ws.window_.minimumSizeHint().width() <= width  # the longer read-out wraps: it widens nothing
    assert pane.hover.minimumSizeHint().width() <= pane.width(), (pane.hover.minimumSizeHint(), pane.width())
    assert np.isfinite(float(text.rsplit(" ", 1)[1]))
