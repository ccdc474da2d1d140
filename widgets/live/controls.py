"""The Live toolbar: the source (kind, camera, resolution, dataset, file), play/step/snapshot/record, colours,
contrast, model input size, precision and "Add pane". It holds widgets and their state; the workspace wires the
actions.

Every size is written H x W (rows x columns), as everywhere in the app."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QWidget

from app.imaging import colormaps
from app.live.sources import SourceConfig
from widgets.common.flow import FlowLayout, flow_group
from widgets.common.settings import read_int

SOURCES = [
    ("synthetic", "Synthetic scene", "A moving scene built in: needs no camera and no files"),
    ("camera", "Webcam", "A camera by index (opened on the worker thread; a missing or busy camera is reported)"),
    ("video", "Video file…", "A video file, looped"),
    ("image", "Image / folder…", "One image, or every image in a folder, in turn (unreadable files are skipped)"),
    ("dataset", "Dataset samples", "Test images of a dataset, one after another, with their labels"),
]
RESOLUTIONS = ["240x320", "480x640", "720x1280", "1080x1920"]  # H x W
PROC_SIZES = ["60x80", "90x120", "120x160", "180x240", "240x320", "360x480", "480x640", "720x1280"]
DATASETS = ["digits", "mnist", "fashion-mnist", "cifar10"]
CONTRASTS = [("map", "per map"), ("shared", "shared")]
PRECISIONS = [("auto", "auto"), ("full", "float32"), ("fast", "fast (16-bit)")]  # app.live.config.PRECISIONS
PRECISION_TIP = ("The arithmetic of the models' forward pass. auto: float16 on a GPU, float32 on the CPU. float32: "
                 "full precision everywhere. fast: float16 on a GPU, bfloat16 on a CPU that computes it natively "
                 "(AVX-512 BF16 or AMX: 1.3-1.6x the frames on a recent Xeon), float32 on other CPUs. A 16-bit "
                 "forward's early layers look the same as float32's; deeper layers, random networks' most, can differ "
                 "visibly, and the statistics strip then says '· bfloat16 maps'. Each pane's time tooltip says "
                 "what it ran in")


def to_hw(text: str) -> tuple[int, int]:
    a, b = (int(v) for v in text.lower().replace("×", "x").split("x"))
    return a, b


class LiveControls(QWidget):
    def __init__(self, max_panes: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = FlowLayout(self, spacing=10)  # its groups take two rows on a narrow window instead of widening it
        self.paths: dict[str, str] = {"video": "", "image": ""}
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
        self.res_combo.setToolTip("Camera resolution asked for, HxW (the camera may pick the nearest it supports); "
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
        self.contrast_combo = QComboBox()
        for key, text in CONTRASTS:
            self.contrast_combo.addItem(text, key)
        self.contrast_combo.setToolTip("Per map: each map uses its own range (shapes). Shared: one range for every "
                                       "map of every pane (magnitudes compare, e.g. random vs trained)")
        self.precision_combo = QComboBox()
        for key, text in PRECISIONS:
            self.precision_combo.addItem(text, key)
        self.precision_combo.setToolTip(PRECISION_TIP)
        self.size_combo = QComboBox()
        self.size_combo.addItems(PROC_SIZES)
        self.size_combo.setToolTip("Largest input the models see, HxW (the frame is resized once to fit it, aspect "
                                   "kept): smaller is faster")
        self.add_btn = QPushButton("Add pane")
        self.add_btn.setToolTip(f"Show another model side by side (up to {max_panes})")

        bar.addWidget(flow_group(QLabel("Source"), self.source_combo, self.camera_spin, self.res_combo,
                                 self.dataset_combo, self.open_btn, self.path_label))
        bar.addWidget(flow_group(self.play_btn, self.step_btn, self.snap_btn, self.rec_btn))
        bar.addWidget(flow_group(QLabel("Colours"), self.cmap_combo, QLabel("Contrast"), self.contrast_combo,
                                 QLabel("Model input"), self.size_combo, QLabel("Precision"), self.precision_combo))
        bar.addWidget(self.add_btn)

    # --- state --------------------------------------------------------------------------------------------------
    def kind(self) -> str:
        return self.source_combo.currentData() or "synthetic"

    def set_kind(self, kind: str) -> None:
        self.source_combo.blockSignals(True)
        self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(kind)))
        self.source_combo.blockSignals(False)
        self.update_source_widgets()

    def shared_contrast(self) -> bool:
        return self.contrast_combo.currentData() == "shared"

    def precision(self) -> str:
        return self.precision_combo.currentData() or "auto"

    def set_paused(self, paused: bool) -> None:
        self.play_btn.setText("Play" if paused else "Pause")

    def set_recording(self, on: bool) -> None:
        self.rec_btn.setText("Stop rec" if on else "Record")

    def update_source_widgets(self) -> None:
        kind = self.kind()
        self.camera_spin.setVisible(kind == "camera")
        self.res_combo.setVisible(kind in ("camera", "synthetic"))
        self.dataset_combo.setVisible(kind == "dataset")
        self.open_btn.setVisible(kind in ("video", "image"))
        path = self.paths.get(kind, "") if kind in ("video", "image") else ""
        self.path_label.setVisible(bool(path))
        self.path_label.setText(Path(path).name if path else "")
        self.path_label.setToolTip(path)

    def source_config(self) -> SourceConfig:
        kind = self.kind()
        h, w = to_hw(self.res_combo.currentText())
        return SourceConfig(kind=kind, path=self.paths.get(kind, "") if kind in ("video", "image") else "",
                            camera=self.camera_spin.value(), width=w, height=h,
                            dataset=self.dataset_combo.currentText(), fps=0.0 if kind != "video" else -1.0)

    def processing_size(self) -> tuple[int, int]:
        return to_hw(self.size_combo.currentText())

    # --- settings -----------------------------------------------------------------------------------------------
    def restore(self, s) -> None:
        self.paths = {"video": str(s.value("live/video_path", "")), "image": str(s.value("live/image_path", ""))}
        widgets = (self.source_combo, self.camera_spin, self.res_combo, self.dataset_combo, self.cmap_combo,
                   self.size_combo, self.contrast_combo, self.precision_combo)
        for w in widgets:
            w.blockSignals(True)
        self.source_combo.setCurrentIndex(max(0, self.source_combo.findData(str(s.value("live/source",
                                                                                          "synthetic")))))
        self.camera_spin.setValue(read_int(s, "live/camera", 0, self.camera_spin.minimum(),
                                           self.camera_spin.maximum()))  # text or a huge number: not a crash
        res = str(s.value("live/resolution", "480x640"))
        if res not in RESOLUTIONS and "x" in res:  # written W x H before sizes were H x W everywhere
            res = "x".join(reversed(res.split("x")))
        self.res_combo.setCurrentText(res if res in RESOLUTIONS else "480x640")
        self.dataset_combo.setCurrentText(str(s.value("live/dataset", "digits")))
        self.cmap_combo.setCurrentText(str(s.value("live/colormap", "viridis")))
        self.size_combo.setCurrentText(str(s.value("live/size", "180x240")))
        self.contrast_combo.setCurrentIndex(max(0, self.contrast_combo.findData(str(s.value("live/contrast",
                                                                                              "map")))))
        self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(str(s.value("live/precision",
                                                                                                "auto")))))
        for w in widgets:
            w.blockSignals(False)
        self.update_source_widgets()

    def save(self, s) -> None:
        s.setValue("live/source", self.kind())
        s.setValue("live/video_path", self.paths.get("video", ""))
        s.setValue("live/image_path", self.paths.get("image", ""))
        s.setValue("live/camera", self.camera_spin.value())
        s.setValue("live/resolution", self.res_combo.currentText())
        s.setValue("live/dataset", self.dataset_combo.currentText())
        s.setValue("live/colormap", self.cmap_combo.currentText())
        s.setValue("live/size", self.size_combo.currentText())
        s.setValue("live/contrast", self.contrast_combo.currentData())
        s.setValue("live/precision", self.precision())
