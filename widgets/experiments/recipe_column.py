"""The Experiments workspace's left column: the recipe chooser and its description, the size and dataset it runs at,
where its cells run, the plan line, Run / Cancel / Open report, the progress and status lines, and the finished
experiments. It holds the widgets; the workspace fills them and wires their actions."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout,
                               QWidget)

from app.experiments.executors import CANCEL_TEXT
from app.experiments.recipe import shipped
from widgets.experiments.dataset_field import DatasetField
from widgets.experiments.download_button import DownloadButton
from widgets.experiments.executor_row import ExecutorRow
from widgets.experiments.history import RunHistory

INVITATION = "Press Run (Ctrl+Return) to run the cells not stored yet."
# what Cancel does, per executor (``app.experiments.executors.CANCEL_TEXT``)
CANCEL_TIP = "Cancel the experiment (Esc). " + "; ".join(f"{name}: {text}" for name, text in CANCEL_TEXT.items())


class RecipeColumn(QWidget):
    def __init__(self, settings: Any, store: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lv = QVBoxLayout(self)
        lv.addWidget(QLabel("<b>Recipe</b>"))
        self.recipe_combo = QComboBox()
        self.recipe_combo.setToolTip("The seed papers' claims as recipes (resources/experiments/*.toml), or a "
                                     "recipe file of your own")
        for p in shipped():
            self.recipe_combo.addItem(p.stem, str(p))
        lv.addWidget(self.recipe_combo)
        self.open_btn = QPushButton("Open recipe file…")
        self.open_btn.setToolTip("A TOML recipe (see resources/experiments for examples)")
        lv.addWidget(self.open_btn)
        self.claim = QLabel()
        self.claim.setWordWrap(True)
        lv.addWidget(self.claim)
        self.quick = QCheckBox("Quick size (minutes on a CPU)")
        self.quick.setChecked(True)
        self.quick.setToolTip("Digits / MNIST subsets and small models; the full size uses the papers' datasets")
        lv.addWidget(self.quick)
        self.dataset = DatasetField(settings)
        lv.addWidget(self.dataset)
        self.download_btn = DownloadButton()  # shown when a built-in dataset the cells read is not on this machine
        lv.addWidget(self.download_btn)
        runs_on = ExecutorRow()
        self.executor, self.workers = runs_on.executor, runs_on.workers
        lv.addWidget(runs_on)
        self.plan = QLabel()
        self.plan.setWordWrap(True)
        lv.addWidget(self.plan)
        self.caveat = QLabel()  # what the cells' figures will not say (recipe_caveats): amber, not a refusal
        self.caveat.setWordWrap(True)
        self.caveat.setStyleSheet("color: #a15c00;")
        self.caveat.hide()
        lv.addWidget(self.caveat)
        self.run_btn = QPushButton("Run")
        self.run_btn.setToolTip("Run the recipe (Ctrl+Return); cells already stored are reused")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip(CANCEL_TIP)
        self.report_btn = QPushButton("Open report")
        self.report_btn.setToolTip("Open the last run's report (HTML with its plot; .md, .csv and .svg beside it) in "
                                   "the browser")
        br = QHBoxLayout()
        for b in (self.run_btn, self.cancel_btn, self.report_btn):
            br.addWidget(b)
        lv.addLayout(br)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        lv.addWidget(self.progress)
        self.status = QLabel(INVITATION)
        self.status.setWordWrap(True)
        lv.addWidget(self.status)
        lv.addWidget(QLabel("<b>Finished experiments</b>"))
        self.history = RunHistory(store)
        lv.addWidget(self.history, 1)
