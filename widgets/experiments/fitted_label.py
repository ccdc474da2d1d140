"""An axis label that fits its axis: pyqtgraph centres an axis' label on the axis and draws it whole, so a label
wider than the axis (a long x label on a narrow window, beside a left axis of long arm names) was cut off at both
ends. ``FittedLabel.set(full, shorter, ...)`` shows the first form that fits the axis' width now and picks again
whenever the axis is resized; where none fits, the last is elided ("…"). The whole first form is the axis'
tooltip while a shorter one is shown. ``reserve``: a function giving the pixels at the axis' far end that something
else covers (the Probe confusion thumbnail's Enlarge button), kept clear at both ends since the label is centred.
Layout only: nothing numerical here."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from widgets.common.live_plot import axis_label

MARGIN = 12  # px: the label's text margins (its document's, 4 px each side) and a little air


class FittedLabel:
    def __init__(self, plot: pg.PlotWidget, side: str = "bottom", reserve=None) -> None:
        self.plot = plot
        self.side = side
        self.reserve = reserve
        self.axis = plot.getAxis(side)
        self.texts: tuple[str, ...] = ()
        self.axis.geometryChanged.connect(self.fit)

    def set(self, *texts: str) -> None:
        """The label's forms, the longest (the whole text) first."""
        self.texts = texts
        self.fit()

    def room(self) -> float:
        """The width the label may take (the axis' length, less the text margins)."""
        length = self.axis.width() if self.side in ("bottom", "top") else self.axis.height()
        covered = max(0.0, float(self.reserve())) if self.reserve is not None else 0.0
        return length - MARGIN - 2 * covered

    def choose(self) -> str:
        """The form to show at the axis' size now."""
        if not self.texts:
            return ""
        if self.room() + MARGIN <= 1:  # not laid out yet: the whole text (fitted once the axis has its size)
            return self.texts[0]
        fm = QFontMetrics(self.axis.label.font())
        fitting = next((t for t in self.texts if fm.horizontalAdvance(t) <= self.room()), None)
        return fitting if fitting is not None else fm.elidedText(self.texts[-1], Qt.TextElideMode.ElideRight,
                                                                 max(0, int(self.room())))

    def fit(self, *_a) -> None:
        if not self.texts:
            return
        text = self.choose()
        if self.axis.labelText != text:
            axis_label(self.plot, self.side, text)
        tip = self.texts[0] if text != self.texts[0] else ""
        if self.axis.toolTip() != tip:
            self.axis.setToolTip(tip)
