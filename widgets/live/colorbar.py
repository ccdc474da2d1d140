"""A vertical colour bar with the value range of the enlarged map (or of the shared contrast)."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.imaging import colormaps


class ColorBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.setSpacing(1)
        self.hi = QLabel()
        self.bar = QLabel()
        self.lo = QLabel()
        for w in (self.hi, self.lo):
            w.setStyleSheet("font-size: 10px;")
        self.bar.setScaledContents(True)  # the bar spans the height between its two labels
        self.bar.setFixedWidth(14)
        self.bar.setMinimumHeight(40)
        lay.addWidget(self.hi)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.lo)
        self.cmap = ""
        self.setToolTip("Colour bar: the values shown by the lowest and the highest colour")

    def set_range(self, cmap: str, lo: float, hi: float) -> None:
        if cmap != self.cmap:
            self.cmap = cmap
            img = colormaps.colorbar(cmap, 200, 14)
            q = QImage(img.data, img.shape[1], img.shape[0], img.strides[0], QImage.Format.Format_RGB888).copy()
            self.bar.setPixmap(QPixmap.fromImage(q))
        self.hi.setText(f"{hi:.3g}")
        self.lo.setText(f"{lo:.3g}")
