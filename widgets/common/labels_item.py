"""Many short texts on a plot, drawn by one graphics item (issue 14).

A ``pg.TextItem`` per label costs the GUI thread ~0.3 ms to create and lay out on this machine (a 10-class confusion
matrix's counts: ~20 ms; the misclassified gallery's 40 captions, created again for every run: ~12 ms, several
times that on a busy machine). ``LabelsItem`` keeps the labels as plain data and paints them all in one ``paint``: the
texts at a fixed size on screen (like ``TextItem``), each anchored at a point given in the plot's data coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter

from widgets.common.qt_override import qt_override


@dataclass(frozen=True)
class Label:
    x: float  # the anchor point, in the plot's data coordinates
    y: float
    text: str
    colour: tuple[int, int, int] = (0, 0, 0)


class LabelsItem(pg.GraphicsObject):
    """Labels anchored at data points; ``anchor`` as ``pg.TextItem``'s: (0.5, 0.5) centres each text on its point,
    (0.5, 0) puts the point at the middle of the text's top edge."""

    def __init__(self, font: QFont | None = None, anchor: tuple[float, float] = (0.5, 0.5)) -> None:
        super().__init__()
        self.font = font or QFont("Sans", 7)
        self.anchor = anchor
        self._labels: tuple[Label, ...] = ()
        self._bounds = QRectF()

    def set_labels(self, labels, bounds: QRectF | None = None) -> None:
        """Replace the labels (``Label`` or (x, y, text, colour) tuples); ``bounds``: the data rectangle the labels
        are drawn in (default: their points' bounding rectangle; the texts themselves are sized in pixels)."""
        self.prepareGeometryChange()
        self._labels = tuple(lb if isinstance(lb, Label) else Label(*lb) for lb in labels)
        if bounds is None and self._labels:
            xs = [lb.x for lb in self._labels]
            ys = [lb.y for lb in self._labels]
            bounds = QRectF(min(xs), min(ys), max(max(xs) - min(xs), 1e-9), max(max(ys) - min(ys), 1e-9))
        self._bounds = QRectF(bounds) if bounds is not None else QRectF()
        self.update()

    def clear(self) -> None:
        self.set_labels(())

    def texts(self) -> list[str]:
        return [lb.text for lb in self._labels]

    def labels(self) -> tuple[Label, ...]:
        return self._labels

    @qt_override
    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt)
        return QRectF(self._bounds)

    def dataBounds(self, axis: int, frac: float = 1.0, orthoRange=None):  # noqa: N802, N803 (pyqtgraph)
        if not self._labels:
            return None
        r = self._bounds
        return (r.left(), r.right()) if axis == 0 else (r.top(), r.bottom())

    @qt_override
    def paint(self, p: QPainter, *args) -> None:
        if not self._labels:
            return
        tr = p.transform()
        metrics = QFontMetricsF(self.font)
        h = metrics.height()
        ax, ay = self.anchor
        p.save()
        p.resetTransform()
        p.setFont(self.font)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        colour = None
        for lb in self._labels:
            pt = tr.map(QPointF(lb.x, lb.y))
            w = metrics.horizontalAdvance(lb.text) + 2
            if lb.colour != colour:
                colour = lb.colour
                p.setPen(QColor(*colour))
            p.drawText(QRectF(pt.x() - ax * w, pt.y() - ay * h, w, h), Qt.AlignmentFlag.AlignCenter, lb.text)
        p.restore()
