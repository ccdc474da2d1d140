"""The Probe workspace: how good are a backbone's frozen features? Train a linear head on them and compare.

Left: the dataset (browser with samples and class counts, subset size). Middle: the models to probe (checkable,
each tagged random / hand-designed / trained), the probe settings, Train / Cancel with progress. Right: live
training curves, the selected run's results, the comparison over runs, and the stored history below.

Runs are ``app.probe.run.run_probe`` generators executed one after another by ``widgets.common.worker`` workers; each
finished run is stored at once in ``app.probe.history.History`` (SQLite) before anything else happens.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import torch  # noqa: F401  (torch before Qt: this module also runs as a script)
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.probe.config import HEADS, POOLINGS, ProbeConfig
from app.probe.history import History, HistoryError, compare_groups, open_history
from app.session import Session
from widgets.probe.panels import Banner, HistoryTable, ModelList, ProbeSettings
from widgets.probe.views import CompareView, CurvesView, ResultsView
from widgets.common.worker import Worker, WorkerPool


# --- the dataset panel: the data helper's browser when present, else a plain chooser --------------------------
class PlainDatasetPanel(QWidget):
    """Dataset + training subset size (used where ``widgets.data.browser.DatasetBrowser`` is not available)."""

    datasetChanged = Signal(str)
    subsetChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.addItems(["digits", "mnist", "fashion-mnist", "cifar10"])
        self.combo.setToolTip("The dataset to probe on (or imagefolder:/path/to/folder)")
        form.addRow("Dataset", self.combo)
        self.subset = QSpinBox()
        self.subset.setRange(0, 1_000_000)
        self.subset.setSingleStep(500)
        self.subset.setSpecialValueText("all")
        self.subset.setToolTip("Train the head on a seeded subset of the training split (all = every image)")
        form.addRow("Train subset", self.subset)
        self._root: str | None = None
        self.combo.currentTextChanged.connect(self.datasetChanged)
        self.subset.valueChanged.connect(self.subsetChanged)

    @property
    def dataset_name(self) -> str:
        return self.combo.currentText().strip()

    @dataset_name.setter
    def dataset_name(self, name: str) -> None:
        self.combo.setCurrentText(name)

    @property
    def subset_size(self) -> int:
        return self.subset.value()

    @subset_size.setter
    def subset_size(self, n: int) -> None:
        self.subset.setValue(int(n))

    @property
    def data_root(self) -> str | None:
        return self._root

    @data_root.setter
    def data_root(self, root: str | None) -> None:
        self._root = root


def _make_dataset_panel(settings: QSettings, parent: QWidget) -> QWidget:
    try:
        from widgets.data.browser import DatasetBrowser
    except ModuleNotFoundError as exc:
        if exc.name not in ("widgets.data.browser", "widgets.data"):
            raise
        return PlainDatasetPanel(parent)
    import inspect

    params = inspect.signature(DatasetBrowser.__init__).parameters
    if "settings" in params:
        return DatasetBrowser(settings=settings, parent=parent)
    return DatasetBrowser(parent=parent)


def _zoo_specs() -> list[Any]:
    try:
        from app.models.zoo import default_specs
    except ModuleNotFoundError as exc:
        if exc.name != "app.models.zoo":
            raise
        from app.models.spec import ModelSpec

        return [ModelSpec.make("simple", label="simple (random)")]
    return list(default_specs())


@dataclasses.dataclass(frozen=True)
class Job:
    kind: str  # "probe" or "baseline"
    config: ProbeConfig
    title: str


class ProbeWorkspace(QWidget):
    runStored = Signal(int)  # a finished run was saved to the history (its id)
    batchDone = Signal()  # the queue of runs ended (finished, failed or cancelled)

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.pool = WorkerPool(self)
        self._queue: list[Job] = []
        self._job: Job | None = None
        self._job_index = 0
        self._job_total = 0
        self._worker: Worker | None = None
        self._gallery_worker: Worker | None = None
        self._failures: list[str] = []
        self._last_stored: int | None = None
        self._restoring = True

        # history first: its message (if the file was unreadable) goes into the banner below
        self.history: History | None
        history_msg = None
        try:
            self.history, history_msg = open_history()
        except HistoryError as exc:
            self.history = None
            history_msg = f"{exc}\nRuns of this session will not be stored."

        # --- left: dataset ----
        data_box = QGroupBox("1 · Dataset")
        dl = QVBoxLayout(data_box)
        self.browser = _make_dataset_panel(settings, self)
        dl.addWidget(self.browser)

        # --- middle: models, settings, run ----
        models_box = QGroupBox("2 · Models")
        ml = QVBoxLayout(models_box)
        self.models = ModelList()
        ml.addWidget(self.models)
        self.models_hint = QLabel("Check one or more. Models you build in the Models workspace appear here too.")
        self.models_hint.setWordWrap(True)
        self.models_hint.setStyleSheet("color: #5b6472;")
        ml.addWidget(self.models_hint)

        probe_box = QGroupBox("3 · Linear probe")
        pl = QVBoxLayout(probe_box)
        self.probe_settings = ProbeSettings(HEADS, POOLINGS)
        pl.addWidget(self.probe_settings)

        run_box = QGroupBox("4 · Run")
        rl = QVBoxLayout(run_box)
        buttons = QHBoxLayout()
        self.train_btn = QPushButton("Train")
        self.train_btn.setDefault(True)
        self.train_btn.setToolTip("Train a head on each checked model's frozen features, one after another "
                                  "(Ctrl+Enter)")
        self.train_btn.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 18px; }")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running job and drop the queued ones (Esc)")
        self.cancel_btn.setEnabled(False)
        self.baseline_btn = QPushButton("Add trained baseline")
        self.baseline_btn.setToolTip("Evaluate each checked trained model with its OWN classifier on this dataset's "
                                     "test split:\nthe fully trained reference the probes are compared with")
        buttons.addWidget(self.train_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addStretch(1)
        rl.addLayout(buttons)
        rl.addWidget(self.baseline_btn)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setToolTip("Progress of the whole batch of runs")
        rl.addWidget(self.progress)
        self.stage = QLabel("Ready.")
        self.stage.setWordWrap(True)
        self.stage.setStyleSheet("color: #334;")
        rl.addWidget(self.stage)
        self.banner = Banner()
        rl.addWidget(self.banner)

        middle = QWidget()
        mid = QVBoxLayout(middle)
        mid.setContentsMargins(0, 0, 0, 0)
        mid.addWidget(models_box, 3)
        mid.addWidget(probe_box, 0)
        mid.addWidget(run_box, 0)

        # --- right: views + history ----
        self.tabs = QTabWidget()
        self.curves = CurvesView()
        self.results = ResultsView()
        self.compare = CompareView()
        self.tabs.addTab(self.curves, "Training")
        self.tabs.addTab(self.results, "Results")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.setTabToolTip(0, "Loss and accuracy while the heads train")
        self.tabs.setTabToolTip(1, "The selected run: top-k accuracy, per-class accuracy, confusion, mistakes")
        self.tabs.setTabToolTip(2, "Every run on this dataset side by side (mean ± std over seeds)")
        history_box = QGroupBox("History")
        hl = QVBoxLayout(history_box)
        self.history_table = HistoryTable()
        hl.addWidget(self.history_table)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.tabs)
        right.addWidget(history_box)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([600, 240])

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(data_box)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setStretchFactor(2, 1)
        self.splitter.setSizes([360, 320, 720])
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.splitter)

        # --- wiring ----
        self.train_btn.clicked.connect(self.train)
        self.cancel_btn.clicked.connect(self.cancel)
        self.baseline_btn.clicked.connect(self.add_baseline)
        for seq in ("Ctrl+Return", "Ctrl+Enter"):
            sc = QShortcut(QKeySequence(seq), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(self.train)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        esc.activated.connect(self.cancel)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.history_table.table)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(lambda: self.delete_runs(self.history_table.selected_ids()))
        self.browser.datasetChanged.connect(self._on_dataset)
        self.browser.subsetChanged.connect(lambda _n: self._save_settings())
        self.models.checkedChanged.connect(self._on_models_checked)
        self.probe_settings.changed.connect(self._save_settings)
        self.history_table.openRequested.connect(self.open_run)
        self.history_table.deleteRequested.connect(self.delete_runs)
        self.history_table.exportRequested.connect(self.export_runs)
        self._unsubscribe = session.subscribe(self._on_session)

        self._refresh_models(checked=[])
        self.models.set_checked(self._saved_models())
        self.probe_settings.restore(settings)
        self._restore_dataset()
        state = settings.value("probe/splitter")
        if state is not None:
            self.splitter.restoreState(state)
        self.splitter.splitterMoved.connect(lambda *_: self._save_settings())
        self._restoring = False
        self.refresh_history()
        self.refresh_compare()
        self._update_buttons()
        self._idle_text()
        if history_msg:
            self.banner.show_message(history_msg)
        if self.history is not None and len(self.history):
            self.tabs.setCurrentWidget(self.compare)

    # --- settings -----------------------------------------------------------------------------------------------
    def _saved_models(self) -> list[str]:
        v = self.settings.value("probe/models")
        if v is None:  # first launch: a random backbone beside a trained one, ready to compare
            trained = [label for label in self.models.labels() if "(trained, MNIST)" in label]
            return ["simple (random)"] + trained[:1]
        if isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                v = [v]
        return [str(x) for x in v] if isinstance(v, list) else []

    def _restore_dataset(self) -> None:
        name = self.settings.value("probe/dataset")
        subset = self.settings.value("probe/subset")
        try:
            if name:
                self.browser.dataset_name = str(name)
            if subset is not None:
                self.browser.subset_size = int(subset)
        except (AttributeError, ValueError, TypeError):
            pass  # a browser without setters keeps its own remembered state

    @Slot()
    def _save_settings(self) -> None:
        if self._restoring:
            return
        s = self.settings
        s.setValue("probe/dataset", self.dataset_name())
        s.setValue("probe/subset", int(getattr(self.browser, "subset_size", 0) or 0))
        s.setValue("probe/models", json.dumps(self.models.checked_labels()))
        s.setValue("probe/splitter", self.splitter.saveState())
        self.probe_settings.save(s)

    # --- state helpers ----------------------------------------------------------------------------------------
    def dataset_name(self) -> str:
        return str(self.browser.dataset_name or "").strip()

    def data_root(self) -> str | None:
        root = getattr(self.browser, "data_root", None)
        return str(root) if root else None

    def train_limit(self) -> int | None:
        n = int(getattr(self.browser, "subset_size", 0) or 0)
        return n or None

    def is_running(self) -> bool:
        return self._worker is not None or bool(self._queue)

    def _update_buttons(self) -> None:
        running = self.is_running()
        has_models = bool(self.models.checked_labels())
        self.train_btn.setEnabled(not running and has_models)
        self.baseline_btn.setEnabled(not running and any(
            getattr(s, "weight_state", "") == "trained" for s in self.models.checked_specs()))
        self.cancel_btn.setEnabled(running)

    def _idle_text(self) -> None:
        if self.is_running():
            return
        n = len(self.models.checked_labels())
        self.stage.setText(f"Ready: press Train (Ctrl+Enter) to probe the {n} checked model{'s' if n != 1 else ''}."
                           if n else "Pick models and press Train (Ctrl+Enter).")

    # --- models ---------------------------------------------------------------------------------------------
    def _refresh_models(self, checked: list[str] | None = None) -> None:
        specs = [(getattr(s, "label", "") or s.backbone, s, "zoo") for s in _zoo_specs()]
        for name, spec in self.session.models.items():
            specs.append((name, spec, "session"))
        self.models.set_specs(specs, checked=checked)

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "models":
            self._refresh_models()

    @Slot(list)
    def _on_models_checked(self, labels: list[str]) -> None:
        self._update_buttons()
        self._idle_text()
        self._save_settings()

    @Slot(str)
    def _on_dataset(self, name: str) -> None:
        self._save_settings()
        self.refresh_compare()

    # --- running ----------------------------------------------------------------------------------------------
    def _configs(self) -> list[Job]:
        dataset = self.dataset_name()
        ps = self.probe_settings
        head = ps.head_name()
        options = tuple(sorted(ps.head_options(head).items()))
        jobs = []
        for spec in self.models.checked_specs():
            for seed in range(ps.seeds.value()):
                # several seeds: another random initialisation (nothing to vary for trained weights) and subset
                model = spec if spec.weight_state == "trained" else dataclasses.replace(spec, seed=spec.seed + seed)
                cfg = ProbeConfig(model=model, dataset=dataset, data_root=self.data_root(), layer=ps.layer_value(),
                                  pooling=ps.pooling_value(), head=head, train_limit=self.train_limit(),
                                  test_limit=ps.test_limit_value(), seed=seed, head_options=options)
                title = spec.label + (f" · seed {seed}" if ps.seeds.value() > 1 else "")
                jobs.append(Job("probe", cfg, title))
        return jobs

    @Slot()
    def train(self) -> None:
        if self.is_running():
            return
        if not self.dataset_name():
            self.banner.show_message("Choose a dataset first.")
            return
        jobs = self._configs()
        if not jobs:
            self.banner.show_message("Check at least one model in the list to train a probe on its features.")
            return
        self._start_batch(jobs)

    @Slot()
    def add_baseline(self) -> None:
        if self.is_running():
            return
        trained = [s for s in self.models.checked_specs() if s.weight_state == "trained"]
        if not trained:
            self.banner.show_message("Check a trained model (e.g. 'lenet5 (trained, MNIST)') first: the baseline "
                                     "is its own classifier on this dataset.", "note")
            return
        jobs = [Job("baseline", ProbeConfig(model=s, dataset=self.dataset_name(), data_root=self.data_root(),
                                            head="own", test_limit=self.probe_settings.test_limit_value()),
                    f"{s.label} · own classifier") for s in trained]
        self._start_batch(jobs)

    def _start_batch(self, jobs: list[Job]) -> None:
        self.banner.hide()
        self._failures = []
        self._last_stored = None
        self._queue = list(jobs)
        self._job_index = 0
        self._job_total = len(jobs)
        self.curves.clear()
        self.progress.setValue(0)
        self.tabs.setCurrentWidget(self.curves)
        self._save_settings()
        self._start_next()

    def _start_next(self) -> None:
        if not self._queue:
            self._finish_batch()
            return
        job = self._queue.pop(0)
        self._job = job
        self._job_index += 1
        self.curves.add_run(self._job_index, job.title)
        self.stage.setText(f"{self._job_index}/{self._job_total} · {job.title}: starting")
        cfg = job.config
        if job.kind == "baseline":
            from app.probe.run import evaluate_model

            def make(token, cfg=cfg):
                return evaluate_model(cfg.model, cfg.dataset, cfg.data_root, cfg.test_limit, cancel=token)
        else:
            from app.probe.run import run_probe

            def make(token, cfg=cfg):
                return run_probe(cfg, cancel=token)

        w = self.pool.start(make, name=f"probe {job.title}")
        w.progress.connect(self._on_progress)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.cancelled.connect(self._on_cancelled)
        self._worker = w
        self._update_buttons()

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        frac = p.fraction
        within = frac if frac is not None else 0.0
        overall = (self._job_index - 1 + within) / max(1, self._job_total)
        self.progress.setValue(int(1000 * overall))
        if self._job is not None:
            self.stage.setText(f"{self._job_index}/{self._job_total} · {self._job.title}: {p.message}")
        if p.payload is not None and hasattr(p.payload, "loss"):
            self.curves.add_point(self._job_index, p.payload)

    @Slot(object)
    def _on_finished(self, result: Any) -> None:
        self._worker = None
        d = result.to_dict()
        self.curves.set_curves(self._job_index, d.get("curves") or [])
        run_id = None
        if self.history is not None:
            try:
                run_id = self.history.add(result)  # committed before anything else happens
            except HistoryError as exc:
                self._failures.append(f"the run finished ({100 * result.top1:.1f}% top-1) but could not be "
                                      f"stored: {exc}")
        if run_id is not None:
            d["id"] = run_id
            self._last_stored = run_id
            self.runStored.emit(run_id)
        self._last_result = d
        self.results.show_run(d)
        self.refresh_history(select=None)
        self.refresh_compare()
        self._start_next()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._worker = None
        job = self._job
        what = f"{job.title} on '{job.config.dataset}'" if job else "the run"
        self._failures.append(f"{what} failed: {message}")
        self._start_next()  # the other queued runs still go ahead

    @Slot()
    def _on_cancelled(self) -> None:
        self._worker = None
        self._queue.clear()
        self._finish_batch(cancelled=True)

    def _finish_batch(self, cancelled: bool = False) -> None:
        self._job = None
        self.curves.stop()
        n_ok = self._job_total - len(self._failures)
        if cancelled:
            self.stage.setText("Cancelled. Finished runs were kept in the history.")
        elif self._failures:
            self.stage.setText(f"Done: {max(0, n_ok)} of {self._job_total} runs finished.")
        else:
            self.progress.setValue(1000)
            self.stage.setText(f"Done: {self._job_total} run{'s' if self._job_total != 1 else ''} finished. "
                               "See Compare for the accuracies side by side.")
        if self._failures:
            self.banner.show_message("\n".join(self._failures))
        if not cancelled and n_ok > 0 and self._job_total > 1:
            self.tabs.setCurrentWidget(self.compare)
        elif not cancelled and n_ok > 0:
            self.tabs.setCurrentWidget(self.results)
        if self._last_stored is not None and not cancelled:
            # show that run's results and gallery, keeping the whole batch's curves on the Training tab
            self.history_table.table.blockSignals(True)
            self.history_table.select_id(self._last_stored)
            self.history_table.table.blockSignals(False)
            self.history_table._on_selection(emit=False)
            self.open_run(self._last_stored, show_curves=False)
        self._update_buttons()
        self.batchDone.emit()

    @Slot()
    def cancel(self) -> None:
        self._queue.clear()
        if self._worker is not None:
            self.stage.setText("Cancelling…")
            self._worker.cancel()

    # --- history ----------------------------------------------------------------------------------------------
    def refresh_history(self, select: int | None = None) -> None:
        runs = []
        if self.history is not None:
            try:
                runs = self.history.list()
            except HistoryError as exc:
                self.banner.show_message(str(exc))
        self.history_table.set_runs(runs, select=select)

    def refresh_compare(self) -> None:
        dataset = self.dataset_name()
        runs = []
        if self.history is not None:
            try:
                runs = self.history.list(dataset=dataset)
            except HistoryError as exc:
                self.banner.show_message(str(exc))
        self.compare.set_groups(compare_groups(runs), dataset)

    @Slot(int)
    def open_run(self, run_id: int, show_curves: bool = True) -> None:
        if self.history is None:
            return
        try:
            d = self.history.get(run_id)
        except (KeyError, HistoryError) as exc:
            self.banner.show_message(f"Cannot open run {run_id}: {exc}")
            return
        self.results.show_run(d)
        if show_curves and not self.is_running():
            model = (d.get("config") or {}).get("model") or {}
            self.curves.show_run(model.get("label", "run"), d.get("curves") or [])
            self.curves.stop()
            if self.tabs.currentWidget() is self.curves:
                self.tabs.setCurrentWidget(self.results)
        self._load_gallery(d)

    def _load_gallery(self, d: dict) -> None:
        from app.probe.gallery import misclassified_gallery

        if self._gallery_worker is not None:
            self._gallery_worker.cancel()
        if not d.get("misclassified"):
            self.results.set_gallery(None, "no misclassified examples" if "misclassified" in d else "")
            return
        w = self.pool.start(lambda token, d=d: misclassified_gallery(d, limit=40, cols=10, cancel=token),
                            name="gallery")
        w.finished.connect(self._on_gallery)
        w.failed.connect(self._on_gallery_failed)
        self._gallery_worker = w
        self._gallery_for = d.get("id")

    @Slot(object)
    def _on_gallery(self, gallery: Any) -> None:
        if self.sender() is not self._gallery_worker:
            return
        self._gallery_worker = None
        self.results.set_gallery(gallery)

    @Slot(str)
    def _on_gallery_failed(self, message: str) -> None:
        if self.sender() is not self._gallery_worker:
            return
        self._gallery_worker = None
        self.results.set_gallery(None, f"Misclassified examples unavailable: {message}")

    @Slot(list)
    def delete_runs(self, ids: list[int]) -> None:
        if self.history is None or not ids:
            return
        n = len(ids)
        answer = QMessageBox.question(
            self, "Delete runs",
            f"Delete {n} run{'s' if n != 1 else ''} from the history?\nThis cannot be undone (export them first "
            "to keep a copy).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.history.delete(ids)
        except HistoryError as exc:
            self.banner.show_message(str(exc))
        if self.results.run is not None and self.results.run.get("id") in ids:
            self.results.stack.setCurrentIndex(0)
            self.results.run = None
        self.refresh_history()
        self.refresh_compare()

    @Slot(str, list)
    def export_runs(self, fmt: str, ids: list[int]) -> None:
        if self.history is None:
            return
        what = f"{len(ids)} selected run{'s' if len(ids) != 1 else ''}" if ids else "all runs"
        default = str(paths.user_files() / f"probe-runs.{fmt}")
        filt = "CSV files (*.csv)" if fmt == "csv" else "JSON files (*.json)"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {what} as {fmt.upper()}", default, filt)
        if not path:
            return
        try:
            if fmt == "csv":
                self.history.export_csv(path, ids or None)
            else:
                self.history.export_json(path, ids or None)
        except (OSError, KeyError, HistoryError) as exc:
            self.banner.show_message(f"Export to {path} failed: {exc}")
            return
        self.banner.show_message(f"Exported {what} to {path}", "note")

    # --- workspace protocol -----------------------------------------------------------------------------------
    def shortcuts(self) -> list[str]:
        return ["Ctrl+Enter: train the checked models", "Esc: cancel the running probe",
                "Delete: delete the selected history runs"]

    def set_active(self, active: bool) -> None:
        pass

    def wait_ready(self, ms: int) -> None:
        fn = getattr(self.browser, "wait_ready", None)
        if callable(fn):
            fn(ms)
            return
        timer = QElapsedTimer()
        timer.start()
        while timer.elapsed() < ms:
            QApplication.processEvents()

    def shutdown(self) -> None:
        """Cancel the running probe and the queue, join every worker, close the history (called on close)."""
        self._queue.clear()
        self.pool.shutdown()
        self._worker = None
        self._gallery_worker = None
        self.curves.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        fn = getattr(self.browser, "shutdown", None)
        if callable(fn):
            fn()
        if self.history is not None:
            self.history.close()
            self.history = None


def _demo(argv: list[str] | None = None) -> int:
    """``python -m widgets.probe.workspace``: the workspace alone. ``--time`` runs the first-use path headless
    (digits, a random and a trained backbone, default settings, through the real widgets) and prints timings."""
    import argparse
    import os
    import sys
    import time

    ap = argparse.ArgumentParser(prog="python -m widgets.probe.workspace")
    ap.add_argument("--time", action="store_true", help="run digits: simple (random) vs a trained model; print")
    ap.add_argument("--subset", type=int, default=0, help="training images (0 = all)")
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args(argv)
    if args.time:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app import device
    from widgets.application import make_app

    device.configure_threads(None)
    app = make_app()
    s = QSettings(str(paths.settings_file()), QSettings.Format.IniFormat)
    ws = ProbeWorkspace(Session(), s)
    ws.resize(1400, 860)
    ws.show()
    if not args.time:
        app.exec()
        ws.shutdown()
        return 0
    ws.browser.dataset_name = "digits"
    ws.browser.subset_size = args.subset
    trained = [x for x in ws.models.labels() if "(trained, MNIST)" in x]
    ws.models.set_checked(["simple (random)"] + trained[:1])
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("logistic"))
    ws.probe_settings.editor("logistic", "epochs").setValue(args.epochs)
    ws.probe_settings.seeds.setValue(1)
    ws.probe_settings.test_limit.setValue(0)
    done = []
    ws.batchDone.connect(lambda: done.append(time.perf_counter()))
    t0 = time.perf_counter()
    ws.train()
    while not done:
        app.processEvents()
        time.sleep(0.002)
    print(f"models: {', '.join(ws.models.checked_labels())}; dataset digits, subset {args.subset or 'all'}, "
          f"logistic head, {args.epochs} epochs")
    print(f"Train pressed -> both accuracies in the comparison: {done[0] - t0:.1f} s (wall)")
    for g in ws.compare.groups:
        print(f"  {g.label:28s} top-1 {100 * g.top1_mean:5.1f}%  (runs {g.n_runs})")
    if ws.banner.text():
        print("message:", ws.banner.text(), file=sys.stderr)
    ws.shutdown()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_demo())
