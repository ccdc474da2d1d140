"""One tab of the main window: a "Loading ..." placeholder until its workspace is built, then the workspace, in a
scroll area, so that a workspace wider or taller than the window scrolls instead of widening it (four Live panes
need ~1,570 px side by side; the window fits a 1024 x 700 screen whatever a workspace holds)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from widgets.common.qt_override import qt_override


class _Column(QVBoxLayout):
    """The holder's layout, which tells the scroll area it has no height-for-width: a scroll area then sizes the
    workspace to the viewport (or to its least size), where it would size it to the workspace's *preferred* height
    for the width (a wrapping label or tool bar anywhere in it: Live's 630 px mosaics on a 647 px viewport scrolled)."""

    @qt_override
    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return False


class TabHolder(QScrollArea):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        self.setWidget(inner)
        self._lay = _Column(inner)
        self._lay.setContentsMargins(0, 0, 0, 0)
        placeholder = QLabel(f"Loading {title}...")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._lay.addWidget(placeholder)

    def put(self, ws: QWidget) -> None:
        """Show ``ws`` in place of what the tab held (the placeholder)."""
        while self._lay.count():
            item = self._lay.takeAt(0)
            if item.widget() is not None:  # hidden now: a deferred delete would leave it drawn over the workspace
                item.widget().hide()
                item.widget().deleteLater()
        self._lay.addWidget(ws)
        ws.show()  # visible now when its tab is (the layout alone would show it one event-loop turn later)
