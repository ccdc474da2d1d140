"""The Models workspace's two kernel panels side by side (A and B: the builder's model or any reference / session
model, one layer each), the colour-scale choice, the layer link and the A-vs-B statistics line."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from app.models import viz
from widgets.models.kernel_view import KernelPanel


class KernelCompare(QWidget):
    changed = Signal()  # a choice worth remembering (layer, scale)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # --- kernel panels -----------------------------------------------------------------------------------
        self.panel_a = KernelPanel("A")
        self.panel_b = KernelPanel("B")
        self.scale = QComboBox()
        self.scale.addItem("one scale per layer", "layer")
        self.scale.addItem("each kernel to its own range", "kernel")
        self.scale.setToolTip("Colour scaling of the mosaics: one |w| limit per layer (compare magnitudes) or each "
                              "kernel stretched to its own range (compare shapes)")
        self.link = QCheckBox("same layer on both sides")
        self.link.setChecked(True)
        self.link.setToolTip("Choosing a layer on one side chooses the layer of the same name on the other")
        self.compare = QLabel(" ")
        self.compare.setStyleSheet("color: #444;")
        self.compare.setToolTip("Statistics of the two shown layers (correlation when shapes match)")
        ctl = QHBoxLayout()
        ctl.addWidget(QLabel("<b>Kernels</b>"))
        ctl.addWidget(self.scale)
        ctl.addWidget(self.link)
        ctl.addStretch(1)
        ctl.addWidget(self.compare)
        panels = QSplitter(Qt.Orientation.Horizontal)
        panels.addWidget(self.panel_a)
        panels.addWidget(self.panel_b)
        kl = QVBoxLayout(self)
        kl.setContentsMargins(0, 0, 0, 0)
        kl.addLayout(ctl)
        kl.addWidget(panels, 1)

        self.panel_a.layer_changed.connect(self._on_panel_layer)
        self.panel_b.layer_changed.connect(self._on_panel_layer)
        self.scale.currentIndexChanged.connect(self._on_scale)

    def panels(self) -> tuple[KernelPanel, KernelPanel]:
        return self.panel_a, self.panel_b

    def sync_layer(self, panel: KernelPanel) -> None:
        other = self.panel_b if panel is self.panel_a else self.panel_a
        if self.link.isChecked() and other.layer_path():
            panel.select_layer(other.layer_path())

    @Slot(str)
    def _on_panel_layer(self, path: str) -> None:
        panel = self.sender()
        other = self.panel_b if panel is self.panel_a else self.panel_a
        if self.link.isChecked() and path:
            other.blockSignals(True)
            other.select_layer(path)
            other.blockSignals(False)
        self.update_compare()
        self.changed.emit()

    @Slot(int)
    def _on_scale(self, _i: int) -> None:
        for p in (self.panel_a, self.panel_b):
            p.set_scale(self.scale.currentData())
        self.changed.emit()

    def update_compare(self) -> None:
        va, vb = self.panel_a.view(), self.panel_b.view()
        pa, pb = self.panel_a.layer_path(), self.panel_b.layer_path()
        if va is None or vb is None or pa not in va.kernels or pb not in vb.kernels:
            self.compare.setText(" ")
            return
        self.compare.setText("A vs B: " + viz.compare_text(va.kernels[pa], vb.kernels[pb]))
