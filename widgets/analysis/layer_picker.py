"""A model chooser with its layer list: choosing a model builds it in a worker (``app.analysis.jobs.layers_job``)
and fills the layer combo (name and channel count); ``ready`` fires when the layers of the current model are known."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from app.analysis.jobs import layers_job
from widgets.analysis.common import ModelCombo
from widgets.common.worker import Worker, WorkerPool


class LayerPicker(QWidget):
    ready = Signal(object)  # app.analysis.jobs.LayerList
    failed = Signal(str)

    def __init__(self, session: Any, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.model = ModelCombo(session, "The model to look into")
        self.layer = QComboBox()
        self.layer.setToolTip("The layer (its channel count in brackets)")
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layers = None  # LayerList of the current model, once known
        self.worker: Worker | None = None
        self._pending_layer: int | None = None
        self.model.currentIndexChanged.connect(lambda _=0: self.load())
        self.hide()  # only its combos are laid out, by the panel

    def load(self, layer: int | None = None) -> None:
        spec = self.model.spec()
        self.layers = None
        self._pending_layer = layer
        self.layer.clear()
        if spec is None:
            return
        if self.worker is not None:
            self.worker.cancel()
        w = self.pool.start(lambda token, s=spec: layers_job(s, cancel=token), name="layers")
        self.worker = w
        w.on(finished=lambda r, w=w: self._on_layers(w, r), failed=lambda m, w=w: self._on_failed(w, m))

    def _on_layers(self, w: Worker, res: Any) -> None:
        if w is not self.worker:
            return
        self.worker = None
        self.layers = res
        self.layer.blockSignals(True)
        self.layer.clear()
        for name, ch in zip(res.names, res.channels):
            self.layer.addItem(f"{name} ({ch})")
        if self._pending_layer is not None and 0 <= self._pending_layer < len(res.names):
            self.layer.setCurrentIndex(self._pending_layer)
        self.layer.blockSignals(False)
        self.ready.emit(res)

    def _on_failed(self, w: Worker, message: str) -> None:
        if w is self.worker:
            self.worker = None
            self.failed.emit(message)

    def channels(self) -> int:
        i = self.layer.currentIndex()
        return self.layers.channels[i] if self.layers is not None and 0 <= i < len(self.layers.channels) else 0
