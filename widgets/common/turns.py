"""``Turns``: calls queued to run one per turn of the GUI event loop, in order (issue 14).

A run's end updates several views (results, history, comparison, gallery); done in one slot they held the GUI thread
for 30-50 ms at once on this machine. Queued here, each runs on a turn of its own and the window paints and handles
input between them. The owner calls ``stop()`` on close (what is still queued is dropped).

``Stagger``: widgets that changed together painted on turns of their own (the Probe's two curve plots), where Qt would
paint them in one window update.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QTimer


class Turns(QObject):
    """``interval_ms``: 0 runs the next call on the next turn; a few ms (Insight's filter statistics: 4) let the
    window paint what the last call drew in a pass of its own first (on a zero timer a plot's paint and the next
    plot's items made one 40-50 ms block of the GUI thread)."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 0) -> None:
        super().__init__(parent)
        self._queue: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_ms))
        self._timer.timeout.connect(self._next)

    def later(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on a later turn, after everything queued before it."""
        self._queue.append((fn, args))
        if not self._timer.isActive():
            self._timer.start()

    def pending(self) -> int:
        return len(self._queue)

    def stop(self) -> None:
        self._timer.stop()
        self._queue.clear()

    def _next(self) -> None:
        if self._queue:
            fn, args = self._queue.popleft()
            fn(*args)
        if not self._queue:
            self._timer.stop()


class Stagger(QObject):
    """Paint several widgets on separate turns of the event loop instead of in one window update (issue 14).

    Qt paints every dirty widget of a window in one go: two plots whose axes changed together (~12 ms each here) plus
    the slot that changed them held the GUI thread for 35-45 ms. ``hold(first, *others)`` lets ``first`` paint on this
    turn and keeps each of ``others`` from painting (``setUpdatesEnabled(False)``: the window keeps showing its last
    pixels there) until a later turn of its own, in order. The timer is a child of this object: it stops with it.
    """

    INTERVAL_MS = 4  # not 0: the window's pending update (a posted event) is painted before the next is let go

    def __init__(self, parent: QObject | None = None, interval_ms: int | None = None) -> None:
        super().__init__(parent)
        self._held: deque = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS if interval_ms is None else interval_ms)
        self._timer.timeout.connect(self._release_one)

    def hold(self, first, *others) -> None:
        for w in others:
            if w is first or any(w is h for h in self._held):
                continue
            if w.updatesEnabled():
                w.setUpdatesEnabled(False)
                self._held.append(w)
        if self._held and not self._timer.isActive():
            self._timer.start()

    def held(self) -> int:
        return len(self._held)

    def release_all(self) -> None:
        self._timer.stop()
        while self._held:
            _enable(self._held.popleft())

    def _release_one(self) -> None:
        if self._held:
            _enable(self._held.popleft())  # schedules its repaint
        if not self._held:
            self._timer.stop()


def _enable(widget) -> None:
    if shiboken6.isValid(widget):  # a widget deleted while held is simply dropped
        widget.setUpdatesEnabled(True)
