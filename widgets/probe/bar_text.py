"""A progress bar whose text is drawn on one line, elided ("…") where the bar is narrower than it, instead of being
wrapped onto two half-hidden lines or cut: the dataset browser's download bar in the Probe's narrow Dataset tab (at a
1024 px window "[1/4] downloading train-images-idx3-ubyte.gz: 13.2 MB of 26.4 MB" came out as two cut lines) and the
run box's own download bar (``widgets.probe.run_panel.ProgressLine``). The whole text is the bar's tooltip.

API::

    t = elide_bar_text(bar)    # an event filter on ``bar`` (its child): painting and tooltip
    t.shown_text() -> str      # the text as the bar draws it
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QProgressBar, QStyle, QStyleOptionProgressBar, QStylePainter

from widgets.common.qt_override import qt_override

PAD = 12  # px: the text's room is the bar's width less this (the style's frame and a margin either side)


class BarText(QObject):
    def __init__(self, bar: QProgressBar) -> None:
        super().__init__(bar)
        self.bar = bar
        bar.installEventFilter(self)

    def shown_text(self) -> str:
        """The bar's text as it is drawn: whole where it fits on one line, else elided."""
        text = self.bar.text().replace("\n", " ")
        return self.bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, max(0, self.bar.width() - PAD))

    def _paint(self) -> None:
        bar = self.bar
        painter = QStylePainter(bar)
        opt = QStyleOptionProgressBar()
        bar.initStyleOption(opt)
        opt.text = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ProgressBar, opt)
        painter.end()

    @qt_override
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if obj is not self.bar:
            return False
        kind = event.type()
        if kind == QEvent.Type.Paint:
            self._paint()
            return True  # painted: the bar's own paint (which wraps a long text) is not run
        if kind == QEvent.Type.ToolTip:
            text = self.bar.text() if self.bar.isTextVisible() else ""
            if text and text != self.bar.toolTip():
                self.bar.setToolTip(text)
        return False


def elide_bar_text(bar: QProgressBar) -> BarText:
    """``bar`` drawn with its text on one line, elided to its width (see the module)."""
    found = bar.findChild(BarText)
    return found if found is not None else BarText(bar)
