"""The dataset browser's pictures: the sample mosaic with a label per cell, and the images-per-class bar chart.

``render(view)`` draws an ``app.data.preview.View``; the mosaic is laid out again (``app.data.preview.relayout``)
whenever its area changes shape (shown late, resized, splitter moved), so that it always fills the space it has.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QSplitter, QWidget

from app.data.preview import View, columns_for, relayout
from widgets.common.image_view import set_item_image
from widgets.common.qt_override import qt_override


LABELS_PER_TURN = 4


def _label_text(cell) -> str:
    return cell.class_name if len(cell.class_name) <= 9 else cell.class_name[:8] + "…"


def _label_tip(cell, split: str) -> str:
    """Which image a cell shows: its index in the split (counted from 0, as ``dataset[i]``), not in the subset."""
    return f"#{cell.index} of the {split} split: {cell.class_name}"


class SamplesView(QSplitter):
    relaidOut = Signal(object)  # the View, laid out again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.view: View | None = None
        self.grid_view = pg.GraphicsLayoutWidget()
        self.grid_view.setToolTip("Random samples of the (subset of the) split with their labels; "
                                  "wheel to zoom, drag to pan")
        self.grid_box = self.grid_view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.grid_box.addItem(self.image)
        self.labels: list[pg.TextItem] = []
        self._labels_due = False  # rendered while its workspace was hidden: the labels wait (render)
        self._label_queue: list = []  # cells whose label items are still to be created (_add_labels)
        self._label_timer = QTimer(self, singleShot=True, interval=5)
        self._label_timer.timeout.connect(self._add_labels)
        self._label_font = QFont(self.font())
        self._label_font.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.8))
        self.counts_plot = pg.PlotWidget(enableMenu=False)  # never built (then disabled): issue 14
        self.counts_plot.setMenuEnabled(False)
        self.counts_plot.setMouseEnabled(x=False, y=False)
        self.counts_plot.setLabel("left", "images")
        self.counts_plot.setToolTip("Images per class (in the subset)")
        self.counts_plot.hideButtons()
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.8, brush=(70, 110, 180))
        self.counts_plot.addItem(self.bars)
        self.addWidget(self.grid_view)
        self.addWidget(self.counts_plot)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 1)
        self._relayout_timer = QTimer(self, singleShot=True, interval=50)
        self._relayout_timer.timeout.connect(self._relayout)
        self.grid_view.installEventFilter(self)

    def columns(self, fallback_width: int, fallback_height: int, n: int) -> int:
        """Columns for ``n`` samples in the grid's area (or the fallback area while it is not laid out yet)."""
        if self.grid_view.isVisible():
            return columns_for(n, self.grid_view.width(), self.grid_view.height())
        return columns_for(n, fallback_width, fallback_height)

    def clear(self) -> None:
        self.view = None
        self.image.clear()
        for t in self.labels:
            self.grid_box.removeItem(t)
        self.labels.clear()
        self._label_queue = []
        self.bars.setOpts(x=[0], height=[0], width=0.8)
        self.counts_plot.getAxis("bottom").setTicks(None)
        self.hide()  # nothing to show: no empty axes

    def render(self, view: View) -> None:
        self.view = view
        self.show()
        set_item_image(self.image, view.mosaic)
        holder = self.parentWidget()
        # the labels (a pyqtgraph item each: 48 took 100-200 ms of the GUI thread under load) wait until the grid is
        # shown when its workspace is hidden (the Probe's at start-up); shown, the items of the last render are reused
        self._labels_due = holder is not None and not holder.isVisible()
        if not self._labels_due:
            self._draw_labels(view)
        self.grid_box.autoRange(padding=0.01)
        k = len(view.classes)
        self.bars.setOpts(x=np.arange(k), height=view.counts.astype(float), width=0.8)
        ax = self.counts_plot.getAxis("bottom")
        if k <= 12:
            ax.setTicks([[(i, n if len(n) <= 6 else n[:5] + "…") for i, n in enumerate(view.classes)]])
        else:
            ax.setTicks(None)
        self.counts_plot.setXRange(-0.6, k - 0.4, padding=0)
        self.counts_plot.setYRange(0, max(1, int(view.counts.max(initial=0))) * 1.05, padding=0)

    def _draw_labels(self, view: View) -> None:
        """One label per cell: the label items already in the grid are reused, the missing ones created a few per
        event-loop turn (one took ~1 ms, 5-10 ms under load: 48 at once stalled the GUI thread)."""
        for t in self.labels[len(view.cells):]:
            self.grid_box.removeItem(t)
        del self.labels[len(view.cells):]
        for t, cell in zip(self.labels, view.cells):
            t.setText(_label_text(cell))
            t.setPos(cell.x, cell.y + cell.size)
            t.setToolTip(_label_tip(cell, view.split))
        self._label_queue = list(view.cells[len(self.labels):])
        self._labels_due = False
        self._add_labels()

    @Slot()
    def _add_labels(self) -> None:
        todo, self._label_queue = self._label_queue[:LABELS_PER_TURN], self._label_queue[LABELS_PER_TURN:]
        for cell in todo:
            t = pg.TextItem(_label_text(cell), color=(255, 255, 255), fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 1))
            t.setFont(self._label_font)
            t.setPos(cell.x, cell.y + cell.size)
            t.setToolTip(_label_tip(cell, self.view.split if self.view is not None else "?"))
            self.grid_box.addItem(t)
            self.labels.append(t)
        if self._label_queue:
            self._label_timer.start()

    def busy(self) -> bool:
        """Labels still being created (a few per event-loop turn)."""
        return bool(self._label_queue)

    @qt_override
    def eventFilter(self, obj, ev) -> bool:  # noqa: N802
        if obj is self.grid_view and ev.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self._relayout_timer.start()
        return super().eventFilter(obj, ev)

    @Slot()
    def _relayout(self) -> None:
        v = self.view
        if v is None or not self.grid_view.isVisible() or not v.cells:
            return
        cols = columns_for(len(v.cells), self.grid_view.width(), self.grid_view.height())
        if cols != v.columns:
            self.render(relayout(v, cols))
            self.relaidOut.emit(self.view)
        elif self._labels_due:  # rendered while hidden: the labels now
            self._draw_labels(v)

    def stop(self) -> None:
        self._relayout_timer.stop()
        self._label_timer.stop()
