"""Live at 1024 x 700 with the built-in synthetic scene, as a user first sees it: the frame rate is said once, under
the input beside the panes (it stood there, under every pane and again in the status line: five times with the
three default panes), and nothing else is lost: the latency, each pane's own time, the thread count in the status
bar. Paused, no rate anywhere; playing again, one rate again."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.live.config import LiveStatus

pytestmark = pytest.mark.gui

RATE = re.compile(r"(\d+\.\d|--) FPS")


@pytest.fixture
def live_window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow, settings

    make_app()
    settings().setValue("live/source", "synthetic")  # (the default; said so the test does not depend on it)
    win = MainWindow(workspace="live", persist=False)
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    assert win.live.wait_ready(60_000)  # the default panes show their maps (a few frames in: real rates)
    yield win
    win.close()


def _shown(win) -> list[tuple[QLabel | None, str]]:
    """Every text the window shows: its visible labels (the status bar's too) and the status bar's message."""
    texts: list[tuple[QLabel | None, str]] = [(lab, lab.text()) for lab in win.findChildren(QLabel)
                                              if lab.isVisible() and lab.text().strip()]
    return texts + [(None, win.statusBar().currentMessage())]


def _rates(win) -> list[tuple[QLabel | None, str]]:
    return [(lab, text) for lab, text in _shown(win) if RATE.search(text)]


def _frames(qtbot, live, n: int = 3) -> None:
    start = live._frames_shown
    qtbot.waitUntil(lambda: live._frames_shown >= start + n, timeout=30_000)


def test_the_frame_rate_is_shown_once_beside_the_panes(qtbot, live_window):
    win, live = live_window, live_window.live
    assert live.controls.kind() == "synthetic" and len(live.panes) >= 2
    _frames(qtbot, live, 5)
    qtbot.waitUntil(lambda: re.search(r"\d+\.\d FPS", live.input.info.text()) is not None, timeout=30_000)
    rates = _rates(win)
    assert len(rates) == 1, [t for _, t in rates]
    lab, text = rates[0]
    assert lab is live.input.info and len(RATE.findall(text)) == 1, text  # under the input, in the panes' row
    assert re.search(r"latency +\d+ ms", text), text  # the latency kept beside it
    assert "FPS" not in live.status.text() and "latency" not in live.status.text()
    for pane in live.panes:  # each pane keeps its own time on the frame, without the loop's rate again
        assert re.fullmatch(r"\d+\.\d ms this pane", pane.info.text()), pane.info.text()
    # the thread count: once, in the status bar (the rate line unchanged by it)
    live.runner.statusChanged.emit(LiveStatus("Live: threads 1/2 (adapted to load)"))
    qtbot.wait(20)
    threads = [lab for lab, text in _shown(win) if "threads 1/2" in text]
    assert threads == [win.threads_label]
    assert len(_rates(win)) == 1


def test_paused_no_rate_anywhere_and_playing_again_one(qtbot, live_window):
    win, live = live_window, live_window.live
    _frames(qtbot, live)
    # the worker's "Showing ..." stands 3 s; then, playing, the status line is free for messages (no rates there)
    qtbot.waitUntil(lambda: live.status.text() == "", timeout=15_000)
    qtbot.mouseClick(live.controls.play_btn, Qt.MouseButton.LeftButton)
    assert live.paused
    assert _rates(win) == []  # at once: the held picture claims no rate
    assert "paused" in live.input.info.text() and "this frame" in live.input.info.text()
    assert all(p.info.text().startswith("paused · ") for p in live.panes)
    assert "Space resumes" in live.status.text()
    qtbot.mouseClick(live.controls.play_btn, Qt.MouseButton.LeftButton)
    assert not live.paused
    qtbot.waitUntil(lambda: re.search(r"\d+\.\d FPS", live.input.info.text()) is not None, timeout=30_000)
    _frames(qtbot, live)
    rates = _rates(win)
    assert [lab for lab, _ in rates] == [live.input.info], [t for _, t in rates]
    assert "paused" not in live.status.text().lower()


def test_a_panes_time_says_what_it_covers_and_that_its_batch_norms_are_folded(qtbot, live_window):
    """The "ms this pane" label's tooltip: what the time covers and, for a model with batch norms, that Live folds
    them into its convolutions (the same maps, faster): a researcher timing a model here is told it runs so."""
    from widgets.live.pane import TIMING_TIP

    live = live_window.live
    _frames(qtbot, live, 3)
    tips = {p.config().spec.backbone: p.info.toolTip() for p in live.panes}
    assert all(t.startswith(TIMING_TIP) for t in tips.values()), tips
    assert "19 of the model's 19 batch norms are folded into the convolutions" in tips["resnet20"]
    assert "batch norm" not in tips["rdsn"]
