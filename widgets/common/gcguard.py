"""Cyclic garbage collection on the GUI thread only (see ``widgets.application.main_thread_gc`` for why)."""

from __future__ import annotations

import gc
import sys
import threading

from PySide6.QtCore import QObject, QTimer


INTERVAL_MS = 100  # how often the GUI thread checks (a gen-0 collection's pause grows with what came in meanwhile)
CADENCE_MS = 500  # the older generations keep the wall-clock rhythm they had when the check ran every 500 ms
FREEZE_ABOVE = 6_000  # young objects (about 0.5 us each to collect here, 2-3x that under load)
IMPORTS = 4  # modules imported since the last check


class MainThreadGC(QObject):
    """Turns Python's automatic collection off and collects from a GUI-thread timer instead, generation by
    generation, by the interpreter's own thresholds (the scheme of pyqtgraph's ``GarbageCollector``)."""

    def __init__(self, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__()
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("MainThreadGC must be created on the GUI (main) thread")
        self.threshold = gc.get_threshold()
        # gen-0 collections come CADENCE_MS / interval_ms times as often as they did at 500 ms; each counts once toward
        # a gen-1 collection, so gen 1 (and the full, gen-2 collections behind it: 100-450 ms with torch's and Qt's
        # objects in the heap) would come that much more often too. They wait for that many more instead.
        self.young_per_old = max(1, round(CADENCE_MS / max(1, interval_ms)))
        gc.disable()
        self.collections = 0
        # The desktop app (``widgets.application.run_gui``) freezes a young generation instead of collecting it when it
        # is made of imported modules' objects, which live as long as the app: torch's and the workspaces' during the
        # start-up, scikit-learn's when a worker first needs it (50k-200k objects in 500 ms; collecting them stalled the
        # GUI thread 50-110 ms at a time). ``gc.freeze`` moves lists (no cost) and leaves only the few cyclic garbage
        # objects made in the same moment uncollected (acyclic ones are still freed by reference counting):
        # ``starting``: every due young generation (until every workspace is built); ``freeze_imports``: one of more
        # than ``FREEZE_ABOVE`` objects while ``IMPORTS`` or more modules were imported since the last check.
        # Checked every ``INTERVAL_MS`` (was 500 ms: a worker's 25-30k young objects in that time made one gen-0
        # collection of 24 ms on a busy machine, in a Probe run's heartbeat; at 100 ms each is a fifth of that, and the
        # freeze thresholds are the same rates as before: 30,000 objects and 20 modules per 500 ms; gen 1 and 2 at
        # their old wall-clock rate: ``young_per_old``).
        self.starting = False
        self.freeze_imports = False
        self.froze = 0
        self._modules = len(sys.modules)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> int:
        """Collect the generations that are due (as the interpreter would have); the objects freed."""
        if threading.current_thread() is not threading.main_thread():
            return 0  # never from a worker: that is what this class prevents
        freed = 0
        c0, c1, c2 = gc.get_count()
        imported, self._modules = len(sys.modules) - self._modules, len(sys.modules)
        if (self.starting and c0 > self.threshold[0]) or \
                (self.freeze_imports and c0 > FREEZE_ABOVE and imported >= IMPORTS):
            gc.freeze()
            self.froze += 1
            return 0
        if c0 > self.threshold[0]:
            freed += gc.collect(0)
            self.collections += 1
            if c1 > self.threshold[1] * self.young_per_old:
                freed += gc.collect(1)
                if c2 > self.threshold[2]:
                    freed += gc.collect(2)
        return freed
