"""Where an experiment's cells run: the executor (inline, a local process pool, Ray) and how many at once."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget


class ExecutorRow(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Run on"))
        self.executor = QComboBox()
        self.executor.addItems(["inline", "local", "ray"])
        self.executor.setToolTip("inline: this process, one cell at a time (shows per-cell progress); local: a "
                                 "process pool on this machine; ray: Ray tasks (pip install .[cluster], RAY_ADDRESS "
                                 "for a cluster)")
        row.addWidget(self.executor)
        row.addWidget(QLabel("workers"))
        self.workers = QSpinBox()
        self.workers.setRange(1, 256)
        self.workers.setValue(1)
        self.workers.setToolTip("How many cells run at once (local and ray); inline runs one cell at a time")
        self.executor.currentTextChanged.connect(lambda ex: self.workers.setEnabled(ex != "inline"))
        self.workers.setEnabled(self.executor.currentText() != "inline")
        row.addWidget(self.workers)
