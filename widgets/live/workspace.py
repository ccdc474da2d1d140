"""The Live workspace: a camera (or a video, images, dataset samples, a synthetic scene) and, side by side, what
several networks see, layer by layer, in real time.

The widgets here only render and forward intent: every frame is processed by ``app.live.pipeline`` on a worker
thread owned by ``LiveRunner``; what arrives is a frozen ``LiveFrame`` holding one uint8 RGB mosaic per pane, shown
by one pyqtgraph ``ImageItem`` per pane (the fast path: row-major, uint8, fixed levels).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.imaging import colormaps
from app.live import mosaic as mz
from app.live.pipeline import (
    LiveConfig,
    LiveFrame,
    LiveStatus,
    PaneConfig,
    PaneResult,
    default_pane_specs,
    model_choices,
)
from app.live.sources import SourceConfig
from app.models.spec import ModelSpec
from app.session import Session
from widgets.live.runner import LiveRunner

SOURCES = [
    ("synthetic", "Synthetic scene", "A moving scene built in: needs no camera and no files"),
    ("camera", "Webcam", "A camera by index (opened on the worker thread; a missing or busy camera is reported)"),
    ("video", "Video file…", "A video file, looped"),
    ("image", "Image / folder…", "One image, or every image in a folder, in turn"),
    ("dataset", "Dataset samples", "Test images of a dataset, one after another"),
]
RESOLUTIONS = ["320x240", "640x480", "1280x720", "1920x1080"]
PROC_SIZES = ["60x80", "90x120", "120x160", "180x240", "240x320", "360x480", "480x640", "720x1280"]
DATASETS = ["digits", "mnist", "fashion-mnist", "cifar10"]
PER_PAGE = 16
MAX_PANES = 4


def _to_hw(text: str, wh: bool = False) -> tuple[int, int]:
    a, b = (int(v) for v in text.lower().split("x"))
    return (b, a) if wh else (a, b)


class _ImageView(pg.GraphicsLayoutWidget):
    """One ViewBox (locked aspect, no axes) with one ImageItem; emits the image pixel that was clicked."""

    clicked = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self._shape: tuple[int, ...] | None = None
        self.scene().sigMouseClicked.connect(self._on_click)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def show_image(self, img: np.ndarray) -> None:
        self.image.setImage(img, autoLevels=False, levels=(0, 255))
        if img.shape != self._shape:
            self._shape = img.shape
            self.view.autoRange(padding=0.01)

    def clear_image(self) -> None:
        self.image.clear()
        self._shape = None

    @Slot(object)
    def _on_click(self, ev) -> None:
        if self.image.image is None:
            return
        p = self.image.mapFromScene(ev.scenePos())
        h, w = self.image.image.shape[:2]
        if 0 <= p.x() < w and 0 <= p.y() < h:
            self.clicked.emit(float(p.x()), float(p.y()))


class _ColorBar(QWidget):
    """A vertical colour bar with the value range of the enlarged map."""

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
        self._cmap = ""
        self.setToolTip("Colour bar of the enlarged map: its lowest and highest value")

    def set_range(self, cmap: str, lo: float, hi: float) -> None:
        if cmap != self._cmap:
            self._cmap = cmap
            img = colormaps.colorbar(cmap, 200, 14)
            q = QImage(img.data, img.shape[1], img.shape[0], img.strides[0], QImage.Format.Format_RGB888).copy()
            self.bar.setPixmap(QPixmap.fromImage(q))
        self.hi.setText(f"{hi:.3g}")
        self.lo.setText(f"{lo:.3g}")


class PaneWidget(QFrame):
    """One model: model and layer choosers, channel paging, the mosaic, a timing line."""

    changed = Signal()
    removeRequested = Signal(object)

    def __init__(self, choices: list[ModelSpec], spec: ModelSpec, layer: int | None = None, page: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.spec = spec
        self.layer: int | None = layer
        self.page = page
        self.focus: int | None = None
        self._layers: tuple = ()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(3)

        top = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("The network this pane shows (random, hand-designed or trained)")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(14)
        self.remove_btn = QToolButton()
        self.remove_btn.setText("✕")
        self.remove_btn.setToolTip("Remove this pane")
        self.remove_btn.clicked.connect(lambda: self.removeRequested.emit(self))
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.remove_btn)
        lay.addLayout(top)

        row = QHBoxLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("The layer whose feature maps are shown (deeper layers cost more time)")
        self.layer_combo.addItem("(loading…)")
        self.page_spin = QSpinBox()
        self.page_spin.setRange(1, 1)
        self.page_spin.setPrefix("page ")
        self.page_spin.setToolTip(f"Channel page: {PER_PAGE} maps at a time (PgUp/PgDn on the spin box)")
        self.page_label = QLabel("")
        self.page_label.setStyleSheet("color: #555;")
        row.addWidget(self.layer_combo, 1)
        row.addWidget(self.page_spin)
        lay.addLayout(row)
        lay.addWidget(self.page_label)

        mid = QHBoxLayout()
        mid.setSpacing(2)
        self.view = _ImageView()
        self.view.setToolTip("Click a map to enlarge it with a colour bar; click again (or Esc) to go back")
        self.colorbar = _ColorBar()
        self.colorbar.setVisible(False)
        mid.addWidget(self.view, 1)
        mid.addWidget(self.colorbar)
        lay.addLayout(mid, 1)
        self.info = QLabel("waiting for the first frame…")
        self.info.setStyleSheet("color: #333;")
        lay.addWidget(self.info)

        self.set_choices(choices)
        self.model_combo.currentIndexChanged.connect(self._on_model)
        self.layer_combo.currentIndexChanged.connect(self._on_layer)
        self.page_spin.valueChanged.connect(self._on_page)
        self.view.clicked.connect(self._on_click)

    # --- state -> widgets ---
    def set_choices(self, choices: list[ModelSpec]) -> None:
        self._choices = list(choices)
        labels = [s.label for s in self._choices]
        if self.spec.label not in labels:
            self._choices.insert(0, self.spec)
            labels.insert(0, self.spec.label)
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for s in self._choices:
            self.model_combo.addItem(s.label)
            self.model_combo.setItemData(self.model_combo.count() - 1, f"{s.backbone} · {s.weight_state}",
                                         Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(labels.index(self.spec.label))
        self.model_combo.blockSignals(False)

    def config(self) -> PaneConfig:
        return PaneConfig(self.spec, self.layer, self.page, PER_PAGE, self.focus)

    def show_result(self, r: PaneResult, cmap: str) -> None:
        if r.layers and r.layers != self._layers:
            self._layers = r.layers
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            for name, c, s in r.layers:
                self.layer_combo.addItem(f"{name}  ({c} ch, stride {s})")
            self.layer_combo.setCurrentIndex(r.layer)
            self.layer_combo.blockSignals(False)
        elif r.layers and self.layer_combo.currentIndex() != r.layer and self.layer is None:
            self.layer_combo.blockSignals(True)
            self.layer_combo.setCurrentIndex(r.layer)
            self.layer_combo.blockSignals(False)
        if r.error:
            self.view.clear_image()
            self.info.setText(r.error)
            self.info.setStyleSheet("color: #b00020;")
            self.info.setToolTip(r.error)
            return
        self.info.setStyleSheet("color: #333;")
        self.info.setToolTip("")
        pages = max(1, -(-r.channels // PER_PAGE))
        self.page_spin.blockSignals(True)
        self.page_spin.setRange(1, pages)
        self.page_spin.setValue(r.first // PER_PAGE + 1)
        self.page_spin.setSuffix(f" / {pages}")
        self.page_spin.blockSignals(False)
        if r.focus is not None:
            self.page_label.setText(f"channel {r.focus + 1} of {r.channels} (enlarged) — click or Esc: all")
            self.colorbar.setVisible(True)
            self.colorbar.set_range(cmap, r.lo, r.hi)
        else:
            self.page_label.setText(f"channels {r.first + 1}–{r.first + r.count} of {r.channels}, "
                                    f"{r.map_size[0]}×{r.map_size[1]} each")
            self.colorbar.setVisible(False)
        self._last = r
        self.view.show_image(r.mosaic)

    def show_timing(self, fps: float, ms: float) -> None:
        if self.info.styleSheet().endswith("#333;"):
            self.info.setText(f"{fps:4.1f} FPS · {ms:5.1f} ms this pane")

    # --- intent ---
    @Slot(int)
    def _on_model(self, i: int) -> None:
        if 0 <= i < len(self._choices):
            self.spec = self._choices[i]
            self.layer, self.page, self.focus = None, 0, None
            self._layers = ()
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItem("(loading…)")
            self.layer_combo.blockSignals(False)
            self.changed.emit()

    @Slot(int)
    def _on_layer(self, i: int) -> None:
        if i >= 0 and self._layers:
            self.layer, self.page, self.focus = i, 0, None
            self.changed.emit()

    @Slot(int)
    def _on_page(self, v: int) -> None:
        self.page, self.focus = v - 1, None
        self.changed.emit()

    @Slot(float, float)
    def _on_click(self, x: float, y: float) -> None:
        r = getattr(self, "_last", None)
        if r is None:
            return
        if self.focus is not None:
            self.focus = None
        else:
            ch = r.channel_at(x, y)
            if ch is None:
                return
            self.focus = ch
        self.changed.emit()

    def unfocus(self) -> bool:
        if self.focus is None:
            return False
        self.focus = None
        self.changed.emit()
        return True


class LiveWorkspace(QWidget):
    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.runner = LiveRunner(self)
        self.runner.frameReady.connect(self._on_frame)
        self.runner.statusChanged.connect(self._on_status)
        self._active = False
        self._paused = False
        self._recording: Path | None = None
        self._last: LiveFrame | None = None
        self._frames_shown = 0
        self._source_ok = True
        self._choices = model_choices(session.models)

        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 4)
        root.setSpacing(4)
        root.addLayout(self._build_toolbar())

        self.panes_row = QHBoxLayout()
        self.panes_row.setSpacing(6)
        # the input frame, as its own (narrower) pane
        inp = QFrame()
        inp.setFrameShape(QFrame.Shape.StyledPanel)
        il = QVBoxLayout(inp)
        il.setContentsMargins(4, 4, 4, 4)
        t = QLabel("<b>Input</b>")
        il.addWidget(t)
        self.source_label = QLabel("")
        self.source_label.setWordWrap(True)
        self.source_label.setStyleSheet("color: #555;")
        il.addWidget(self.source_label)
        self.input_view = _ImageView()
        self.input_view.setToolTip("The frame the models see (resized to the model input size)")
        il.addWidget(self.input_view, 1)
        self.input_info = QLabel("")
        il.addWidget(self.input_info)
        self.input_pane = inp
        self.panes_row.addWidget(inp, 2)
        root.addLayout(self.panes_row, 1)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        root.addWidget(self.status)

        self.panes: list[PaneWidget] = []
        self._restore()
        self._unsubscribe = session.subscribe(self._on_session)
        self._config_timer = QTimer(self)  # coalesce bursts of changes (typing in a spin box) into one config
        self._config_timer.setSingleShot(True)
        self._config_timer.setInterval(30)
        self._config_timer.timeout.connect(self._push_config)
        self._make_shortcuts()

    # --- construction ---
    def _build_toolbar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.source_combo = QComboBox()
        for key, text, tip in SOURCES:
            self.source_combo.addItem(text, key)
            self.source_combo.setItemData(self.source_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.source_combo.setToolTip("Where frames come from")
        self.camera_spin = QSpinBox()
        self.camera_spin.setRange(0, 99)
        self.camera_spin.setPrefix("camera ")
        self.camera_spin.setToolTip("Camera index (0 is usually the built-in webcam)")
        self.res_combo = QComboBox()
        self.res_combo.addItems(RESOLUTIONS)
        self.res_combo.setToolTip("Camera resolution asked for (the camera may pick the nearest it supports); "
                                  "also the size of the synthetic scene")
        self.dataset_combo = QComboBox()
        self.dataset_combo.addItems(DATASETS)
        self.dataset_combo.setToolTip("Dataset whose test images are shown")
        self.open_btn = QPushButton("Open…")
        self.open_btn.setToolTip("Choose the video file, image or folder")
        self.path_label = QLabel("")
        self.path_label.setStyleSheet("color: #555;")
        self.path_label.setMaximumWidth(220)

        self.play_btn = QPushButton("Pause")
        self.play_btn.setToolTip("Play / pause (Space). Play also retries a source that failed")
        self.step_btn = QPushButton("Step")
        self.step_btn.setToolTip("One frame forward while paused (Right arrow or S)")
        self.snap_btn = QPushButton("Snapshot")
        self.snap_btn.setToolTip("Save the input and every pane as one PNG (Ctrl+Shift+S)")
        self.rec_btn = QPushButton("Record")
        self.rec_btn.setCheckable(True)
        self.rec_btn.setToolTip("Record the input and every pane to a video file (Ctrl+Shift+R)")
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(colormaps.NAMES))
        self.cmap_combo.setToolTip("Colour map of the feature maps (diverging maps put zero at the centre)")
        self.size_combo = QComboBox()
        self.size_combo.addItems(PROC_SIZES)
        self.size_combo.setToolTip("Input size the models see (H×W): smaller is faster")
        self.add_btn = QPushButton("Add pane")
        self.add_btn.setToolTip(f"Show another model side by side (up to {MAX_PANES})")

        for w in (QLabel("Source"), self.source_combo, self.camera_spin, self.res_combo, self.dataset_combo,
                  self.open_btn, self.path_label):
            bar.addWidget(w)
        bar.addSpacing(10)
        for w in (self.play_btn, self.step_btn, self.snap_btn, self.rec_btn):
            bar.addWidget(w)
        bar.addSpacing(10)
        bar.addWidget(QLabel("Colours"))
        bar.addWidget(self.cmap_combo)
        bar.addWidget(QLabel("Model input"))
        bar.addWidget(self.size_combo)
        bar.addStretch(1)
        bar.addWidget(self.add_btn)

        self.source_combo.currentIndexChanged.connect(self._on_source_kind)
        self.camera_spin.valueChanged.connect(self._on_source_changed)
        self.res_combo.currentIndexChanged.connect(self._on_source_changed)
        self.dataset_combo.currentIndexChanged.connect(self._on_source_changed)
        self.open_btn.clicked.connect(self._choose_path)
        self.play_btn.clicked.connect(self.toggle_play)
        self.step_btn.clicked.connect(self.step)
        self.snap_btn.clicked.connect(self.snapshot)
        self.rec_btn.toggled.connect(self._on_record)
        self.cmap_combo.currentIndexChanged.connect(self._schedule)
        self.size_combo.currentIndexChanged.connect(self._schedule)
        self.add_btn.clicked.connect(lambda: self.add_pane())
        return bar

    def _make_shortcuts(self) -> None:
        def act(keys, fn, text):
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.triggered.connect(fn)
            self.addAction(a)
            return a

        act(["Space"], self.toggle_play, "Play / pause")
        act(["Right", "S"], self.step, "Step one frame")
        act(["Ctrl+Shift+S"], self.snapshot, "Snapshot")
        act(["Ctrl+Shift+R"], self.rec_btn.toggle, "Record")
        act(["Escape"], self._unfocus_all, "Back from an enlarged map")

    def shortcuts(self) -> list[str]:
        return ["Space: play / pause", "Right or S: one frame forward (paused)", "Ctrl+Shift+S: snapshot PNG",
                "Ctrl+Shift+R: start / stop recording", "Click a map: enlarge it with a colour bar; Esc: back"]

    # --- settings ---
    def _restore(self) -> None:
        s = self.settings
        kind = str(s.value("live/source", "synthetic"))
        self._paths = {"video": str(s.value("live/video_path", "")), "image": str(s.value("live/image_path", ""))}
        widgets = (self.source_combo, self.camera_spin, self.res_combo, self.dataset_combo, self.cmap_combo,
                   self.size_combo)
        for w in widgets:
            w.blockSignals(True)
        idx = self.source_combo.findData(kind)
        self.source_combo.setCurrentIndex(max(0, idx))
        self.camera_spin.setValue(int(s.value("live/camera", 0)))
        self.res_combo.setCurrentText(str(s.value("live/resolution", "640x480")))
        self.dataset_combo.setCurrentText(str(s.value("live/dataset", "digits")))
        self.cmap_combo.setCurrentText(str(s.value("live/colormap", "viridis")))
        self.size_combo.setCurrentText(str(s.value("live/size", "180x240")))
        for w in widgets:
            w.blockSignals(False)
        self._update_source_widgets()
        panes = []
        try:
            panes = json.loads(str(s.value("live/panes", "[]")))
        except ValueError:
            panes = []
        by_label = {c.label: c for c in self._choices}
        restored = [(by_label[p["label"]], p.get("layer"), int(p.get("page", 0)))
                    for p in panes if isinstance(p, dict) and p.get("label") in by_label]
        if not restored:
            restored = [(sp, None, 0) for sp in default_pane_specs(self._choices)]
        for spec, layer, page in restored[:MAX_PANES]:
            self.add_pane(spec, layer, page, push=False)

    def _save(self) -> None:
        s = self.settings
        s.setValue("live/source", self.source_combo.currentData())
        s.setValue("live/video_path", self._paths.get("video", ""))
        s.setValue("live/image_path", self._paths.get("image", ""))
        s.setValue("live/camera", self.camera_spin.value())
        s.setValue("live/resolution", self.res_combo.currentText())
        s.setValue("live/dataset", self.dataset_combo.currentText())
        s.setValue("live/colormap", self.cmap_combo.currentText())
        s.setValue("live/size", self.size_combo.currentText())
        s.setValue("live/panes", json.dumps([{"label": p.spec.label, "layer": p.layer, "page": p.page}
                                             for p in self.panes]))

    # --- panes ---
    def add_pane(self, spec: ModelSpec | None = None, layer: int | None = None, page: int = 0,
                 push: bool = True) -> PaneWidget | None:
        if len(self.panes) >= MAX_PANES:
            self._show_status(f"At most {MAX_PANES} panes (each costs a forward pass per frame)", "warning")
            return None
        if spec is None:
            used = {p.spec.label for p in self.panes}
            spec = next((c for c in self._choices if c.label not in used), self._choices[0])
        pane = PaneWidget(self._choices, spec, layer, page)
        pane.changed.connect(self._schedule)
        pane.removeRequested.connect(self.remove_pane)
        self.panes.append(pane)
        self.panes_row.addWidget(pane, 3)
        self._update_pane_buttons()
        if push:
            self._schedule()
        return pane

    @Slot(object)
    def remove_pane(self, pane: PaneWidget) -> None:
        if pane not in self.panes or len(self.panes) <= 1:
            return
        self.panes.remove(pane)
        self.panes_row.removeWidget(pane)
        pane.deleteLater()
        self._update_pane_buttons()
        self._schedule()

    def _update_pane_buttons(self) -> None:
        for p in self.panes:
            p.remove_btn.setEnabled(len(self.panes) > 1)
        self.add_btn.setEnabled(len(self.panes) < MAX_PANES)

    def _on_session(self, kind: str, name: str) -> None:
        if kind != "models":
            return
        self._choices = model_choices(self.session.models)
        for p in self.panes:
            p.set_choices(self._choices)

    @Slot()
    def _unfocus_all(self) -> None:
        for p in self.panes:
            p.unfocus()

    # --- source ---
    def _update_source_widgets(self) -> None:
        kind = self.source_combo.currentData()
        self.camera_spin.setVisible(kind == "camera")
        self.res_combo.setVisible(kind in ("camera", "synthetic"))
        self.dataset_combo.setVisible(kind == "dataset")
        self.open_btn.setVisible(kind in ("video", "image"))
        path = self._paths.get(kind, "") if kind in ("video", "image") else ""
        self.path_label.setVisible(bool(path))
        self.path_label.setText(Path(path).name if path else "")
        self.path_label.setToolTip(path)

    def source_config(self) -> SourceConfig:
        kind = self.source_combo.currentData() or "synthetic"
        w, h = _to_hw(self.res_combo.currentText())
        return SourceConfig(kind=kind, path=self._paths.get(kind, "") if kind in ("video", "image") else "",
                            camera=self.camera_spin.value(), width=w, height=h,
                            dataset=self.dataset_combo.currentText(), fps=0.0 if kind != "video" else -1.0)

    @Slot(int)
    def _on_source_kind(self, _i: int) -> None:
        self._update_source_widgets()
        kind = self.source_combo.currentData()
        if kind in ("video", "image") and not self._paths.get(kind):
            self._choose_path()
            return
        self._on_source_changed()

    @Slot()
    def _on_source_changed(self, *_a) -> None:
        self._source_ok = True
        self._schedule()

    @Slot()
    def _choose_path(self) -> None:
        kind = self.source_combo.currentData()
        start = self._paths.get(kind) or str(Path.home())
        if kind == "video":
            path, _ = QFileDialog.getOpenFileName(self, "Open a video", start,
                                                  "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)")
        elif kind == "image":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder of images (Cancel: pick one file)", start)
            if not path:
                path, _ = QFileDialog.getOpenFileName(self, "Open an image", start,
                                                      "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp)")
        else:
            return
        if path:
            self.set_source(kind, path)

    def set_source(self, kind: str, path: str = "", camera: int | None = None) -> None:
        """Choose a source programmatically (tests, command line)."""
        if path:
            self._paths[kind] = str(path)
        if camera is not None:
            self.camera_spin.blockSignals(True)
            self.camera_spin.setValue(camera)
            self.camera_spin.blockSignals(False)
        self.source_combo.blockSignals(True)
        self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(kind)))
        self.source_combo.blockSignals(False)
        self._update_source_widgets()
        self._source_ok = True
        if self.runner.loop is not None:
            self.runner.retry()
        self._schedule()

    # --- config to the worker ---
    def config(self) -> LiveConfig:
        return LiveConfig(source=self.source_config(), panes=tuple(p.config() for p in self.panes),
                          colormap=self.cmap_combo.currentText(), size=_to_hw(self.size_combo.currentText()),
                          paused=self._paused, aspect=self._pane_aspect())

    def resizeEvent(self, ev) -> None:  # noqa: N802 - the mosaics follow the panes' shape
        super().resizeEvent(ev)
        if self.panes:
            self._schedule()

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        self._schedule()

    def _pane_aspect(self) -> float:
        if not self.panes:
            return 1.0
        v = self.panes[0].view
        w, h = max(1, v.width()), max(1, v.height())
        return max(0.4, min(2.5, w / h))

    @Slot()
    def _schedule(self, *_a) -> None:
        self._config_timer.start()

    @Slot()
    def _push_config(self) -> None:
        self._save()
        if self._active:
            if self.runner.is_running():
                self.runner.set_config(self.config())
            else:
                self.runner.start(self.config())

    # --- activation / shutdown ---
    def set_active(self, active: bool) -> None:
        if active == self._active:
            return
        self._active = active
        if active:
            self.runner.start(self.config())
        else:
            if self.rec_btn.isChecked():
                self.rec_btn.setChecked(False)
            self.runner.stop(wait=False)  # releases the camera in the worker; nothing blocks the GUI

    def shutdown(self) -> None:
        """Stop the worker and release the camera/video (called by the main window on close)."""
        self._config_timer.stop()
        self._active = False
        self._unsubscribe()
        self._save()
        self.runner.stop(wait=True)

    def wait_ready(self, ms: int) -> bool:
        """Process events until every pane shows a mosaic (the first call waits up to 60 s for the first one:
        building the models and the first forward pass take a moment). True when ready."""
        if not self._active:
            self.set_active(True)
        first = self._frames_shown < 3
        limit = max(ms, 60000) if first else ms
        t = QElapsedTimer()
        t.start()
        app = QApplication.instance()
        while t.elapsed() < limit:
            # the first call waits for a few frames so the FPS/latency figures are real ones
            if self.is_ready() and (not first or self._frames_shown >= 3):
                return True
            app.processEvents()
            time.sleep(0.005)
        return self.is_ready()

    def is_ready(self) -> bool:
        lf = self._last
        return lf is not None and len(lf.panes) == len(self.panes) and all(
            p.mosaic is not None or p.error for p in lf.panes)

    # --- frames and status from the worker ---
    @Slot(object)
    def _on_frame(self, lf: LiveFrame) -> None:
        if not self._active:
            return
        self._last = lf
        self._frames_shown += 1
        self.input_view.show_image(lf.frame)
        self.source_label.setText(lf.source)
        h, w = lf.frame.shape[:2]
        self.input_info.setText(f"{lf.fps:4.1f} FPS · latency {lf.latency_ms:4.0f} ms · {w}×{h}")
        self.input_info.setToolTip(f"source read {lf.read_ms:.1f} ms; frame #{lf.index}")
        for pane, r in zip(self.panes, lf.panes):
            if r.label != pane.spec.label:
                continue  # a frame computed before the user changed this pane's model
            pane.show_result(r, lf.colormap)
            pane.show_timing(lf.fps, r.ms)
        if self._source_ok and not self.status.text().startswith("Recording"):
            self._show_status(f"{lf.source} · {lf.fps:.1f} FPS · latency {lf.latency_ms:.0f} ms"
                              + (" · paused" if self._paused else ""), "info")

    @Slot(object)
    def _on_status(self, st: LiveStatus) -> None:
        if st.level == "error":
            self._source_ok = False
        elif st.message.startswith("Showing"):
            self._source_ok = True
        self._show_status(st.message, st.level)

    def _show_status(self, text: str, level: str = "info") -> None:
        colour = {"error": "#b00020", "warning": "#a15c00"}.get(level, "#222")
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)
        self.status_level = level

    # --- actions ---
    @Slot()
    def toggle_play(self) -> None:
        self._paused = not self._paused
        self.play_btn.setText("Play" if self._paused else "Pause")
        if not self._paused and not self._source_ok:
            self._source_ok = True
            self.runner.retry()
        self._schedule()

    @Slot()
    def step(self) -> None:
        if not self._paused:
            self.toggle_play()
        self._push_config()
        self.runner.step()

    @Slot()
    def snapshot(self) -> Path | None:
        if self._last is None:
            self._show_status("Nothing to save yet: no frame has been shown", "warning")
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = paths.user_files() / "snapshots" / f"live-{stamp}-{self._last.index}.png"
        try:
            saved = mz.save_png(path, self._last.composite(480))
        except OSError as exc:
            self._show_status(f"Snapshot failed: {exc}", "error")
            return None
        self._show_status(f"Snapshot saved: {saved}", "info")
        return saved

    @Slot(bool)
    def _on_record(self, on: bool) -> None:
        if on:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            self._recording = paths.user_files() / "recordings" / f"live-{stamp}.avi"
            fps = self._last.fps if self._last is not None and self._last.fps > 1 else 15.0
            self.runner.start_recording(str(self._recording), round(fps, 1))
            self.rec_btn.setText("Stop rec")
        else:
            self.runner.stop_recording()
            self.rec_btn.setText("Record")


if __name__ == "__main__":  # a quick look at the workspace alone
    import sys

    import torch  # noqa: F401

    from widgets.application import make_app
    from widgets.main_window import settings as _settings

    app = make_app()
    w = LiveWorkspace(Session(), _settings())
    w.resize(1400, 800)
    w.show()
    w.set_active(True)
    code = app.exec()
    w.shutdown()
    sys.exit(code)
