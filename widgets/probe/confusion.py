"""A run's confusion matrix: the thumbnail in the Results page and the same matrix enlarged in a window of its own.

``ConfusionPlot`` draws a matrix (the colour is the row share, ``app.probe.gallery.confusion_uint8``; the counts are
written on the cells of small matrices), says a cell's count and share on hover and reports a left click on a cell
(``cell_clicked(true, predicted)``). Its counts are shown only where a cell is wide enough to hold them, and its axes
name the classes only as often as their names fit (every class, every 2nd, every 5th, ... or none; each class keeps
its tick mark; ``widgets.probe.class_ticks``, which the per-class accuracy bars use too): a thumbnail squeezed by a
small window shows the colours, never texts piled over one another or run together ("0123456789"). A long class name
ends in "…" (the predicted ones in the room their step gives them, the true ones within ``name_px``), never cut
mid-word ("T-shir"); the hover says it whole. The thumbnail has an Enlarge button in a corner: ``ConfusionWindow``
shows the matrix large enough to read every count and class name, and a click on a cell there filters the gallery as
a click on the thumbnail does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QFontMetricsF
from PySide6.QtWidgets import QDialog, QLabel, QToolButton, QVBoxLayout, QWidget

from app.imaging import colormaps
from widgets.common.labels_item import LabelsItem
from widgets.common.qt_override import qt_override
from widgets.experiments.fitted_label import FittedLabel
from widgets.probe.class_ticks import across, across_step, axis_metrics, elide, named, tick_step

TITLE = "Confusion: counts (colour: row %)"
# the thumbnail's title and bottom label where the whole ones do not fit (at 1024 px the title was cut at "row %" and
# the Enlarge button covered "predicted cla"); the tooltip says the whole title
SHORT_TITLES = (TITLE, "Confusion (colour: row %)", "Confusion")
SHORT_BOTTOM = ("predicted class", "predicted", "")
MAX_COUNTS = 12  # classes: larger matrices show their colours only (their counts on hover)
ENLARGED_PX = 640  # the enlarged window's matrix side (less on a small screen)
MAX_TICKS = 20  # classes: larger matrices keep pyqtgraph's numbered ticks
NAME_PX = 38  # px: the widest a true class's name is written on the thumbnail's left axis (longer: "…")
ENLARGED_NAME_PX = 120  # px: the same in the enlarged window


class ConfusionPlot(pg.PlotWidget):
    cell_clicked = Signal(int, int)  # a left click on the cell (true, predicted)

    def __init__(self, parent: QWidget | None = None, *, font_pt: int = 7, title_size: str = "10pt",
                 name_px: int = NAME_PX) -> None:
        super().__init__(parent, enableMenu=False)
        self.name_px = name_px
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
        self._tick_texts: dict[str, list[str]] = {}  # axis -> the texts given to it, one per class ("": none)
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
        texts = self._left_names() if 0 < len(classes) <= MAX_TICKS else []
        self.tick_steps = {"bottom": 1, "left": 1} if texts else {}
        self._tick_texts = {"bottom": texts, "left": texts} if texts else {}
        for name in ("bottom", "left"):
            self.getAxis(name).setTicks([[(i + 0.5, t) for i, t in enumerate(texts)]] if texts else None)
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

    def _left_names(self) -> list[str]:
        """The true classes' names as the left axis writes them: whole, or ending in "…" past ``name_px``."""
        fm = axis_metrics()
        return [elide(fm, c, self.name_px) or c for c in self.classes]

    def _fit_ticks(self) -> None:
        """Name every class along each axis where a cell is wider (bottom: the name, whole or elided,
        ``class_ticks.across``) or taller (left: a text line) than a name needs, else every 2nd, 5th, ... class, or
        none (the Enlarge window names them all); a tick marks every class. More names are written only with room to
        spare for what they add to the axes (a wider name on the left axis, the first line of names under the bottom
        one: the cells shrink by that much): no back and forth between two steps."""
        n = len(self.classes)
        cell = self.cell_px()
        if not 0 < n <= MAX_TICKS or cell <= 0:
            return
        fm = axis_metrics()
        left = self._left_names()
        pos = [i + 0.5 for i in range(n)]
        span = tuple(self.getViewBox().viewRange()[0])

        def steps(c: float) -> dict[str, int]:
            return {"bottom": across_step(self.classes, pos, c, span, fm), "left": tick_step(c, fm.height(), n)}

        def widest(step: int) -> float:  # the left axis's widest name at ``step``
            return max(fm.horizontalAdvance(c) for c in left[::step]) if step else 0.0

        old = {axis: self.tick_steps.get(axis, 0) for axis in ("bottom", "left")}
        step = steps(cell)
        more = {axis for axis in step if named(step[axis], n) > named(old[axis], n)}
        grow = (max(0.0, widest(step["left"]) - widest(old["left"])) if "left" in more else 0.0) \
            + (fm.height() if "bottom" in more and not old["bottom"] else 0.0)
        if more:  # where the cells stand once the axes have grown
            later = steps(cell - grow / n)
            for axis in more:
                step[axis] = later[axis] if named(later[axis], n) > named(old[axis], n) else old[axis]
        texts = {"bottom": across(self.classes, pos, cell, span, step["bottom"], fm),
                 "left": [t if step["left"] and i % step["left"] == 0 else "" for i, t in enumerate(left)]}
        for axis, s in step.items():
            self.tick_steps[axis] = s
            if texts[axis] != self._tick_texts.get(axis):
                self._tick_texts[axis] = texts[axis]
                self.getAxis(axis).setTicks([[(p, t) for p, t in zip(pos, texts[axis])]])

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
        self.setToolTip(f"{TITLE}: each cell counts the test images of its true class (row) predicted as its "
                        f"column's class; its colour is that count's share of the row")
        self.title_text = TITLE
        # the bottom label's longest wording that ends left of the button (``FittedLabel``, the button's overlap
        # with the axis kept clear)
        self.bottom_label = FittedLabel(self, "bottom", reserve=self._button_overlap)
        self.bottom_label.set(*SHORT_BOTTOM)
        self.getAxis("bottom").geometryChanged.connect(self._keep_button_row)  # after the label's fit
        self.getAxis("left").geometryChanged.connect(self._fit_title)  # its class names widen or narrow it
        self._place_button()

    def _button_overlap(self) -> float:
        """How far the Enlarge button reaches into the bottom axis from its right end (px, scene = widget here)."""
        axis = self.getAxis("bottom")
        right = axis.mapToScene(axis.boundingRect().topRight()).x()
        return right - self.enlarge_btn.x() + 4

    def _place_button(self) -> None:
        btn = getattr(self, "enlarge_btn", None)  # (the base class resizes the view before the button exists)
        if btn is not None:
            hint = btn.sizeHint()
            btn.setGeometry(self.width() - hint.width() - 2, self.height() - hint.height() - 2, hint.width(),
                            hint.height())
            btn.raise_()
            self._fit_title()
            if hasattr(self, "bottom_label"):
                self.bottom_label.fit()  # the button moved after the axis was laid out
                self._keep_button_row()

    def title_room(self) -> float:
        """The width the title is drawn in: pyqtgraph centres it over the view box's column only, right of the left
        axis (~30-40 px of class names) and inside the plot's layout margins, not over the whole widget. A title
        wider than that column widened the plot past the widget's right edge, which cut it off (at 1280 px)."""
        item = self.plotItem
        left, _top, right, _bottom = item.layout.getContentsMargins()
        axes = sum(max(a.geometry().width(), a.minimumWidth()) for a in (item.getAxis("left"), item.getAxis("right"))
                   if a.isVisible())
        return self.viewport().width() - left - right - axes

    def title_width(self, text: str) -> float:
        """The width the title ``text`` takes (its text and its document's margins, as pyqtgraph's label item)."""
        font = QFont(self.font())
        font.setPointSize(10)
        margin = self.plotItem.titleLabel.item.document().documentMargin()
        return QFontMetricsF(font).horizontalAdvance(text) + 2 * margin + 1

    def _fit_title(self, *_a) -> None:
        """The longest title that fits the view box's column (``title_room``; a plot's title: ``FittedLabel`` fits
        axis labels)."""
        room = self.title_room()
        title = next((t for t in SHORT_TITLES if self.title_width(t) <= room), SHORT_TITLES[-1])
        if title != self.title_text:
            self.title_text = title
            self.setTitle(title, size="10pt")
        item = self.plotItem
        if item.geometry() != self.range:  # held wider than the widget by a longer title: the widget's size again
            item.setGeometry(self.range)

    def _keep_button_row(self, *_a) -> None:
        """The bottom axis keeps a row under its class names for the Enlarge button: without its label (no room
        for it beside the button) the axis was one line of names high and the button covered the last ones ("8" at
        1280 px)."""
        axis = self.getAxis("bottom")
        style = axis.style
        ticks = style["tickTextOffset"][1] + max(0, style["tickLength"])
        label = axis.label.boundingRect().height() * 0.8 if axis.label.isVisible() else 0.0
        auto = ticks + axis.textHeight + label  # pyqtgraph's own height of the axis
        names_end = ticks + axis_metrics().height()  # where the class names end, below the axis line
        want = int(math.ceil(max(auto, names_end + 1 + self.enlarge_btn.sizeHint().height() + 1)))
        if axis.fixedHeight != want:
            axis.setHeight(want)

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
        self.plot = ConfusionPlot(font_pt=10, title_size="11pt", name_px=ENLARGED_NAME_PX)
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
