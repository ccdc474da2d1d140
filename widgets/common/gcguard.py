"""Cyclic garbage collection on the GUI thread only (see ``widgets.application.main_thread_gc`` for why)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject, QTimer


class MainThreadGC(QObject):
    """Turns Python's automatic collection off and collects from a GUI-thread timer instead, generation by
    generation, by the interpreter's own thresholds (the scheme of pyqtgraph's ``GarbageCollector``)."""

    def __init__(self, interval_ms: int = 500) -> None:
        super().__init__()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("MainThreadGC must be created on the GUI (main) thread")
        self.threshold = gc.get_threshold()
        gc.disable()
        self.collections = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> int:
        """Collect the generations that are due (as the interpreter would have); the objects freed."""
        if threading.current_thread() is not threading.main_thread():
            return 0  # never from a worker: that is what this class prevents
        freed = 0
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            freed += gc.collect(0)
            self.collections += 1
            if c1 > self.threshold[1]:
                freed += gc.collect(1)
                if c2 > self.threshold[2]:
                    freed += gc.collect(2)
        return freed
