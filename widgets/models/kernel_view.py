"""One kernel-mosaic panel: pick a model (source) and a layer, see every kernel of it as one image.

The mosaic (tiling, scaling, colour mapping) is computed by ``app.models.viz.kernel_mosaic``; this widget only
shows the RGB uint8 image in one pyqtgraph ``ImageItem`` with fixed levels.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from app.models import viz
from widgets.common.elided_combo import ElidedCombo
from widgets.common.image_view import set_item_image
from widgets.common.steady import reserve_lines


class KernelPanel(QFrame):
    """Signals: ``source_changed(str)`` (a source id), ``layer_changed(str)`` (a layer path)."""

    source_changed = Signal(str)
    layer_changed = Signal(str)

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._view: viz.ModelView | None = None
        self._mosaic: viz.Mosaic | None = None
        self._scale = "layer"
        self._cmap = "coolwarm"

        self.title = QLabel(f"<b>{title}</b>")
        # the names elide ("Builder: current m…", not cut mid-letter); the tooltip holds the current one whole
        self.source = ElidedCombo()
        self.source.set_about("Which model to show: the builder's current model, a reference model or a model "
                              "of the session")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(11)  # wider where there is room; a narrow window elides the name
        self.layer = ElidedCombo()
        self.layer.set_about("Which conv layer's kernels to show (same layer on both sides when it exists)")
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer.setMinimumContentsLength(9)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addWidget(self.source, 2)
        top.addWidget(self.layer, 1)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.vb = self.graphics.addViewBox(enableMenu=False)  # never built (then disabled): issue 14
        self.vb.setAspectLocked(True)
        self.vb.invertY(True)
        self.vb.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.hover = QLabel(" ")
        self.hover.setStyleSheet("color: #333;")
        self.hover.setToolTip("The kernel under the mouse pointer")
        self._proxy = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)
        self.graphics.setToolTip("Each small square is one kernel (rows: output channels, columns: input channels; "
                                 "RGB first layers: one colour picture per filter). Scroll to zoom, drag to pan, "
                                 "double-click the layer table to jump to a layer.")
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        self.info = reserve_lines(QLabel(" "), 2)  # the layer's line, two lines with a note: the mosaic holds still
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bar = QLabel()
        self.bar.setMinimumWidth(80)  # the 220 px scale is drawn scaled into what there is (a narrow window)
        self.bar.setScaledContents(True)
        self.bar.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.bar.setToolTip("Colour scale: blue negative, white zero, red positive (RGB kernels: grey is zero)")
        self.lo = QLabel("")
        self.hi = QLabel("")
        legend = QHBoxLayout()
        legend.addWidget(self.lo)
        legend.addWidget(self.bar, 1)
        legend.addWidget(self.hi)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.graphics, 1)
        lay.addLayout(legend)
        lay.addWidget(self.info)
        lay.addWidget(self.hover)

        self.source.currentIndexChanged.connect(self._on_source)
        self.layer.currentIndexChanged.connect(self._on_layer)
        self._set_bar()

    # --- state in -----------------------------------------------------------------------------------------
    def set_sources(self, items: list[tuple[str, str, str]], keep: str | None = None) -> None:
        """items: (id, label, tooltip). Keeps the current id when it is still there (signals blocked)."""
        cur = keep if keep is not None else self.source_id()
        self.source.blockSignals(True)
        self.source.clear()
        for sid, label, tip in items:
            self.source.addItem(label, sid)
            self.source.setItemData(self.source.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        idx = self.source.findData(cur)
        self.source.setCurrentIndex(max(0, idx))
        self.source.blockSignals(False)
        self.source.refresh_tip()

    def source_id(self) -> str:
        return self.source.currentData() or ""

    def select_source(self, sid: str) -> bool:
        idx = self.source.findData(sid)
        if idx >= 0:
            self.source.setCurrentIndex(idx)
            return True
        return False

    def set_busy(self, text: str) -> None:
        self.info.setText(text)

    def set_view(self, view: viz.ModelView | None, message: str = "") -> None:
        self._view = view
        prev = self.layer_path()
        self.layer.blockSignals(True)
        self.layer.clear()
        if view is not None:
            for r in view.kernel_layers:
                self.layer.addItem(f"{r.label}  {r.in_channels}->{r.out_channels} {r.kernel}", r.path)
            idx = self.layer.findData(prev)
            self.layer.setCurrentIndex(max(0, idx))
        self.layer.blockSignals(False)
        self.layer.refresh_tip()
        self.render(message)

    def set_scale(self, scale: str) -> None:
        self._scale = scale
        self.render()

    def select_layer(self, path: str) -> bool:
        idx = self.layer.findData(path)
        if idx >= 0 and idx != self.layer.currentIndex():
            self.layer.setCurrentIndex(idx)
        return idx >= 0

    def layer_path(self) -> str:
        return self.layer.currentData() or ""

    def mosaic(self) -> viz.Mosaic | None:
        return self._mosaic

    def view(self) -> viz.ModelView | None:
        return self._view

    # --- rendering ----------------------------------------------------------------------------------------
    def render(self, message: str = "") -> None:
        v, path = self._view, self.layer_path()
        if v is None or path not in v.kernels:
            self._mosaic = None
            self.image.clear()
            self.lo.setText("")
            self.hi.setText("")
            self.info.setText(message or ("This model has no conv kernels." if v is not None else " "))
            return
        # one scale per layer: the whole layer's max |w| (the snapshot keeps the first output channels only, and the
        # mosaic draws a part of those: the drawn part's max was 10 times too small on a 2048-channel layer)
        m = viz.kernel_mosaic(v.kernels[path], scale=self._scale, cmap=self._cmap, total_out=v.kernel_totals[path],
                              limit=v.layer_limit(path))
        self._mosaic = m
        set_item_image(self.image, m.rgb)
        self.vb.autoRange(padding=0.01)
        row = next(r for r in v.rows if r.path == path)
        what = "RGB filters" if m.colour else "kernels"
        lim = "per-kernel scale" if self._scale == "kernel" else f"|w| up to {m.limit:.3g}"
        note = v.kernel_notes.get(path)  # e.g. the patches encoder: its filters drawn as the patches they are
        shape = f"({note})" if note else row.kernel
        parts = [f"{v.title}: {row.label} - {m.total:,} {what} {shape}, {lim}"]
        if m.note:
            parts.append(f"showing {m.note}")
        if row.frozen and row.trainable == 0:
            parts.append("frozen")
        if message:
            parts.append(message)
        self.info.setText("; ".join(parts))
        self._set_bar(m.limit, m.colour)

    def _set_bar(self, limit: float | None = None, colour: bool = False) -> None:
        strip = viz.colour_bar("rgb" if colour else self._cmap, 10)
        h, w, _ = strip.shape
        img = QImage(strip.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.bar.setPixmap(QPixmap.fromImage(img).scaled(220, 10))
        if limit is not None:
            if self._scale == "kernel":
                self.lo.setText("-max")
                self.hi.setText("+max")
            else:
                self.lo.setText(f"{-limit:.2g}")
                self.hi.setText(f"+{limit:.2g}")

    def _on_mouse(self, evt) -> None:
        pos = evt[0]
        m, v = self._mosaic, self._view
        if m is None or v is None or not self.vb.sceneBoundingRect().contains(pos):
            self.hover.setText(" ")
            return
        p = self.vb.mapSceneToView(pos)
        self.hover.setText(self.describe_point(p.x(), p.y()) or " ")

    def describe_point(self, x: float, y: float) -> str:
        """What lies under mosaic pixel (x, y) (used by the mouse-over line)."""
        m, v, path = self._mosaic, self._view, self.layer_path()
        if m is None or v is None or path not in v.kernels:
            return ""
        w = v.kernels[path]
        hit = viz.kernel_at(m, x, y, w.shape[1])
        return viz.kernel_text(w, *hit) if hit else ""

    # --- user intent --------------------------------------------------------------------------------------
    @Slot(int)
    def _on_source(self, _index: int) -> None:
        self.source_changed.emit(self.source_id())

    @Slot(int)
    def _on_layer(self, _index: int) -> None:
        self.render()
        self.layer_changed.emit(self.layer_path())
