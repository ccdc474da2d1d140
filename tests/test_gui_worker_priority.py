"""Issue 14: with FILTER_EXPLORER_WORKER_NICE the desktop app's workers run below the GUI thread's priority
(``app.priority.background_priority``); off by default."""

from __future__ import annotations

import os
import sys
import threading

import pytest

pytestmark = [pytest.mark.gui,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values: Linux only")]


def test_a_workers_thread_runs_below_the_gui_thread(qtbot, monkeypatch):
    from widgets.common.worker import Worker

    monkeypatch.setenv("FILTER_EXPLORER_WORKER_NICE", "10")
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    w = Worker(lambda token: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), name="nice")
    with qtbot.waitSignal(w.finished, timeout=10_000) as got:
        w.start()
    assert got.args[0] == min(19, gui + 10) == w.nice
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == gui  # the GUI thread unchanged
    w.wait()


@pytest.mark.parametrize("setting", ["0", None])
def test_off_by_default_and_when_set_to_zero(qtbot, monkeypatch, setting):
    from widgets.common.worker import Worker

    if setting is None:
        monkeypatch.delenv("FILTER_EXPLORER_WORKER_NICE", raising=False)
    else:
        monkeypatch.setenv("FILTER_EXPLORER_WORKER_NICE", setting)
    gui = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    w = Worker(lambda token: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), name="not nice")
    with qtbot.waitSignal(w.finished, timeout=10_000) as got:
        w.start()
    assert got.args[0] == gui and w.nice is None
    w.wait()
