"""Train… : train the builder's model end to end (MNIST or digits) with progress, live curves and Cancel.

The training itself is ``app.models.train.train`` (a task generator) run by ``widgets.common.worker.Worker``; frozen
parameters are never given to the optimiser, so they stay bit-identical. The result checkpoint
(``.safetensors`` + ``.json`` sidecar) goes to ``paths.user_files()/models`` under a name no earlier run holds, and
the trained model joins the session as "<name> (trained, MNIST)".

Start trains the builder's model as it is at that moment (``current``: the workspace's ``train_spec``), not as it was
when the dialog opened; the workspace also keeps the dialog's "Model" line current while it is open.
"""

from __future__ import annotations

import html
import math
import re
import time
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer, Signal, Slot
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
from app.models.spec import ModelSpec
from app.session import Session
from app.tasks import Progress
from widgets.common.live_plot import SteppedRange, cache_axes
from widgets.common.qt_override import qt_override
from widgets.common.steady import reserve_lines
from widgets.common.worker import Worker
from widgets.models.train_words import (_epoch_acc, describe_spec, missing_data, result_lines,  # noqa: F401
                                        train_and_count, unique_out)  # (unique_out: tests use it from here too)

DATASETS = [("digits", "digits", "scikit-learn's 8x8 digits (1,797 images, offline, seconds)"),
            ("mnist", "MNIST", "MNIST 28x28 (60,000 training images; the shared copy or a download)"),
            ("fashion-mnist", "Fashion-MNIST", "Fashion-MNIST 28x28 clothing (60,000 training images; a download)"),
            ("cifar10", "CIFAR-10", "CIFAR-10 32x32 colour (50,000 training images; a download; minutes per epoch "
                                    "on a CPU: set a train limit to try it)")]
DEFAULT_LR = {"sgd": 0.05, "adamw": 0.001}
STATUS_LINES = 5  # the status line's height, reserved from the start (a run's closing summary with its file, its
# figures with their image counts, seeds and sampling errors, takes five)


class TrainDialog(QDialog):
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
        self._steps: list[float] = []
        self._x_total: int | None = None
        self._redraw_timer = QTimer(self, singleShot=True, interval=250)
        self._redraw_timer.timeout.connect(self._redraw)
        self._loss: list[float] = []
        self._acc: list[float] = []
        self._ep_x: list[float] = []
        self._ep_acc: list[float] = []

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.dataset = QComboBox()
        for key, label, tip in DATASETS:
            self.dataset.addItem(label, key)
            self.dataset.setItemData(self.dataset.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.dataset.setToolTip("Training data (the test split measures accuracy after every epoch)")
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
        form.addRow("Dataset", self.dataset)
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
        self.status = QLabel("Ready.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # room for STATUS_LINES lines from the start: the run's closing summary (five lines) then does not shrink
        # the plots, which re-laid and repainted both in one turn as the run ended (issue 14: the training's longest
        # GUI-thread gap) and made them jump
        reserve_lines(self.status, STATUS_LINES)

        self.loss_plot = pg.PlotWidget(title="loss", enableMenu=False)
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#c0392b", width=2), name="train loss")
        self.acc_plot = pg.PlotWidget(title="accuracy", enableMenu=False)
        self.acc_plot.setLabel("bottom", "step")
        self.acc_plot.setYRange(0, 1)
        self.acc_plot.showGrid(x=True, y=True, alpha=0.3)
        self.acc_plot.addLegend(offset=(10, 10))
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#2471a3", width=2), name="train (running)")
        self.test_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#27ae60", width=2), symbol="o", symbolSize=7,
                                             symbolBrush="#27ae60", name="validation (per epoch)")
        for p in (self.loss_plot, self.acc_plot):
            p.setMinimumHeight(180)
            p.setMenuEnabled(False)
            cache_axes(p)  # axes drawn from a pixmap; the loss range steps only when the points leave it (issue 14)
        self.loss_range = SteppedRange(self.loss_plot, x=False, y=True)
        self._loss_lo = self._loss_hi = None
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)

        self.start_btn = QPushButton("Start")
        self.start_btn.setToolTip("Start training (Ctrl+Return)")
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
        QShortcut(QKeySequence("Ctrl+Return"), self, self.start)
        self._restore()

    # --- settings ------------------------------------------------------------------------------------------
    def _restore(self) -> None:
        s = self.settings
        # first use: MNIST where this machine has it, else the bundled digits (not a dataset that fails at Start)
        first = "digits" if missing_data("mnist") else "mnist"
        self.dataset.setCurrentIndex(max(0, self.dataset.findData(s.value("models/train/dataset", first))))
        self._say_missing_data()
        self.epochs.setValue(int(s.value("models/train/epochs", 2)))
        self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(s.value("models/train/optimizer", "sgd"))))
        self.lr.setValue(float(s.value("models/train/lr", DEFAULT_LR[self.optimizer.currentData()])))
        self.batch.setValue(int(s.value("models/train/batch", 128)))
        self.limit.setValue(int(s.value("models/train/limit", 10000)))
        self.test_limit.setValue(int(s.value("models/train/test_limit", 2000)))

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
        """Before Start: the chosen dataset has no local copy (how to get it, or choose digits)."""
        if self.is_running():
            return
        missing = missing_data(self.dataset.currentData())
        self.status.setText(f"<span style='color:#a93226'>{html.escape(missing)}</span>" if missing else "Ready.")

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
        if self.is_running():
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
        self._steps, self._loss, self._acc, self._ep_x, self._ep_acc = [], [], [], [], []
        self._x_total = None  # the run's steps: the x axes' fixed range once known (_on_progress)
        for plot in (self.loss_plot, self.acc_plot):
            plot.enableAutoRange(x=True)
        self.loss_range.reset()
        self._loss_lo = self._loss_hi = None
        self._redraw()
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
        if self.is_running():
            self.status.setText("Cancelling after the current step…")
            self.worker.cancel()

    def _set_running(self, running: bool) -> None:
        self.start_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        for w in (self.dataset, self.epochs, self.optimizer, self.lr, self.batch, self.limit, self.test_limit,
                  self.name):
            w.setEnabled(not running)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        frac = p.fraction
        if frac is None:
            if p.total is None and p.done == 0 and not self._steps:
                self.progress.setRange(0, 0)  # busy: loading data, building
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * frac))
            if p.total and p.total != self._x_total:  # the whole run's width at once: the x axes stay as they are
                self._x_total = p.total  # (a changing range re-lays their ticks at every redraw)
                for plot in (self.loss_plot, self.acc_plot):
                    plot.setXRange(0, p.total, padding=0.02)
        self.status.setText(p.message)
        rec = p.payload
        if rec is not None and hasattr(rec, "loss"):
            if rec.kind == "step":
                self._steps.append(rec.step)
                self._loss.append(rec.loss)
                if rec.loss is not None and math.isfinite(rec.loss):
                    self._loss_lo = rec.loss if self._loss_lo is None else min(self._loss_lo, rec.loss)
                    self._loss_hi = rec.loss if self._loss_hi is None else max(self._loss_hi, rec.loss)
                self._acc.append(rec.train_acc)
            elif _epoch_acc(rec) is not None:
                self._ep_x.append(rec.step)
                self._ep_acc.append(_epoch_acc(rec))
            if not self._redraw_timer.isActive():  # a few redraws a second (each re-ranges and repaints the axes,
                self._redraw_timer.start()  # 20-100 ms of the GUI thread under load), not one per report

    def _redraw(self) -> None:
        lone = len(self._steps) == 1  # a line needs two points: a lone point gets a marker, or nothing shows
        for curve, colour in ((self.loss_curve, "#c0392b"), (self.acc_curve, "#2471a3")):
            if (curve.opts["symbol"] is not None) != lone:  # only on a change (redraws come a few times a second)
                curve.setSymbol("o" if lone else None)
                if lone:
                    curve.setSymbolBrush(colour)
                    curve.setSymbolSize(7)
        self.loss_curve.setData(self._steps, self._loss)
        self.loss_range.update(None, self._loss_lo, self._loss_hi)
        self.acc_curve.setData(self._steps, self._acc)
        self.test_curve.setData(self._ep_x, self._ep_acc)

    @Slot(object)
    def _on_finished(self, outcome) -> None:
        from app.models.build import spec_from_checkpoint

        result, self.n_test = outcome
        self.result = result
        self._ep_x = [r.step for r in result.history]  # epoch points a coalesced report may have skipped
        self._ep_acc = [_epoch_acc(r) for r in result.history]
        self._redraw_timer.stop()
        if len(self._steps) < min(2, len(result.history)):  # a fast run whose step reports were coalesced away
            # (one point or none): the epochs' own figures
            self._steps = [r.step for r in result.history]
            self._loss = [float(r.loss) for r in result.history]
            self._acc = [float(r.train_acc) for r in result.history]
            finite = [v for v in self._loss if math.isfinite(v)]
            self._loss_lo, self._loss_hi = (min(finite), max(finite)) if finite else (None, None)
        self._redraw()
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.last_checkpoint = result.checkpoint
        base = self.name.text().strip() or f"{self._base_label()} (trained, {self._dataset_title()})"
        name = Session.unique_name(self.session.models, base)
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
    def reject(self) -> None:  # Esc: cancel a running training first (Cancel's shortcut), close otherwise
        if self.is_running():
            self.cancel()
            return
        super().reject()

    @qt_override
    def closeEvent(self, event) -> None:  # noqa: N802
        if self.is_running():
            if not self.confirm_stop():
                event.ignore()  # "No": the run goes on, the window stays
                return
            self.cancel()
            # "Yes": stop and close. QDialog.closeEvent would call our reject (Esc's), which only cancels while the
            # run winds down, and the window stayed open
            super().reject()
            event.accept()
            return
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self.worker is not None:
            self.worker.stop()
