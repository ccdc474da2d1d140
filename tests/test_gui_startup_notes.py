"""A bad FILTER_EXPLORER_THREADS at desktop start-up: the window starts (default threads) and says why in a box."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_bad_thread_setting_starts_the_window_and_says_why(screenshot_launches):
    out, rc, err = screenshot_launches["bad-threads"]  # FILTER_EXPLORER_THREADS=abc, --screenshot, kernels
    assert rc == 0, err[-3000:]
    assert "FILTER_EXPLORER_THREADS='abc'" in err and "ignored" in err and "Traceback" not in err
    assert out.stat().st_size > 0


def test_startup_notes_are_boxes_that_do_not_block(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from widgets.application import make_app, show_startup_notes

    make_app()
    win = QMainWindow()
    qtbot.addWidget(win)
    win.show()
    (box,) = show_startup_notes(win, ["FILTER_EXPLORER_THREADS='abc': the number of threads must be a whole number"])
    qtbot.waitUntil(box.isVisible, timeout=5000)  # shown, and we got here: it did not block
    assert "whole number" in box.text() and not box.isModal()
    box.close()


def test_damaged_live_pane_settings_do_not_stop_the_workspace(qtbot, fe_home):
    """page / per_page / layer of the saved panes as text, floats, negatives, huge: the panes come back with
    defaults (the window must start whatever the settings file says)."""
    import json

    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    s = settings()
    s.setValue("live/source", "synthetic")
    s.setValue("live/panes", json.dumps([
        {"label": "tiny", "layer": "x", "page": "abc", "per_page": "many"},
        {"label": "tiny", "layer": 1.5, "page": -3, "per_page": 2.5},
        {"label": "tiny", "layer": None, "page": "1e400", "per_page": True}]))
    session = Session()
    session.put_model("tiny", ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)}))
    ws = LiveWorkspace(session, s)
    qtbot.addWidget(ws)
    ws.show()
    assert [p.spec.label for p in ws.panes] == ["tiny", "tiny", "tiny"]
    assert all(p.page == 0 for p in ws.panes)
    ws.shutdown()
