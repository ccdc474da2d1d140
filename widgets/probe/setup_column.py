"""The Probe workspace's middle column: "2 · Models" (the checkable model list and its hint), "3 · Linear probe"
(the probe's settings) and, below them and always in view, the run box (Train, Cancel, the baseline, progress and
stage). A short window scrolls the models and settings instead of squeezing the form's rows into each other; Train
stays within reach at any height. It holds the widgets; the workspace wires them."""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from app.probe.config import HEADS, POOLINGS
from widgets.common.vscroll import VerticalScroll
from widgets.probe.model_list import ModelList
from widgets.probe.run_panel import RunPanel
from widgets.probe.settings_panel import ProbeSettings


class SetupColumn(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        models_box = QGroupBox("2 · Models")
        ml = QVBoxLayout(models_box)
        self.models = ModelList()
        ml.addWidget(self.models)
        hint = QLabel("Check one or more. Models you build in the Models workspace appear here too.")
        hint.setWordWrap(True)
        hint.setStyleSheet("color: #5b6472;")
        ml.addWidget(hint)
        probe_box = QGroupBox("3 · Linear probe")
        self.probe_settings = ProbeSettings(HEADS, POOLINGS)
        QVBoxLayout(probe_box).addWidget(self.probe_settings)
        self.run_panel = RunPanel()
        middle = QWidget()
        mid = QVBoxLayout(middle)
        mid.setContentsMargins(0, 0, 0, 0)
        mid.addWidget(models_box, 3)
        mid.addWidget(probe_box, 0)
        self.middle_scroll = VerticalScroll(middle)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.middle_scroll, 1)
        col.addWidget(self.run_panel, 0)
