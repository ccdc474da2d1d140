"""A run's confusion matrix: the thumbnail in the Results page and the same matrix enlarged in a window of its own.

``ConfusionPlot`` draws a matrix (the colour is the row share, ``app.probe.gallery.confusion_uint8``; the counts are
written on the cells of small matrices), says a cell's count and share on hover and reports a left click on a cell
(``cell_clicked(true, predicted)``). Its counts are shown only where a cell is wide enough to hold them, and its axes
name the classes only as often as their names fit (every class, every 2nd, every 5th, ... or none; each class keeps
its tick mark): a thumbnail squeezed by a small window shows the colours, never texts piled over one another or
run together ("0123456789"). The thumbnail has an Enlarge button in a corner: ``ConfusionWindow`` shows the matrix
large enough to read every count and class name, and a click on a cell there filters the gallery as a click on the
thumbnail does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QFontMetricsF
from PySide6.QtWidgets import QDialog, QLabel, QToolButton, QVBoxLayout, QWidget

from app.imaging import colormaps
from widgets.common.labels_item import LabelsItem
from widgets.common.qt_override import qt_override

TITLE = "Confusion: counts (colour: row %)"
MAX_COUNTS = 12  # classes: larger matrices show their colours only (their counts on hover)
ENLARGED_PX = 640  # the enlarged window's matrix side (less on a small screen)
MAX_TICKS = 20  # classes: larger matrices keep pyqtgraph's numbered ticks
TICK_STEPS = (1, 2, 5, 10)  # every class named, every 2nd, every 5th, every 10th (then none)
TICK_GAP = 4  # px: the least room between two class names along an axis


class ConfusionPlot(pg.PlotWidget):
    cell_clicked = Signal(int, int)  # a left click on the cell (true, predicted)

    def __init__(self, parent: QWidget | None = None, *, font_pt: int = 7, title_size: str = "10pt") -> None:
        super().__init__(parent, enableMenu=False)
        self.setTitle(TITLE, size=title_size)
        self.setLabel("left", "true class")
        self.setLabel("bottom", "predicted class")
        self.setMenuEnabled(False)
        self.invertY(True)
        self.setAspectLocked(True)
        self.showGrid(x=False, y=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(colormaps.lut("viridis"))
        self.addItem(self.image)
        self.counts = LabelsItem(QFont("Sans", font_pt))  # the counts, written on small matrices (one item: issue 14)
        self.addItem(self.counts)
        self.conf = np.zeros((1, 1), np.int64)
        self.classes: list[str] = []
        self.tick_steps: dict[str, int] = {}  # axis -> every how many classes it names (0: none; ``_fit_ticks``)
        self.scene().sigMouseMoved.connect(self._on_hover)
        self.scene().sigMouseClicked.connect(self._on_click)
        self.getViewBox().sigRangeChanged.connect(lambda *_: self._fit_counts())
        self.getViewBox().sigResized.connect(lambda *_: self._fit_counts())

    def set_matrix(self, conf: np.ndarray, classes: list[str], img: np.ndarray) -> None:
        """Show ``conf`` (counts) as ``img`` (its uint8 row shares, computed in ``app.probe.gallery``)."""
        self.conf = conf
        self.classes = list(classes)
        self.image.setImage(img, levels=(0, 255), autoLevels=False)
        n = img.shape[0]
        cells = [(i, j) for i in range(n) for j in range(n) if conf[i, j] != 0] if n <= MAX_COUNTS else []
        self.counts.set_labels([(j + 0.5, i + 0.5, str(int(conf[i, j])), (0, 0, 0) if img[i, j] > 160
                                 else (255, 255, 255)) for i, j in cells], QRectF(0, 0, n, n))
        # every class named until the plot is laid out (``_fit_ticks`` then names fewer where they do not fit)
        ticks = [[(i + 0.5, c[:6]) for i, c in enumerate(classes)]] if 0 < len(classes) <= MAX_TICKS else None
        self.tick_steps = {"bottom": 1, "left": 1} if ticks else {}
        for name in ("bottom", "left"):
            self.getAxis(name).setTicks(ticks)
        self.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self._fit_counts()

    # --- what the user reads ------------------------------------------------------------------------------------
    def cell_px(self) -> float:
        """A cell's side on screen, in pixels (0 before the plot is laid out)."""
        dx, dy = self.getViewBox().viewPixelSize()
        return 1.0 / max(dx, dy) if dx > 0 and dy > 0 else 0.0

    def counts_fit(self) -> bool:
        """Whether a cell is wide and tall enough for its count."""
        texts = self.counts.texts()
        if not texts:
            return True
        fm = QFontMetrics(self.counts.font)
        return self.cell_px() >= max(fm.horizontalAdvance(max(texts, key=len)), fm.ascent())

    def counts_shown(self) -> bool:
        return bool(self.counts.texts()) and self.counts.isVisible()

    def tick_labels(self, axis: str) -> list[str]:
        """The class names written along ``axis`` ("bottom": predicted, "left": true), as drawn."""
        levels = self.getAxis(axis)._tickLevels  # what ``setTicks`` was given (pyqtgraph keeps no public getter)
        return [t for _, t in levels[0] if t] if levels else []

    def _fit_counts(self) -> None:
        fits = self.counts_fit()
        if self.counts.isVisible() != fits:
            self.counts.setVisible(fits)
        self._fit_ticks()

    def _fit_ticks(self) -> None:
        """Name every class along each axis where a cell is wider (bottom) or taller (left) than a name needs, else
        every 2nd, 5th, ... class, or none (the Enlarge window names them all); a tick marks every class. More names
        are written only with room to spare for what they add to the axes (a wider name on the left axis, the first
        line of names under the bottom one: the cells shrink by that much): no back and forth between two steps."""
        names = [c[:6] for c in self.classes]
        n = len(names)
        cell = self.cell_px()
        if not 0 < n <= MAX_TICKS or cell <= 0:
            return
        fm = QFontMetricsF(QFont())  # the font pyqtgraph's axes write their tick texts in (no tickFont set)
        need = {"bottom": max(fm.horizontalAdvance(c) for c in names) + TICK_GAP, "left": fm.height()}

        def widest(step: int) -> float:  # the left axis's widest name at ``step``
            return max(fm.horizontalAdvance(c) for c in names[::step]) if step else 0.0

        old = {axis: self.tick_steps.get(axis, 0) for axis in need}
        step = {axis: _tick_step(cell, need[axis], n) for axis in need}
        more = {axis for axis in need if _named(step[axis], n) > _named(old[axis], n)}
        grow = (max(0.0, widest(step["left"]) - widest(old["left"])) if "left" in more else 0.0) \
            + (fm.height() if "bottom" in more and not old["bottom"] else 0.0)
        for axis in more:  # where the cells stand once the axes have grown
            room = _tick_step(cell - grow / n, need[axis], n)
            step[axis] = room if _named(room, n) > _named(old[axis], n) else old[axis]
        for axis, s in step.items():
            if s != self.tick_steps.get(axis):
                self.tick_steps[axis] = s
                self.getAxis(axis).setTicks([[(i + 0.5, c if s and i % s == 0 else "") for i, c in enumerate(names)]])

    def confusion_text(self, i: int, j: int) -> str:
        """The hover read-out of cell (true i, predicted j): its count and its share of the true class."""
        conf = self.conf
        if not (0 <= i < conf.shape[0] and 0 <= j < conf.shape[1]):
            return ""
        n, total = int(conf[i, j]), int(conf[i].sum())
        name = lambda k: self.classes[k] if k < len(self.classes) else str(k)  # noqa: E731
        share = f" ({100 * n / total:.1f}%)" if total else ""
        return f"true {name(i)} → predicted {name(j)}: {n} of {total}{share}"

    def cell_at(self, pos: Any) -> tuple[int, int] | None:
        """The cell (true, predicted) under scene position ``pos``."""
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return None
        pt = vb.mapSceneToView(pos)
        i, j = int(np.floor(pt.y())), int(np.floor(pt.x()))
        return (i, j) if 0 <= i < self.conf.shape[0] and 0 <= j < self.conf.shape[1] else None

    def cell_pos(self, i: int, j: int):
        """Where the centre of cell (true i, predicted j) lies on this widget (tests click)."""
        return self.mapFromScene(self.getViewBox().mapViewToScene(QPointF(j + 0.5, i + 0.5)))

    def _on_hover(self, pos: Any) -> None:
        vb = self.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        pt = vb.mapSceneToView(pos)
        self.setToolTip(self.confusion_text(int(np.floor(pt.y())), int(np.floor(pt.x()))))

    def _on_click(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(ev.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)


def _tick_step(cell: float, need: float, n: int) -> int:
    """Every how many of ``n`` classes a name of ``need`` pixels fits on cells of ``cell`` pixels (0: too few
    names would be left to say anything: none)."""
    for step in TICK_STEPS:
        if step < n and step * cell >= need:
            return step
    return 1 if n == 1 and cell >= need else 0


def _named(step: int, n: int) -> int:
    """How many of ``n`` classes a step of ``step`` names."""
    return -(-n // step) if step else 0


class ConfusionThumbnail(ConfusionPlot):
    """The Results page's matrix, with an Enlarge button in its bottom right corner (beside the centred axis label,
    clear of the centred title)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enlarge_btn = QToolButton(self)
        self.enlarge_btn.setText("⤢ Enlarge")
        self.enlarge_btn.setCursor(Qt.CursorShape.PointingHandCursor)
        self.enlarge_btn.setToolTip("The confusion matrix in a window of its own, large enough to read every count "
                                    "(click a cell there to see its examples)")
        self._place_button()

    def _place_button(self) -> None:
        btn = getattr(self, "enlarge_btn", None)  # (the base class resizes the view before the button exists)
        if btn is not None:
            hint = btn.sizeHint()
            btn.setGeometry(self.width() - hint.width() - 2, self.height() - hint.height() - 2, hint.width(),
                            hint.height())
            btn.raise_()

    @qt_override
    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(ev)
        self._place_button()


class ConfusionWindow(QDialog):
    """The matrix enlarged: the same counts, hover and click as the thumbnail, with the counts in a larger font."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Confusion matrix")
        self.setModal(False)
        lay = QVBoxLayout(self)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        lay.addWidget(self.caption)
        self.plot = ConfusionPlot(font_pt=10, title_size="11pt")
        lay.addWidget(self.plot, 1)
        note = QLabel("Hover a cell for its count and share of the true class; click an off-diagonal cell to see "
                      "its examples in the gallery, a diagonal one for every mistake again.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5b6472;")
        lay.addWidget(note)
        side = ENLARGED_PX
        screen = self.screen()
        if screen is not None:
            side = min(side, int(0.8 * screen.availableGeometry().height()))
        self.resize(side, side + 60)

    def show_matrix(self, caption: str, conf: np.ndarray, classes: list[str], img: np.ndarray) -> None:
        self.caption.setText(caption)
        self.plot.set_matrix(conf, classes, img)
