"""``widgets.common.turns.Turns``: queued calls run in order, one per event-loop turn; ``stop`` drops the rest."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QCoreApplication

from widgets.common.turns import Turns

pytestmark = pytest.mark.gui


def test_calls_run_in_order_one_per_turn(qtbot):
    turns = Turns()
    seen = []
    turns.later(seen.append, "a")
    turns.later(seen.append, "b")
    turns.later(lambda: seen.append("c"))
    assert seen == [] and turns.pending() == 3  # nothing runs before the event loop turns
    QCoreApplication.processEvents()
    assert seen == ["a"] and turns.pending() == 2  # one call per turn: the window paints between them
    qtbot.waitUntil(lambda: turns.pending() == 0, timeout=2_000)
    assert seen == ["a", "b", "c"]
    turns.later(seen.append, "d")  # queued again after it went idle
    qtbot.waitUntil(lambda: seen[-1] == "d", timeout=2_000)


def test_stop_drops_what_is_queued(qtbot):
    turns = Turns()
    seen = []
    turns.later(seen.append, 1)
    turns.later(seen.append, 2)
    turns.stop()
    qtbot.wait(50)
    assert seen == [] and turns.pending() == 0
