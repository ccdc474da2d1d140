"""Top-activating patches: for a model, a layer and a channel, the dataset crops (receptive fields) that excite the
channel most, with their activation and label (``app.analysis.jobs.patches_job``, in a worker, cached per choice).
``show_patches(spec, layer, channel)`` lets other workspaces open it on a unit (a map in Live, a kernel in Models)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from app.analysis.jobs import patches_job
from widgets.analysis.cka_panel import dataset_combo
from widgets.analysis.common import DEFAULT_TRAINED, TaskBar
from widgets.analysis.layer_picker import LayerPicker
from widgets.common.image_view import ImageView
from widgets.common.labels_item import LabelsItem
from widgets.common.worker import WorkerPool


class PatchesPanel(QWidget):
    def __init__(self, session: Any, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view_data = None
        self._cache: dict[tuple, Any] = {}
        self._run_when_ready = False
        self.picker = LayerPicker(session, pool, self)
        self.channel = QSpinBox()
        self.channel.setRange(0, 0)
        self.channel.setToolTip(channel_tip(None, 0))
        self.dataset = dataset_combo()
        self.n = QSpinBox()
        self.n.setRange(10, 20000)
        self.n.setValue(500)
        self.n.setToolTip("Test images scanned (a seeded subset; all of them where the test split holds fewer, which "
                          "the line under Find top patches then says)")
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(16)
        self.k.setToolTip("How many patches")
        row = QHBoxLayout()
        # "channel index": counted from 0, as the layer's tensors are; Live counts its channels from 1 and gives the
        # indices beside ("channels 1–16 (indices 0–15)"): the same word for the same number in both
        for text, w in (("Model", self.picker.model), ("layer", self.picker.layer), ("channel index", self.channel),
                        ("on", self.dataset), ("images", self.n), ("top", self.k)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addStretch(1)
        self.bar = TaskBar(pool, "Find top patches")
        self.bar.run_btn.setToolTip("Scan the images for the crops that excite this channel most (Ctrl+Return)")
        self.bar.run_clicked.connect(self.compute)
        self.title = QLabel("Choose a layer and a channel and press Find top patches.")
        self.title.setWordWrap(True)
        self.view = ImageView(zoomable=True, tooltip="The crops that excite the channel most, strongest first "
                                                     "(caption: activation · label); wheel zooms")
        self.captions = LabelsItem(QFont("Sans", 8), anchor=(0.5, 0.0))  # "activation · label" under each crop
        self.view.vb.addItem(self.captions, ignoreBounds=True)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.title)
        lay.addWidget(self.view, 1)
        self.picker.ready.connect(self._on_layers)
        self.picker.failed.connect(lambda m: self.title.setText(f"Cannot build the model: {m}"))
        self.picker.layer.currentIndexChanged.connect(lambda _=0: self._sync_channels())
        # first a trained model's first layer: its channels have graded responses (a random rdsn's sign stem, the
        # first entry, gives every positive response the value 1: a tie, not a ranking)
        self.picker.model.blockSignals(True)
        self.picker.model.select(DEFAULT_TRAINED)
        self.picker.model.blockSignals(False)
        self.picker.load()

    def _sync_channels(self) -> None:
        self.channel.setRange(0, max(0, self.picker.channels() - 1))
        self.channel.setToolTip(channel_tip(self.picker.layer.currentText().split(" (")[0] or None,
                                            self.picker.channels()))

    def _on_layers(self, _layers: Any) -> None:
        self._sync_channels()
        if self._run_when_ready:
            self._run_when_ready = False
            self.compute()

    def show_patches(self, spec: Any, layer: int, channel: int) -> None:
        """Open the panel on ``channel`` of ``layer`` (a feature_info index) of ``spec`` and compute its patches."""
        label = spec.label or spec.backbone
        if not self.picker.model.select(label):
            self.picker.model.blockSignals(True)
            self.picker.model.addItem(label, spec)
            self.picker.model.setCurrentIndex(self.picker.model.count() - 1)
            self.picker.model.blockSignals(False)
        self._want_channel = channel
        self._run_when_ready = True
        self.picker.load(layer)
        self.channel.setRange(0, max(0, channel))
        self.channel.setValue(channel)

    def compute(self) -> None:
        spec = self.picker.model.spec()
        layer = self.picker.layer.currentIndex()
        if spec is None or layer < 0:
            self._run_when_ready = True  # the layers are still being read
            return
        want = getattr(self, "_want_channel", None)
        if want is not None:
            self._want_channel = None
            self.channel.setValue(want)
        ch, ds, n, k = self.channel.value(), self.dataset.currentText(), self.n.value(), self.k.value()
        key = (spec.key(), layer, ch, ds, n, k)
        if key in self._cache:
            self.show_result(self._cache[key])
            return
        self.bar.run(lambda token: patches_job(spec, layer, ch, ds, n, k, cancel=token),
                     lambda r, key=key: self._done(key, r), name="top-patches")

    def _done(self, key: tuple, result: Any) -> None:
        self._cache[key] = result
        self.show_result(result)

    def show_result(self, v: Any) -> None:
        self.view_data = v
        self.title.setText(v.title)
        self.view.set_image(v.image)
        self.captions.set_labels([(x + w / 2, y + h, cap, (30, 30, 30))
                                  for (x, y, w, h), cap in zip(v.cells, v.captions)],
                                 QRectF(0, 0, v.image.shape[1], v.image.shape[0]))


def channel_tip(layer: str | None, channels: int) -> str:
    """The channel spin box's tool tip: the index counted from 0, its range in the layer, and Live's number for it."""
    where = (f"{layer or 'the layer'}, counted from 0: 0–{channels - 1} ({channels} channels)" if channels > 0 else
             "the layer, counted from 0 (its range shows once the model's layers are read)")
    return (f"The channel's index in {where}. Live numbers channels from 1 with the index beside (\"channels 1–16 "
            f"(indices 0–15)\"): index N is Live's channel N+1.")

