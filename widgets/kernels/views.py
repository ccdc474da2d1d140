"""A pyqtgraph view that shows one uint8 RGB mosaic (one ImageItem) and reports clicks in mosaic pixels."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem


class MosaicView(pg.GraphicsView):
    clicked = Signal(float, float)  # mosaic x (column), y (row)

    def __init__(self, parent=None, tooltip: str = "") -> None:
        super().__init__(parent, background="w")
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.01)
        self.vb.setMouseEnabled(False, False)
        self.setCentralItem(self.vb)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self._shape: tuple[int, ...] | None = None
        self.highlight = QGraphicsRectItem()
        pen = QPen(QColor(255, 140, 0))
        pen.setWidth(3)
        pen.setCosmetic(True)
        self.highlight.setPen(pen)
        self.highlight.setZValue(10)
        self.highlight.hide()
        self.vb.addItem(self.highlight, ignoreBounds=True)
        self.scene().sigMouseClicked.connect(self._on_click)
        if tooltip:
            self.setToolTip(tooltip)

    def set_rgb(self, rgb: np.ndarray) -> None:
        rgb = np.ascontiguousarray(rgb)
        self.image.setImage(rgb, levels=(0, 255), autoLevels=False)
        if rgb.shape != self._shape:
            self._shape = rgb.shape
            self.vb.autoRange(padding=0.01)

    def set_highlight(self, rect: tuple[float, float, float, float] | None) -> None:
        """Frame one tile (x, y, w, h in mosaic pixels), or hide the frame."""
        if rect is None:
            self.highlight.hide()
        else:
            self.highlight.setRect(QRectF(*rect))
            self.highlight.show()

    def rgb(self) -> np.ndarray | None:
        return self.image.image

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if getattr(self, "_shape", None) is not None:
            self.vb.autoRange(padding=0.01)

    @Slot(object)
    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.image.image is None:
            return
        p = self.image.mapFromScene(ev.scenePos())
        self.clicked.emit(float(p.x()), float(p.y()))

    def widget_pos(self, x: float, y: float) -> QPoint:
        """Where mosaic pixel (x, y) is on this widget (tests click there)."""
        return self.mapFromScene(self.image.mapToScene(QPointF(x, y)))
