"""Cyclic garbage is collected on the GUI thread only while a QApplication exists (a collection in a worker thread
that freed Qt objects deadlocked PySide6: the suite's hang)."""

from __future__ import annotations

import gc
import threading

import pytest

pytestmark = pytest.mark.gui


class Cycle:
    def __init__(self):
        self.me = self


def test_automatic_collection_is_off_and_the_gui_thread_collects(qtbot):
    from widgets.application import main_thread_gc, make_app
    from widgets.common import gcguard

    make_app()
    guard = main_thread_gc()
    assert main_thread_gc() is guard and not gc.isenabled() and guard.timer.isActive()
    assert guard.timer.interval() == gcguard.INTERVAL_MS == 100 and guard.timer.thread() is guard.thread()
    gc.collect()
    alive = []

    def make_garbage():
        for _ in range(guard.threshold[0] + 50):
            c = Cycle()
            alive.append(c)
        alive.clear()  # now cyclic garbage only

    worker = threading.Thread(target=make_garbage)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert gc.get_count()[0] > guard.threshold[0]  # due, yet nothing collected it in the worker thread
    seen = []
    t = threading.Thread(target=lambda: seen.append(guard.check()))  # a worker asking: refused
    t.start()
    t.join(30)
    assert seen == [0] and gc.get_count()[0] > guard.threshold[0]
    assert guard.check() >= guard.threshold[0]  # the GUI thread frees the cycles
    assert gc.get_count()[0] < guard.threshold[0]



def test_older_generations_keep_their_wall_clock_rhythm(qtbot, monkeypatch):
    """Checked every 100 ms instead of 500, gen 0 is collected five times as often; gen 1 (and the full collections
    behind it, ~140 ms each) waits for five times as many gen-0 collections, as it did at 500 ms."""
    from widgets.application import main_thread_gc, make_app
    from widgets.common import gcguard

    make_app()
    guard = main_thread_gc()
    assert guard.young_per_old == gcguard.CADENCE_MS // gcguard.INTERVAL_MS == 5
    calls = []
    monkeypatch.setattr(gcguard.gc, "collect", lambda gen=2: calls.append(gen) or 0)
    t0, t1, t2 = guard.threshold
    for counts, expected in (((t0 + 1, t1 + 1, 0), [0]),  # due at 500 ms; not yet at 100 ms
                             ((t0 + 1, t1 * 5, 0), [0]),
                             ((t0 + 1, t1 * 5 + 1, t2 + 1), [0, 1, 2]),
                             ((t0, t1 * 9, t2 + 1), [])):  # nothing young to collect: nothing at all
        calls.clear()
        monkeypatch.setattr(gcguard.gc, "get_count", lambda c=counts: c)
        guard.check()
        assert calls == expected, counts
