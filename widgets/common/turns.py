"""``Turns``: calls queued to run one per turn of the GUI event loop, in order (issue 14).

A run's end updates several views (results, history, comparison, gallery); done in one slot they held the GUI thread
for 30-50 ms at once on this machine. Queued here, each runs on a turn of its own and the window paints and handles
input between them. The owner calls ``stop()`` on close (what is still queued is dropped).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer


class Turns(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(0)
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
