"""The input spec of an opened model that declares none: asked once in a small dialog (presets ImageNet, CIFAR,
MNIST, [0, 1] + size + channels), remembered per file (path + modification time) in the settings."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QVBoxLayout,
                               QWidget)

from app.models.inputs import InputSpec, InputSpecError, declared, parse_size

from widgets.common.qt_override import qt_override

PRESETS = (("ImageNet", "imagenet", 224), ("CIFAR-10", "cifar10", 32), ("MNIST", "mnist", 28), ("[0, 1]", "unit", 0))


def file_key(source: str, weights: str | None = None) -> str:
    """A settings key for a model file: its path and modification time (a changed file is asked again)."""
    parts = []
    for p in (source, weights):
        if not p:
            continue
        if str(p).startswith("timm:"):
            parts.append(str(p))
            continue
        path = Path(p).expanduser().resolve()
        try:
            parts.append(f"{path}|{os.stat(path).st_mtime_ns}")
        except OSError:
            parts.append(str(path))
    return "models/own_input/" + hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]


def remembered(settings: QSettings, source: str, weights: str | None = None) -> InputSpec | None:
    raw = settings.value(file_key(source, weights))
    if not raw:
        return None
    try:
        return InputSpec.from_dict(json.loads(str(raw)))
    except (ValueError, InputSpecError):
        return None


def remember(settings: QSettings, source: str, weights: str | None, spec: InputSpec) -> None:
    settings.setValue(file_key(source, weights), json.dumps(spec.to_dict()))


class InputDialog(QDialog):
    """Channels, size and a normalisation preset for a model whose file does not say."""

    def __init__(self, name: str, channels: int = 3, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Input of {name}")
        lay = QVBoxLayout(self)
        note = QLabel(f"<b>{name}</b> does not say what input it expects. Choose it once; it is remembered for "
                      f"this file.")
        note.setWordWrap(True)
        lay.addWidget(note)
        form = QFormLayout()
        self.preset = QComboBox()
        for text, key, _size in PRESETS:
            self.preset.addItem(text, key)
        self.channels = QComboBox()
        self.channels.addItem("3 (colour)", 3)
        self.channels.addItem("1 (grey)", 1)
        self.channels.setCurrentIndex(1 if channels == 1 else 0)
        self.size = QLineEdit()
        self.size.setPlaceholderText("e.g. 224, 28x28, or empty: any size")
        self.size.setToolTip("Input height x width in pixels; empty: the images' own size (fully convolutional)")
        self.stats = QLabel("")
        self.stats.setStyleSheet("color: #555;")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        form.addRow("Normalisation", self.preset)
        form.addRow("Channels", self.channels)
        form.addRow("Size", self.size)
        form.addRow("", self.stats)
        lay.addLayout(form)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.preset.setCurrentIndex(2 if channels == 1 else 0)  # MNIST for grey models, ImageNet for colour
        self._on_preset()
        self.preset.currentIndexChanged.connect(self._on_preset)
        self.channels.currentIndexChanged.connect(self._show_stats)
        self.result_spec: InputSpec | None = None

    def _on_preset(self, *_a) -> None:
        size = PRESETS[self.preset.currentIndex()][2]
        self.size.setText(str(size) if size else "")
        if self.preset.currentData() == "mnist":
            self.channels.setCurrentIndex(1)
        self._show_stats()

    def _show_stats(self, *_a) -> None:
        try:
            self.stats.setText(self.spec().describe())
            self.error.setText("")
        except (InputSpecError, ValueError) as exc:
            self.error.setText(str(exc))

    def spec(self) -> InputSpec:
        """The chosen input spec (``InputSpecError`` / ``ValueError`` with a readable message when a field is wrong)."""
        return declared(int(self.channels.currentData()), parse_size(self.size.text().strip() or None),
                        preset=str(self.preset.currentData()))

    @qt_override
    def accept(self) -> None:
        try:
            self.result_spec = self.spec()
        except (InputSpecError, ValueError) as exc:
            self.error.setText(str(exc))
            return
        super().accept()


def ask_input(parent: QWidget, name: str, channels: int) -> InputSpec | None:
    """Ask (modal); None when the user cancels."""
    dlg = InputDialog(name, channels, parent)
    return dlg.result_spec if dlg.exec() == QDialog.DialogCode.Accepted else None
