"""Small pyqtgraph helpers shared by the Probe views: a plot with a title and axes, a centred hint label."""

from __future__ import annotations

import re

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194)]


LONG_WORD = 24  # characters: a longer word (a path, an address) gets places to break (``breakable``)


def breakable(text: str) -> str:
    """``text`` with a zero-width space after each separator of a word longer than ``LONG_WORD`` characters ("/",
    "\\", "_", ".", "-", "?", "&", "=") and every ``LONG_WORD`` characters where it has none: a wrapped label breaks
    it there instead of growing as wide as it (a failed download's path or address on the Training tab's placeholder
    widened the results column). Shorter words are left as they are."""
    def split(m: re.Match) -> str:
        word = re.sub(r"([/\\_.\-?&=])", "\\1\u200b", m.group(0))
        return re.sub(r"[^\u200b]{%d}(?=[^\u200b])" % LONG_WORD, lambda k: k.group(0) + "\u200b", word)

    return re.sub(r"\S{%d,}" % (LONG_WORD + 1), split, text)


def hint_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setWordWrap(True)
    # it wraps in the width it is given, never asks for more (a long word: ``breakable``)
    lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    lab.setStyleSheet("color: #5b6472; font-size: 15px; padding: 24px;")
    return lab


def plot(title: str, left: str, bottom: str, *, size: str = "10pt", legend: bool = False) -> pg.PlotWidget:
    """A plot with a title, axis labels, a light grid and no context menu (``legend``: a small legend top right)."""
    w = pg.PlotWidget(enableMenu=False)  # never built, not built and then disabled (half its cost: issue 14)
    return dress(w, title, left, bottom, size=size, legend=legend)


def dress(w: pg.PlotWidget, title: str, left: str, bottom: str, *, size: str = "10pt",
          legend: bool = False) -> pg.PlotWidget:
    """``plot``'s title, axis labels, grid and legend on a plot made elsewhere (a subclass); returns it."""
    w.setTitle(title, size=size)
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    if legend:
        w.addLegend(offset=(-4, 4), labelTextSize="8pt", brush=(255, 255, 255, 200))
    return w
