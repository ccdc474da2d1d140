"""The kernels workspace (placeholder until its issue lands)."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.session import Session


class KernelWorkspace(QWidget):
    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("This workspace is being built."))

    def shutdown(self) -> None:
        """Stop every worker, thread and camera this workspace owns (called on close)."""
