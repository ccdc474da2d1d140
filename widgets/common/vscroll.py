"""A column that scrolls vertically when its window is short, and is never narrower than its content."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

from widgets.common.qt_override import qt_override


class VerticalScroll(QScrollArea):
    """``widget`` in a frameless scroll area with no horizontal scroll bar. Its minimum width is the content's
    (plus a vertical scroll bar), so a splitter or layout gives it the room the content needs; its minimum height is
    small, so a short window (a 720-pixel laptop screen) scrolls the column instead of squeezing its rows into each
    other. At the usual heights it shows no scroll bar."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    @qt_override
    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        inner = self.widget().minimumSizeHint() if self.widget() is not None else QSize(0, 0)
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), 120)

    @qt_override
    def sizeHint(self) -> QSize:  # noqa: N802
        inner = self.widget().sizeHint() if self.widget() is not None else QSize(0, 0)
        return QSize(max(inner.width(), self.minimumSizeHint().width()), inner.height())
