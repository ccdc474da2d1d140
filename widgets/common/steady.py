"""Layout that holds still while its texts change: a wrapped status label that reserves its lines from the start.

A label whose text grows from one line to two takes the height from its neighbours, so a plot or mosaic next to it
shrinks, and Qt re-lays it out and repaints it in the same turn (pyqtgraph's views: their range and axis updates in
Python, then a paint): a jump the user sees and a GUI-thread gap (issue 14; the training dialog's closing summary
was the training heartbeat's longest). ``reserve_lines(label, n)`` gives a word-wrapped label the height of ``n``
lines, top-aligned, so texts of up to ``n`` lines move nothing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def reserve_lines(label: QLabel, n: int) -> QLabel:
    """Word-wrap ``label``, align it top-left and make it at least ``n`` text lines high; returns it."""
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    m = label.contentsMargins()
    label.setMinimumHeight(n * label.fontMetrics().lineSpacing() + m.top() + m.bottom() + 2 * label.margin() + 4)
    return label
