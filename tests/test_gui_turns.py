"""``widgets.common.turns``: ``Turns`` runs queued calls in order, one per event-loop turn, ``stop`` drops the rest;
``Stagger`` paints widgets on turns of their own."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QVBoxLayout, QWidget

from widgets.common.turns import Stagger, Turns

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


class _Counted(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.paints = 0
        self.setMinimumSize(60, 40)

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        self.paints += 1


def test_stagger_paints_the_others_on_later_turns_of_their_own(qtbot):
    top = QWidget()
    qtbot.addWidget(top)
    lay = QVBoxLayout(top)
    a, b, c = _Counted(), _Counted(), _Counted()
    for w in (a, b, c):
        lay.addWidget(w)
    top.show()
    qtbot.waitExposed(top)
    qtbot.wait(50)
    stagger = Stagger(top, interval_ms=150)  # (the app's 4 ms could pass before processEvents on a busy machine)
    before = [w.paints for w in (a, b, c)]
    for w in (a, b, c):
        w.update()
    stagger.hold(a, b, c)
    assert a.updatesEnabled() and not b.updatesEnabled() and not c.updatesEnabled() and stagger.held() == 2
    QCoreApplication.processEvents()  # the window's update: a alone is painted
    assert a.paints > before[0] and (b.paints, c.paints) == (before[1], before[2])
    qtbot.waitUntil(lambda: stagger.held() == 0, timeout=2_000)
    qtbot.waitUntil(lambda: b.paints > before[1] and c.paints > before[2], timeout=2_000)
    assert b.updatesEnabled() and c.updatesEnabled()  # nothing is left held
    stagger.hold(a, b, b, a)  # each widget held once, the first never
    assert stagger.held() == 1 and a.updatesEnabled()
    stagger.release_all()
    assert b.updatesEnabled() and stagger.held() == 0


def test_stagger_drops_a_widget_deleted_while_held(qtbot):
    top = QWidget()
    qtbot.addWidget(top)
    a, b = _Counted(top), _Counted(top)
    stagger = Stagger(top)
    stagger.hold(a, b)
    shiboken6.delete(b)  # as when its view is closed before its turn comes
    qtbot.waitUntil(lambda: stagger.held() == 0, timeout=2_000)  # no error releasing a deleted widget
    assert a.updatesEnabled()
