"""The input spec of an opened model that declares none: asked in a small dialog (presets ImageNet, CIFAR, MNIST,
[0, 1] + size + channels), prefilled from what the app knows of the file (``Prefill``: its channels, a size it fixes,
the input it has now), remembered per file (path + modification time) in the settings once the model built with it.

What the file fixes is locked: a size it fixes (with its channels: a static C x H x W shape) cannot be edited, and
the channels read from the file are never changed by a preset (MNIST no longer turns a colour model grey). The
summary line follows every edit; a size that cannot be read shows its error at once."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings
import numpy as np
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QVBoxLayout, QWidget)

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


def forget(settings: QSettings, source: str, weights: str | None = None) -> None:
    """The next "Open model…" of this file asks again (its remembered answer did not build)."""
    settings.remove(file_key(source, weights))


@dataclass(frozen=True)
class Prefill:
    """What the app already knows of a model's input, to start the dialog from (the channels come apart)."""

    size: tuple[int, int] | None = None  # (H, W) the file fixes: a static ONNX shape, the only size the model runs at
    current: InputSpec | None = None  # the input the opened model has now ("Change input…")


class InputDialog(QDialog):
    """Channels, size and a normalisation preset for a model whose file does not say."""

    def __init__(self, name: str, channels: int | None = None, parent: QWidget | None = None,
                 prefill: Prefill | None = None) -> None:
        """``channels``: the model's input channels as read from its file (kept by every preset); None: not known
        (3 shown, and the MNIST preset makes it grey)."""
        super().__init__(parent)
        prefill = prefill or Prefill()
        self.fixed, self.current = prefill.size, prefill.current
        self.known_channels = channels is not None
        channels = 3 if channels is None else int(channels)
        self.setWindowTitle(f"Input of {name}")
        lay = QVBoxLayout(self)
        text = (f"Choose the input of <b>{name}</b> again: the model is rebuilt with it." if self.current else
                f"<b>{name}</b> does not say what input it expects. Choose it once; it is remembered for this file "
                f"when the model opens with it.")
        if self.fixed:
            text += (f"<br>The file fixes its input at {channels}×{self.fixed[0]}×{self.fixed[1]}: the channels and "
                     f"the size are set (they cannot be changed), only the normalisation is a guess.")
        self.note = QLabel(text)
        self.note.setWordWrap(True)
        lay.addWidget(self.note)
        form = QFormLayout()
        self.preset = QComboBox()
        for text, key, _size in PRESETS:
            self.preset.addItem(text, key)
        if self.current is not None and self._matching_preset() is None:  # its own statistics
            self.preset.addItem("As now (" + ", ".join(f"{v:.4g}" for v in self.current.mean) + ")", "current")
        self.channels = QComboBox()
        self.channels.addItem("3 (colour)", 3)
        self.channels.addItem("1 (grey)", 1)
        self.channels.setCurrentIndex(1 if channels == 1 else 0)
        self.size = QLineEdit()
        self.fixed_note = QLabel("fixed by the file" if self.fixed else "")
        self.fixed_note.setStyleSheet("color: #555;")
        self.channels_note = QLabel("fixed by the file" if self.fixed else
                                    "read from the file" if self.known_channels else "")
        self.channels_note.setStyleSheet("color: #555;")
        self.size.setPlaceholderText("e.g. 224, 28x28, or empty: any size")
        self.size.setToolTip("Input height x width in pixels; empty: the images' own size (fully convolutional)")
        self.channels.setToolTip("Grey (1) or colour (3) input: the model's first layer decides"
                                 + (" (read from the file; no preset changes it)" if self.known_channels else ""))
        if self.fixed:  # the only input the model runs on: shown, not editable
            for w in (self.size, self.channels):
                w.setEnabled(False)
                w.setToolTip(f"Fixed by the file: the model runs on {channels}×{self.fixed[0]}×{self.fixed[1]} "
                             "only")
        self.stats = QLabel("")
        self.stats.setStyleSheet("color: #555;")
        self.error = QLabel("")
        self.error.setStyleSheet("color: #b00020;")
        self.error.setWordWrap(True)
        form.addRow("Normalisation", self.preset)
        channels_row = QHBoxLayout()
        channels_row.addWidget(self.channels, 1)
        channels_row.addWidget(self.channels_note)
        form.addRow("Channels", channels_row)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size, 1)
        size_row.addWidget(self.fixed_note)
        form.addRow("Size", size_row)
        form.addRow("", self.stats)
        lay.addLayout(form)
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.preset.setCurrentIndex(self._first_preset(channels))
        self._on_preset()
        if self.current is not None:
            self.channels.setCurrentIndex(1 if self.current.channels == 1 else 0)
            if not self.fixed:
                self.size.setText(size_text(self.current.size))
            self._show_stats()
        self.preset.currentIndexChanged.connect(self._on_preset)
        self.channels.currentIndexChanged.connect(self._show_stats)
        self.size.textChanged.connect(self._show_stats)  # the summary follows what is typed
        self.result_spec: InputSpec | None = None

    def _matching_preset(self) -> int | None:
        """The preset with the current input's statistics (None: none has them)."""
        cur = self.current
        for i, (_text, key, _size) in enumerate(PRESETS):
            same = declared(cur.channels, None, preset=key) if cur is not None else None
            if same is not None and np.allclose(same.mean, cur.mean) and np.allclose(same.std, cur.std):
                return i
        return None

    def _first_preset(self, channels: int) -> int:
        """The current input's preset (or its own statistics), else MNIST for grey models, ImageNet for colour."""
        if self.current is not None:
            i = self._matching_preset()
            return self.preset.findData("current") if i is None else i
        return 2 if channels == 1 else 0

    def _on_preset(self, *_a) -> None:
        """A preset sets its size and (MNIST, when the file did not say) grey, except what the file fixes."""
        if self.fixed:
            self.size.setText(size_text(self.fixed))
        elif self.preset.currentData() != "current":
            size = PRESETS[self.preset.currentIndex()][2]
            self.size.setText(str(size) if size else "")
        if self.preset.currentData() == "mnist" and not self.fixed and not self.known_channels:
            self.channels.setCurrentIndex(1)
        self._show_stats()

    def _show_stats(self, *_a) -> None:
        """The summary of what OK would give, or (a field that cannot be read) no summary and the error."""
        try:
            self.stats.setText(self.spec().describe())
            self.error.setText("")
        except (InputSpecError, ValueError) as exc:
            self.stats.setText("")
            self.error.setText(str(exc))

    def spec(self) -> InputSpec:
        """The chosen input spec (``InputSpecError`` / ``ValueError`` with a readable message when a field is wrong)."""
        channels, size = int(self.channels.currentData()), parse_size(self.size.text().strip() or None)
        cur = self.current
        if self.preset.currentData() == "current" and cur is not None:
            return declared(channels, size, cur.mean, cur.std, interpolation=cur.interpolation,
                            antialias=cur.antialias)
        if cur is not None:  # a preset: its statistics, the way of resizing as it was
            return declared(channels, size, preset=str(self.preset.currentData()), interpolation=cur.interpolation,
                            antialias=cur.antialias)
        return declared(channels, size, preset=str(self.preset.currentData()))

    @qt_override
    def accept(self) -> None:
        try:
            self.result_spec = self.spec()
        except (InputSpecError, ValueError) as exc:
            self.error.setText(str(exc))
            return
        super().accept()


def size_text(size: tuple[int, int] | None) -> str:
    return "" if size is None else str(size[0]) if size[0] == size[1] else f"{size[0]}x{size[1]}"


def ask_input(parent: QWidget, name: str, channels: int, prefill: Prefill | None = None) -> InputSpec | None:
    """Ask (modal), prefilled with what is known (``prefill``); None when the user cancels."""
    dlg = InputDialog(name, channels, parent, prefill)
    return dlg.result_spec if dlg.exec() == QDialog.DialogCode.Accepted else None
