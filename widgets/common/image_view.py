"""The one image view of the app: a uint8 image (RGB mosaic, or a single channel through a lookup table) in one
pyqtgraph ``ImageItem`` (the fast path: row-major, C-contiguous uint8, fixed levels).

- aspect locked, image rows top to bottom, a thin margin;
- zoom and pan (wheel, drag) when ``zoomable``; double-click fits the image again;
- ``clicked(x, y)`` and ``hovered(x, y)`` in image pixels (x = column, y = row); ``hovered(-1, -1)`` when the mouse
  leaves the image; ``left()`` when it leaves the view;
- one highlight frame (``set_highlight``), for the selected tile;
- ``widget_pos(x, y)``: where an image pixel lies on the widget (tests click there).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QSizePolicy

from widgets.common.qt_override import qt_override


def set_item_image(item: pg.ImageItem, img: np.ndarray, levels: tuple[float, float] = (0, 255)) -> None:
    """``item.setImage(img, levels=levels, autoLevels=False)``, except that uint8 RGB(A) on (0, 255) is shown as it is:
    with those levels pyqtgraph rescaled every pixel (by 1) on the GUI thread at each render (2-16 ms for 900x1400
    under load; Live renders every frame); without them the QImage wraps the array."""
    if img.dtype == np.uint8 and img.ndim == 3 and item.lut is None and tuple(levels) == (0, 255):
        item.setLevels(None, update=False)
        item.setImage(img, autoLevels=False)
    else:
        item.setImage(img, levels=levels, autoLevels=False)


class ImageView(pg.GraphicsView):
    clicked = Signal(float, float)
    hovered = Signal(float, float)
    left = Signal()

    def __init__(self, parent=None, *, zoomable: bool = False, tooltip: str = "", padding: float = 0.01,
                 min_size: tuple[int, int] = (120, 90)) -> None:
        super().__init__(parent, background="w")
        self.padding = padding
        self.vb = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=padding)
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
        self.set_zoomable(zoomable)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.scene().sigMouseMoved.connect(self._on_move)
        self.setMinimumSize(*min_size)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if tooltip:
            self.setToolTip(tooltip)

    # --- content ---------------------------------------------------------------------------------------------
    def set_image(self, img: np.ndarray, lut: np.ndarray | None = None, levels: tuple[float, float] = (0, 255)) -> None:
        """Show ``img`` (uint8 (H, W, 3) RGB, or (H, W) through ``lut``); the view refits when the shape changes."""
        img = np.ascontiguousarray(img)
        if lut is not None:
            self.image.setLookupTable(lut)
        set_item_image(self.image, img, levels)
        if img.shape != self._shape:
            self._shape = img.shape
            self.fit()

    # the names the first wave used
    set_rgb = set_image
    show_image = set_image

    def clear_image(self) -> None:
        self.image.clear()
        self._shape = None

    def rgb(self) -> np.ndarray | None:
        return self.image.image

    def has_image(self) -> bool:
        return self.image.image is not None

    def fit(self) -> None:
        self.vb.autoRange(padding=self.padding)

    def set_zoomable(self, on: bool) -> None:
        self.zoomable = bool(on)
        self.vb.setMouseEnabled(self.zoomable, self.zoomable)

    def set_highlight(self, rect: tuple[float, float, float, float] | None) -> None:
        """Frame (x, y, w, h) in image pixels, or hide the frame."""
        if rect is None:
            self.highlight.hide()
        else:
            self.highlight.setRect(QRectF(*rect))
            self.highlight.show()

    # --- events ----------------------------------------------------------------------------------------------
    @qt_override
    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if getattr(self, "_shape", None) is not None and not getattr(self, "zoomable", False):
            self.fit()

    @qt_override
    def leaveEvent(self, ev) -> None:  # noqa: N802
        super().leaveEvent(ev)
        self.left.emit()

    def _image_point(self, scene_pos) -> tuple[float, float] | None:
        img = self.image.image
        if img is None:
            return None
        p = self.image.mapFromScene(scene_pos)
        h, w = img.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            return float(p.x()), float(p.y())
        return None

    @Slot(object)
    def _on_click(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        if ev.double() and self.zoomable:
            self.fit()
            return
        pt = self._image_point(ev.scenePos())
        if pt is not None:
            self.clicked.emit(*pt)

    @Slot(object)
    def _on_move(self, scene_pos) -> None:
        pt = self._image_point(scene_pos)
        self.hovered.emit(*(pt if pt is not None else (-1.0, -1.0)))

    def widget_pos(self, x: float, y: float) -> QPoint:
        """Where image pixel (x, y) is on this widget."""
        return self.mapFromScene(self.image.mapToScene(QPointF(x, y)))
