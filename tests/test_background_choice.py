"""The status bar's "Background: full speed / window first" choice: it sets the nice increment of the workers
started afterwards (a worker thread's measured nice value), is remembered, and yields to
FILTER_EXPLORER_WORKER_NICE where that is set."""

from __future__ import annotations

import os
import sys

import pytest
from PySide6.QtCore import QSettings

from app import threads

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def no_choice(monkeypatch):
    monkeypatch.delenv("FILTER_EXPLORER_WORKER_NICE", raising=False)
    yield
    threads.set_background_nice(None)


def _ini(tmp_path):
    return QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)


def test_window_first_lowers_the_next_workers_priority_and_is_remembered(qtbot, tmp_path):
    from widgets.common.background import BackgroundChoice
    from widgets.common.worker import Worker

    s = _ini(tmp_path)
    box = BackgroundChoice(s)
    qtbot.addWidget(box)
    assert box.choice() == "speed" and threads.background_nice() == 0
    box.setCurrentIndex(1)  # as a user picks "window first"
    assert box.choice() == "window" and threads.background_nice() == 10
    assert s.value("main/background_work") == "window"
    if sys.platform.startswith("linux"):
        w = Worker(lambda token: os.getpriority(os.PRIO_PROCESS, 0))
        with qtbot.waitSignal(w.finished, timeout=10_000):
            w.start()
        assert w.nice == os.getpriority(os.PRIO_PROCESS, 0) + 10 or w.nice == 19  # 10 steps below this thread
        w.wait()
    again = BackgroundChoice(s)  # the next session
    qtbot.addWidget(again)
    assert again.choice() == "window" and threads.background_nice() == 10
    again.setCurrentIndex(0)
    assert threads.background_nice() == 0 and s.value("main/background_work") == "speed"


def test_the_environment_variable_decides_and_the_choice_says_so(qtbot, tmp_path, monkeypatch):
    from widgets.common.background import BackgroundChoice

    monkeypatch.setenv("FILTER_EXPLORER_WORKER_NICE", "5")
    s = _ini(tmp_path)
    s.setValue("main/background_work", "window")
    box = BackgroundChoice(s)
    qtbot.addWidget(box)
    assert not box.isEnabled() and box.choice() == "forced"
    assert "nice +5 (FILTER_EXPLORER_WORKER_NICE)" in box.currentText()
    assert threads.background_nice() == 5
    threads.set_background_nice(10)  # a choice made elsewhere does not override the variable
    assert threads.background_nice() == 5


def test_set_background_nice_clamps_and_resets():
    threads.set_background_nice(40)
    assert threads.background_nice({}) == 19
    threads.set_background_nice(-3)
    assert threads.background_nice({}) == 0
    threads.set_background_nice(None)
    assert threads.background_nice({}) == threads.BACKGROUND_NICE
    assert threads.forced_background_nice({"FILTER_EXPLORER_WORKER_NICE": "x"}) is None
