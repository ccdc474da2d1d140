"""Feature projector of a Probe run: the run's frozen test features in 2-D (PCA; UMAP where umap-learn is installed),
one dot per test image coloured by its label, linked to the images: click a dot to see its image.

The computation (``app.analysis.projector_jobs.projector_job``: the feature cache's copy or a fresh extraction, then the
projection) runs in the Probe workspace's worker pool via ``GalleryLoader``; this view asks with ``requested``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from widgets.common.image_view import ImageView
from widgets.common.live_plot import axis_label
from widgets.probe.plots import PALETTE

EXTRA = [(188, 189, 34), (127, 127, 127)]


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def label_colour(k: int) -> tuple[int, int, int]:
    pal = PALETTE + EXTRA
    return pal[k % len(pal)]


class ProjectorView(QWidget):
    requested = Signal(str)  # the method: "pca" or "umap"
    point_clicked = Signal(int)  # index into the run's test split

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = None
        self.selected: int | None = None
        self.method = QComboBox()
        self.method.addItem("PCA", "pca")
        if umap_available():
            self.method.addItem("UMAP", "umap")
        self.method.setToolTip("PCA (UMAP too when umap-learn is installed: pip install umap-learn)")
        self.run_btn = QPushButton("Project the test features")
        self.run_btn.setToolTip("The run's frozen test features (from the feature cache, else extracted again), "
                                "in 2-D, coloured by label")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #5b6472;")
        top = QHBoxLayout()
        top.addWidget(self.method)
        top.addWidget(self.run_btn)
        top.addWidget(self.status, 1)
        self.plot = pg.PlotWidget(enableMenu=False)  # never built (then disabled): issue 14
        self.plot.setMinimumSize(160, 120)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.addLegend(offset=(-4, 4), labelTextSize="8pt", brush=(255, 255, 255, 210))
        self.scatter = pg.ScatterPlotItem(size=6, pen=None)
        self.plot.addItem(self.scatter)
        self.marker = pg.ScatterPlotItem(size=14, pen=pg.mkPen((0, 0, 0), width=2), brush=None)
        self.plot.addItem(self.marker)
        self.image = ImageView(tooltip="The test image of the clicked point", min_size=(90, 90))
        self.caption = QLabel("Click a point to see its image.")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignTop)
        side = QVBoxLayout()
        side.addWidget(self.image, 1)
        side.addWidget(self.caption)
        body = QHBoxLayout()
        body.addWidget(self.plot, 3)
        body.addLayout(side, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addLayout(body, 1)
        self.run_btn.clicked.connect(lambda: self.requested.emit(self.method.currentData()))
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        self._mis: dict[int, int] = {}

    def clear(self, note: str = "") -> None:
        self.data = None
        self.selected = None
        self.scatter.clear()
        self.marker.clear()
        self.plot.getPlotItem().legend.clear()
        self.image.clear_image()
        self.caption.setText("Click a point to see its image.")
        self.status.setText(note)

    def set_busy(self, text: str) -> None:
        self.status.setText(text)

    def set_run(self, run: Any) -> None:
        """A new run: forget the old projection; remember which test images were misclassified as what."""
        raw = getattr(run, "raw", None) or {}
        mis = raw.get("misclassified") or []
        pred = raw.get("mis_predicted") or []
        self._mis = {int(i): int(p) for i, p in zip(mis, pred)}
        self.clear("")

    def show_projection(self, data: Any) -> None:
        self.clear(data.note)
        self.data = data
        p = data.projection
        labels = np.asarray(p.labels).astype(np.int64)
        brushes = [pg.mkBrush(*label_colour(int(k)), 200) for k in labels]
        self.scatter.setData(x=p.xy[:, 0], y=p.xy[:, 1], brush=brushes, data=p.indices)
        legend = self.plot.getPlotItem().legend
        present = sorted(set(labels.tolist()))[:20]
        legend.setColumnCount(max(1, (len(present) + 1) // 2))  # two rows above the points, not a column over them
        for k in present:
            item = pg.ScatterPlotItem(size=8, pen=None, brush=pg.mkBrush(*label_colour(k)))
            legend.addItem(item, self.class_name(k))
        axis_label(self.plot, "bottom", f"{p.method.upper()} 1")
        axis_label(self.plot, "left", f"{p.method.upper()} 2")
        self.plot.autoRange()
        lo, hi = float(p.xy[:, 1].min()), float(p.xy[:, 1].max())
        self.plot.setYRange(lo, hi + 0.3 * (hi - lo + 1e-9), padding=0.02)  # room for the legend above the points

    def class_name(self, k: int) -> str:
        classes = self.data.classes if self.data is not None else ()
        return classes[k] if 0 <= k < len(classes) else str(k)

    def point_pos(self, i: int) -> QPoint:
        """Where the ``i``-th projected point lies on ``self.plot`` (tests click there)."""
        x, y = (float(v) for v in self.data.projection.xy[i])
        return self.plot.mapFromScene(self.plot.getViewBox().mapViewToScene(QPointF(x, y)))

    def _on_click(self, ev: Any) -> None:
        if self.data is None or ev.button() != Qt.MouseButton.LeftButton:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        pt = vb.mapSceneToView(ev.scenePos())
        # nearest in screen terms: scale both axes by the view's pixel size
        px = vb.viewPixelSize()
        xy = self.data.projection.xy
        d = np.hypot((xy[:, 0] - pt.x()) / max(px[0], 1e-12), (xy[:, 1] - pt.y()) / max(px[1], 1e-12))
        j = int(np.argmin(d))
        if d[j] > 20:  # more than 20 pixels from every point
            return
        self.select(int(self.data.projection.indices[j]))

    def select(self, index: int) -> None:
        """Show test image ``index`` (an index into the run's test split) and mark its point."""
        d = self.data
        if d is None or not 0 <= index < len(d.images):
            return
        self.selected = index
        self.image.set_image(_rgb(d.images[index]))
        where = np.nonzero(d.projection.indices == index)[0]
        if len(where):
            self.marker.setData(x=[float(d.projection.xy[where[0], 0])], y=[float(d.projection.xy[where[0], 1])])
        true = self.class_name(int(d.labels[index]))
        wrong = self._mis.get(index)
        verdict = f"<br><span style='color:#b22'>misclassified as {self.class_name(wrong)}</span>" \
            if wrong is not None else "<br>classified correctly"
        self.caption.setText(f"test image #{index}<br>label <b>{true}</b>{verdict}")
        self.point_clicked.emit(index)


def _rgb(img: np.ndarray) -> np.ndarray:
    from app.imaging.mosaic import to_rgb

    return to_rgb(np.asarray(img)[None])[0]
