"""Small pyqtgraph helpers shared by the Probe views: a plot with a title and axes, a centred hint label."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194)]


def hint_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setWordWrap(True)
    lab.setStyleSheet("color: #5b6472; font-size: 15px; padding: 24px;")
    return lab


def plot(title: str, left: str, bottom: str, *, size: str = "10pt", legend: bool = False) -> pg.PlotWidget:
    """A plot with a title, axis labels, a light grid and no context menu (``legend``: a small legend top right)."""
    w = pg.PlotWidget(enableMenu=False)  # never built, not built and then disabled (half its cost: issue 14)
    w.setTitle(title, size=size)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    if legend:
        w.addLegend(offset=(-4, 4), labelTextSize="8pt", brush=(255, 255, 255, 200))
    return w
