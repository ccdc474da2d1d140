"""The "timm architecture…" question of "Your model": a timm architecture by name and a local weights file (nothing is
downloaded; the hub is never contacted)."""

from __future__ import annotations

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QWidget)


class TimmDialog(QDialog):
    """A timm architecture by name and a local weights file (nothing is downloaded)."""

    def __init__(self, name: str = "", weights: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open a timm architecture")
        form = QFormLayout(self)
        self.name = QLineEdit(name)
        self.name.setPlaceholderText("e.g. resnet18.a1_in1k")
        self.weights = QLineEdit(weights)
        self.weights.setPlaceholderText("a .safetensors / .pth file (empty: timm's random initialisation)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.weights, 1)
        row.addWidget(browse)
        form.addRow("Architecture", self.name)
        form.addRow("Weights", row)
        note = QLabel("Needs the timm extra (pip install .[timm]); the hub is never contacted.")
        note.setStyleSheet("color: #555;")
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "timm weights", self.weights.text(),
                                              "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)")
        if path:
            self.weights.setText(path)
