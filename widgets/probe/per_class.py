"""The Results page's per-class accuracy bars: one bar per class, the classes named under them as often as their names
fit (``widgets.probe.class_ticks``, as the confusion matrix's axes: every class, every 2nd, 5th, ... or none, a long
name ending in "…", each bar keeping its tick mark), and the hover naming the bar's class whole with its accuracy.

Ten Fashion-MNIST names ("T-shirt/top", "Trouser", "Pullover", ...) on bars ~24 px apart, as a 1024 px window
leaves them, were written over one another and the first one was dropped; they read "T-sh…", "Pull…", "Coat",
"Shirt", "Bag" there now, and the mouse over any bar says "Ankle boot: 93.0% right (930 of 1,000 test images)".

API::

    bars = PerClassBars()
    bars.set_run(per_class, classes, colour, confusion)  # accuracies (0..1), names, the bars' colour, the counts
    bars.tick_labels() -> list[str]                       # the class names written under the bars, as drawn
    bars.bar_text(i) -> str                               # the hover's text over bar ``i``
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from app.metrics import percent
from widgets.probe.class_ticks import across, across_step, axis_metrics
from widgets.probe.plots import dress

MAX_TICKS = 20  # classes: more bars keep pyqtgraph's numbered ticks
EDGE = 1.0  # classes of room either side of the first and last bar's centre (room for their names)


class PerClassBars(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, enableMenu=False)
        dress(self, "Accuracy per class", "accuracy", "class")
        self.setYRange(0, 1, padding=0.02)
        self.setMouseEnabled(x=False, y=False)
        self._bars: pg.BarGraphItem | None = None
        self.classes: list[str] = []
        self.per = np.zeros(0)
        self.conf: np.ndarray | None = None
        self.tick_step = 0  # every how many classes are named (0: none)
        self._texts: list[str] = []
        vb = self.getViewBox()
        vb.sigResized.connect(lambda *_: self._fit_ticks())
        vb.sigRangeChanged.connect(lambda *_: self._fit_ticks())
        self.scene().sigMouseMoved.connect(self._on_hover)

    def set_run(self, per_class: Sequence[float], classes: Sequence[str], colour: Any,
                confusion: np.ndarray | None = None) -> None:
        per = np.asarray(per_class, np.float64)
        self.per, self.classes = per, list(classes)
        self.conf = confusion if confusion is not None and confusion.shape == (len(per), len(per)) else None
        if self._bars is not None:
            self.removeItem(self._bars)
        xs = np.arange(len(per), dtype=np.float64)
        self._bars = pg.BarGraphItem(x=xs, height=per, width=0.7, brush=pg.mkBrush(colour), pen=None)
        self.addItem(self._bars)
        self._texts = []
        named = 0 < len(self.classes) <= MAX_TICKS and len(self.classes) == len(per)
        self.tick_step = 1 if named else 0
        if not named:
            self.getAxis("bottom").setTicks(None)
        self.setXRange(-EDGE, max(len(per) - 1 + EDGE, EDGE), padding=0)
        self._fit_ticks()

    def tick_labels(self) -> list[str]:
        """The class names written under the bars (whole or ending in "…"), left to right."""
        return [t for t in self._texts if t]

    def bar_text(self, i: int) -> str:
        """What the mouse over bar ``i`` says: its class whole, its accuracy and (where the counts are known) how
        many of its test images were right."""
        if not 0 <= i < len(self.per):
            return ""
        name = self.classes[i] if i < len(self.classes) else str(i)
        if self.conf is not None and not self.conf[i].sum():
            return f"{name}: no test image of this class (on a test subset, a class can be absent)"
        text = f"{name}: {percent(self.per[i])} right" if self.per[i] == self.per[i] else f"{name}: not measured"
        if self.conf is not None:
            text += f" ({int(self.conf[i, i]):,} of {int(self.conf[i].sum()):,} test images)"
        return text

    def _fit_ticks(self) -> None:
        """Name the classes under the bars as often as their names fit (``class_ticks``); a tick marks every bar."""
        n = len(self.classes)
        if not 0 < n <= MAX_TICKS or n != len(self.per):
            return
        dx = self.getViewBox().viewPixelSize()[0]
        if dx <= 0:
            return
        fm = axis_metrics()
        pos = list(range(n))
        span = tuple(self.getViewBox().viewRange()[0])
        self.tick_step = across_step(self.classes, pos, 1.0 / dx, span, fm)
        texts = across(self.classes, pos, 1.0 / dx, span, self.tick_step, fm)
        if texts != self._texts:
            self._texts = texts
            self.getAxis("bottom").setTicks([list(zip(pos, texts))])

    def _on_hover(self, pos: Any) -> None:
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        x = vb.mapSceneToView(pos).x()
        i = int(round(x))
        tip = self.bar_text(i) if abs(x - i) <= 0.5 else ""
        if tip != self.toolTip():
            self.setToolTip(tip)
