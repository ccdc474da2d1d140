"""Train… : train the builder's model end to end (MNIST or digits) with progress, live curves and Cancel.

The training itself is ``app.models.train.train`` (a task generator) run by ``widgets.common.worker.Worker``; frozen
parameters are never given to the optimiser, so they stay bit-identical. The result checkpoint (``.safetensors`` +
``.json`` sidecar) goes to ``paths.user_files()/models`` under a name no earlier run holds, and the trained model joins
the session as "<name> (trained, MNIST)". Start trains the builder's model as it is at that moment (``current``: the
workspace's ``train_spec``), not as it was when the dialog opened; the workspace also keeps the dialog's "Model" line
current while it is open. A dataset this machine does not have cannot be started: Start is off, its tooltip and the
status line say why ("Not ready: ..."), and a Download button beside the dataset fetches it in place
(``widgets.experiments``' ``DownloadButton``, as ``python main.py data download NAME``); the plots are
``train_plots.TrainPlots``.
"""

from __future__ import annotations

import html
import re
import time
from typing import Callable

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.models import session_models
from app.models.spec import ModelSpec
from app.session import Session
from app.tasks import Progress
from widgets.common.qt_override import qt_override
from widgets.common.settings import read_float, read_spin, read_str
from widgets.common.steady import reserve_lines
from widgets.common.worker import Worker
from widgets.common.download_button import DownloadButton
from app.eta import Rate
from widgets.models.train_plots import TrainPlots
from widgets.models.train_words import (DATASETS, dataset_words, describe_spec, missing_data,  # noqa: F401
                                        result_lines, train_and_count, unique_out)  # (tests use some from here)
DEFAULT_LR = {"sgd": 0.05, "adamw": 0.001}
START_TIP = "Start training (Ctrl+Return)"
STATUS_LINES = 5  # the status line's height, reserved from the start (a run's closing summary with its file, its
# figures with their image counts, seeds and sampling errors, takes five)


class TrainDialog(TrainPlots, QDialog):
    """Signals: ``trained(str)``: the session name of the trained model."""

    trained = Signal(str)

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None,
                 current: Callable[[], ModelSpec] | None = None) -> None:
        """``current``: the model to train at Start (the builder's, as it is then; ValueError or another exception
        with a message: it cannot be trained now). Without it, the spec last given to ``set_spec``."""
        super().__init__(parent)
        self.setWindowTitle("Train model")
        self.session = session
        self.settings = settings
        self.current = current
        self.spec: ModelSpec | None = None
        self.n_test: int | None = None  # test images the last run was scored on
        self.worker: Worker | None = None
        self.result = None
        self.last_checkpoint: str | None = None

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.dataset = QComboBox()
        for key, label, tip in DATASETS:
            self.dataset.addItem(label, key)
            self.dataset.setItemData(self.dataset.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.dataset.setToolTip("Training data (a validation split is scored after every epoch; the test split once, "
                                "at the end)")
        self.download_btn = DownloadButton()  # shown while the chosen dataset is not on this machine
        data_row = QHBoxLayout()
        data_row.addWidget(self.dataset, 1)
        data_row.addWidget(self.download_btn)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setToolTip("Passes over the training images")
        self.optimizer = QComboBox()
        self.optimizer.addItem("SGD (momentum 0.9, Nesterov)", "sgd")
        self.optimizer.addItem("AdamW", "adamw")
        self.optimizer.setToolTip("Optimiser; the learning rate follows a cosine schedule over all steps")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 10.0)
        self.lr.setSingleStep(0.005)
        self.lr.setToolTip("Initial learning rate (typical: 0.05 for SGD, 0.001 for AdamW)")
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setToolTip("Images per step")
        self.limit = QSpinBox()
        self.limit.setRange(0, 1_000_000)
        self.limit.setSingleStep(1000)
        self.limit.setSpecialValueText("all")
        self.limit.setToolTip("Use at most this many training images (a seeded subset; 'all' = 0)")
        self.test_limit = QSpinBox()
        self.test_limit.setRange(0, 1_000_000)
        self.test_limit.setSingleStep(1000)
        self.test_limit.setSpecialValueText("all")
        self.test_limit.setToolTip("Test images for the accuracy scored once, at the end (a seeded subset; 'all' = 0). "
                                   "The subset, the validation split and the shuffles follow the model's seed")
        self.name = QLineEdit()
        self.name.setToolTip("The name of the trained model in the session")
        form = QFormLayout()
        form.addRow("Model", self.model_label)
        form.addRow("Dataset", data_row)
        form.addRow("Epochs", self.epochs)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch)
        form.addRow("Train limit", self.limit)
        form.addRow("Test images", self.test_limit)
        form.addRow("Result name", self.name)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self._rate = Rate()  # the time left, from the steps' rate
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # room for STATUS_LINES lines from the start: the run's closing summary (five lines) then does not shrink
        # the plots, which re-laid and repainted both in one turn as the run ended (issue 14: the training's longest
        # GUI-thread gap) and made them jump
        reserve_lines(self.status, STATUS_LINES)
        plots = self._make_plots()

        self.start_btn = QPushButton("Start")
        self.start_btn.setToolTip(START_TIP)
        self.start_btn.setDefault(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop training after the current step (Esc); nothing is added to the session")
        self.cancel_btn.setEnabled(False)
        self.close_btn = QPushButton("Close")
        self.close_btn.setToolTip("Close the window (asks first while a training runs)")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addWidget(self.close_btn)

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(plots, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.resize(820, 640)

        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self.cancel)
        self.close_btn.clicked.connect(self.close)
        self.optimizer.currentIndexChanged.connect(self._on_optimizer)
        self.dataset.currentIndexChanged.connect(self._suggest_name)
        self.dataset.currentIndexChanged.connect(self._say_missing_data)
        self.download_btn.clicked.connect(self.download)
        self.download_btn.progress.connect(self._on_download_progress)
        self.download_btn.ended.connect(self._download_ended)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.start)
        self._restore()

    # --- settings ------------------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        # first use: MNIST where this machine has it, else the bundled digits (not a dataset that fails at Start)
        first = "digits" if missing_data("mnist") else "mnist"
        # each value as its field takes it: an empty or out-of-range one gives the default (the dialog did not open)
        self.dataset.setCurrentIndex(max(0, self.dataset.findData(read_str(s, "models/train/dataset", first))))
        self._say_missing_data()
        self.epochs.setValue(read_spin(s, "models/train/epochs", self.epochs, 2))
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(read_str(s, "models/train/optimizer", "sgd"))))
        self.lr.setValue(read_float(s, "models/train/lr", DEFAULT_LR[self.optimizer.currentData()],
                                    self.lr.minimum(), self.lr.maximum()))
        self.batch.setValue(read_spin(s, "models/train/batch", self.batch, 128))
        self.limit.setValue(read_spin(s, "models/train/limit", self.limit, 10000))
        self.test_limit.setValue(read_spin(s, "models/train/test_limit", self.test_limit, 2000))

    def _save(self) -> None:
        s = self.settings
        s.setValue("models/train/dataset", self.dataset.currentData())
        s.setValue("models/train/epochs", self.epochs.value())
        s.setValue("models/train/optimizer", self.optimizer.currentData())
        s.setValue("models/train/lr", self.lr.value())
        s.setValue("models/train/batch", self.batch.value())
        s.setValue("models/train/limit", self.limit.value())
        s.setValue("models/train/test_limit", self.test_limit.value())

    @Slot(int)
    def _on_optimizer(self, _i: int) -> None:
        self.lr.setValue(DEFAULT_LR[self.optimizer.currentData()])

    @Slot()
    def _say_missing_data(self, *_a) -> None:
        """Before Start: the chosen dataset has no local copy: Start off, and the status line, Start's tooltip and the
        Download button beside the dataset say why and how to get it (or choose digits)."""
        if self.is_running() or self.is_downloading():
            return
        missing = missing_data(self.dataset.currentData())
        self.download_btn.set_missing((self.dataset.currentData(), None) if missing else None)
        self._retitle()
        self.status.setText(f"<span style='color:#a93226'><b>Not ready:</b> {html.escape(missing)}</span>"
                            if missing else "Ready.")
        self._update_buttons()

    # --- the missing dataset, downloaded in place ------------------------------------------------------------
    def is_downloading(self) -> bool:
        return self.download_btn.running()

    @Slot()
    def download(self) -> None:
        """Download the chosen dataset into the data folder (Start waits for it; Cancel or Esc stops it)."""
        if self.is_running() or not self.download_btn.start():
            return
        self.progress.setRange(0, 0)
        self._retitle()
        self.status.setText(f"Downloading {self._dataset_title()}…")
        self._update_buttons()

    @Slot(object)
    def _on_download_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.done / p.total))
        self.status.setText(self._words(p.message))

    def _words(self, text: str) -> str:
        """A download's text with the dataset named as the box names it ("Fashion-MNIST", not "fashion-mnist")."""
        return dataset_words(text, self.dataset.currentData())

    def _retitle(self) -> None:
        self.download_btn.setText(self._words(self.download_btn.text()))  # "Download Fashion-MNIST (29.4 MB)"

    @Slot(str)
    def _download_ended(self, text: str) -> None:
        text = self._words(text)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self._say_missing_data()  # Start on once the data is there; the button stays after a failure
        self.status.setText(text if not missing_data(self.dataset.currentData()) else
                            f"<span style='color:#a93226'>{html.escape(text)}</span>")

    def _dataset_title(self) -> str:
        return self.dataset.currentText()

    @Slot()
    def _suggest_name(self, *_a) -> None:
        if self.spec is not None and not self.name.isModified():
            self.name.setText(f"{self._base_label()} (trained, {self._dataset_title()})")

    def _base_label(self) -> str:
        label = self.spec.label if self.spec else "model"
        return re.sub(r"\s*\((random|kaiming|gaussian|uniform|signed-constant|orthogonal|default)\)$", "", label)

    # --- the model -------------------------------------------------------------------------------------------
    def set_spec(self, spec: ModelSpec, keep_name: bool = False) -> None:
        """Show what Start trains. ``keep_name``: a result name the user typed stays (the builder's model changed
        while the dialog is open); otherwise the suggestion follows the model (the dialog opened for it)."""
        if self.is_running():
            return
        self.spec = spec
        self.model_label.setText(describe_spec(spec))
        if not keep_name:
            self.name.setModified(False)
        self._suggest_name()

    def show_unbuildable(self, label: str, msg: str) -> None:
        """The builder's model no longer builds: the "Model" line says so (Start refuses it, ``current``)."""
        if not self.is_running():
            self.model_label.setText(f"{label}: does not build ({msg}); fix it in the builder to train it")

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    # --- running ---------------------------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        if self.is_running() or self.is_downloading():
            return
        if self.current is not None:  # the builder's model now: changed since the dialog opened, it is what the
            try:  # user sees on the left, and a model that does not build is refused here, not inside the run
                self.set_spec(self.current(), keep_name=True)
            except Exception as exc:  # noqa: BLE001  (a bad field or a build error: its message)
                self.status.setText(f"<span style='color:#a93226'><b>Not started:</b> {html.escape(str(exc))}"
                                    "</span>")
                return
        if self.spec is None:
            return
        missing = missing_data(self.dataset.currentData())
        if missing:  # said before anything starts (it failed inside the run)
            self.status.setText(f"<span style='color:#a93226'><b>Not started:</b> {html.escape(missing)}</span>")
            return
        from app.models.train import TrainConfig

        self._save()
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name.text().strip() or self._base_label()).strip("_")
        folder = paths.user_files() / "models"
        folder.mkdir(parents=True, exist_ok=True)
        out = unique_out(folder, f"{stem or 'model'}-{time.strftime('%Y%m%d-%H%M%S')}")
        cfg = TrainConfig(dataset=self.dataset.currentData(), epochs=self.epochs.value(),
                          optimizer=self.optimizer.currentData(), lr=self.lr.value(), batch_size=self.batch.value(),
                          train_limit=self.limit.value() or None,
                          test_limit=self.test_limit.value() or None, seed=self.spec.seed, out=str(out))
        # the data seed is the model's seed (one number the user sets): the test subset, the validation split and
        # the shuffles change with it, and the result line says so
        spec = self.spec
        self._reset_plots()
        self.result = None
        self.n_test = None
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status.setText(f"Starting: {describe_spec(spec)} on {self._dataset_title()} (seed "
                            f"{spec.seed}: the model's and the data's)…")
        self.worker = Worker(lambda token: train_and_count(spec, cfg, token), parent=self, name="train")
        self.worker.on(progress=self._on_progress, finished=self._on_finished, failed=self._on_failed,
                       cancelled=self._on_cancelled, done=self._on_done)
        self._set_running(True)
        self.worker.start()

    @Slot()
    def cancel(self) -> None:
        if self.download_btn.cancel():
            self.status.setText("Cancelling the download…")
        elif self.is_running():
            self.status.setText("Cancelling after the current step…")
            self.worker.cancel()

    def _set_running(self, running: bool) -> None:
        for w in (self.epochs, self.optimizer, self.lr, self.batch, self.limit, self.test_limit, self.name):
            w.setEnabled(not running)
        self._update_buttons(running)

    def _update_buttons(self, running: bool | None = None) -> None:
        """Start only when it can start: nothing runs or downloads and the chosen dataset is here (else its tooltip
        says why: "Not ready: ...")."""
        running = self.is_running() if running is None else running
        busy = running or self.is_downloading()
        missing = missing_data(self.dataset.currentData())
        self.start_btn.setEnabled(not busy and not missing)
        self.start_btn.setToolTip(f"{START_TIP}\nNot ready: {missing}" if missing and not busy else START_TIP)
        self.cancel_btn.setEnabled(busy)
        self.dataset.setEnabled(not busy)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        frac = p.fraction
        if frac is None:
            if p.total is None and p.done == 0 and not self._steps:
                self.progress.setRange(0, 0)  # busy: loading data, building
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * frac))
        self.status.setText(p.message + self._rate.about(p.done, p.total, time.monotonic()))
        self._plot_report(p)

    @Slot(object)
    def _on_finished(self, outcome) -> None:
        from app.models.build import spec_from_checkpoint

        result, self.n_test = outcome
        self.result = result
        self._plot_result(result)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.last_checkpoint = result.checkpoint
        base = self.name.text().strip() or f"{self._base_label()} (trained, {self._dataset_title()})"
        name = session_models.new_name(self.session, base)  # not a kept model's name either
        spec = spec_from_checkpoint(result.checkpoint, label=name)
        self.session.put_model(name, spec)
        val_text, test_text = result_lines(result, self.n_test, result.config)
        self.status.setText(
            f"Done in {result.seconds:.1f} s after {result.epochs_done} epoch(s): {test_text}; {val_text}. "
            f"{result.trainable:,} trainable / {result.frozen:,} frozen parameters. Saved {result.checkpoint} "
            f"and added “{name}” to the session.")
        self.trained.emit(name)

    @Slot(str)
    def _on_failed(self, msg: str) -> None:
        self.progress.setRange(0, 1000)
        self.status.setText(f"<span style='color:#a93226'><b>Training failed:</b> {html.escape(msg)}</span>")

    @Slot()
    def _on_cancelled(self) -> None:
        self.progress.setRange(0, 1000)
        self.status.setText("Cancelled: nothing was added to the session (finished epochs stay saved in "
                            f"{paths.user_files() / 'models'}).")

    @Slot()
    def _on_done(self) -> None:
        self._set_running(False)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def busy_text(self) -> str:
        """"" when no training runs, else what runs (for a question before something would stop it)."""
        if not self.is_running() or self.spec is None:
            return ""
        return f"training {self.spec.label} on {self._dataset_title()}"

    def confirm_stop(self) -> bool:
        """True when nothing runs or the user agrees to stop the running training (Close, the window's close box):
        a run of minutes was cancelled by a click that only meant to put the window away."""
        if not self.is_running():
            return True
        answer = QMessageBox.question(
            self, "Training is running",
            f"Training is running: stop it and close?\n({self.busy_text()}; finished epochs stay saved, nothing is "
            "added to the session)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @qt_override
    def reject(self) -> None:  # Esc: cancel a running training or download first (Cancel's shortcut), else close
        if self.is_running() or self.is_downloading():
            self.cancel()
            return
        super().reject()

    @qt_override
    def closeEvent(self, event) -> None:  # noqa: N802
        if self.is_running() and not self.confirm_stop():
            event.ignore()  # "No": the run goes on, the window stays
            return
        if self.is_running() or self.is_downloading():  # a download stops without asking: the next one resumes it
            self.cancel()
            # "Yes": stop and close. QDialog.closeEvent would call our reject (Esc's), which only cancels while the
            # run winds down, and the window stayed open
            super().reject()
            event.accept()
            return
        super().closeEvent(event)

    def shutdown(self) -> None:
        self.download_btn.stop(10000)  # an interrupted download resumes next time
        if self.worker is not None:
            self.worker.stop()
