"""The status bar's choice of how the app's background work shares the machine (issue 14).

"Full speed" (the default): the workers (training, extraction, probe heads, dataset loads) run at the window's
priority. "Window first": each worker started from then on runs 10 nice steps below the window's thread
(``app.priority.set_background_nice``), so the window is served first when the machine is busy, at a price: measured
on the 2-core VM (docs/benchmarks/startup.md), the GUI thread's longest gaps while a model trained or a probe ran
fell from 29-36 / 38-67 ms to 18-30 / 23-34 ms beside one busy process, but beside two busy processes a niced worker
ran several times slower. Remembered between sessions; ``FILTER_EXPLORER_WORKER_NICE``, where set, decides instead
(the choice is then shown and disabled).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QWidget

from app.priority import forced_background_nice, set_background_nice

KEY = "main/background_work"
CHOICES = (("speed", "Background: full speed", 0), ("window", "Background: window first", 10))
TIP = ("How the app's background work (training, extraction, probe heads, loads) shares the machine.\n"
       "Full speed: at the window's priority (the fastest runs).\n"
       "Window first: 10 nice steps lower, so the window stays smooth when the machine is busy; on a machine whose\n"
       "every core is taken the work itself then runs several times slower.\n"
       "Applies to work started from now on.")


class BackgroundChoice(QComboBox):
    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        for _key, text, nice in CHOICES:
            self.addItem(text, nice)
        forced = forced_background_nice()
        if forced is not None:
            self.addItem(f"Background: nice +{forced} (FILTER_EXPLORER_WORKER_NICE)", forced)
            self.setCurrentIndex(self.count() - 1)
            self.setEnabled(False)
            self.setToolTip(TIP + f"\n\nSet to +{forced} by FILTER_EXPLORER_WORKER_NICE for this session.")
            return
        self.setToolTip(TIP)
        saved = str(settings.value(KEY, "speed")) if settings is not None else "speed"
        index = next((i for i, (key, _t, _n) in enumerate(CHOICES) if key == saved), 0)
        self.setCurrentIndex(index)
        self._apply(index)
        self.currentIndexChanged.connect(self._chosen)

    def choice(self) -> str:
        """"speed", "window", or "forced" (set by the environment variable)."""
        return "forced" if not self.isEnabled() else CHOICES[self.currentIndex()][0]

    def _apply(self, index: int) -> None:
        set_background_nice(CHOICES[index][2])

    def _chosen(self, index: int) -> None:
        self._apply(index)
        if self._settings is not None:
            self._settings.setValue(KEY, CHOICES[index][0])
