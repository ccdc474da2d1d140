"""The Probe workspace: how good are a backbone's frozen features? Train a linear head on them and compare.

Left: the dataset (browser with samples and class counts, subset size). Middle: the models to probe (checkable,
each tagged random / hand-designed / trained), the probe settings, the run box. Right: live training curves, the
selected run's results, the comparison over runs, and the stored history below. On a window too narrow for the
three (below ~1,240 px), left and middle are two tabs of one column (``widgets.common.reflow.Reflow``).

Runs go through ``widgets.probe.runner.ProbeQueue``: one worker at a time, each storing its finished run in the
history from the worker thread; the views read typed ``RunView`` records (``widgets.probe.model``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QGroupBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.session import Session
from widgets.common.reflow import Reflow
from widgets.common.settings import read_state
from widgets.common.turns import Turns
from widgets.common.worker import WorkerPool
from widgets.common.workspace import install_shortcut, run_steps
from widgets.probe.compare import CompareView
from widgets.probe.compare_feed import CompareFeed
from widgets.probe.curves import CurvesView
from widgets.probe.data_download import DataDownload
from widgets.probe import persist
from widgets.probe.dataset_panel import make_dataset_panel, zoo_specs
from widgets.probe.gallery_loader import GalleryLoader
from widgets.probe.history_panel import HistoryPanel
from widgets.probe.batch import BatchRuns
from widgets.probe.readiness import RunReadiness
from widgets.probe.results import ResultsView
from widgets.probe.run_panel import TRAIN_KEY
from widgets.probe.runner import ProbeQueue
from widgets.probe.setup_column import SetupColumn


class ProbeWorkspace(BatchRuns, RunReadiness, QWidget):
    runStored = Signal(int)  # a finished run was saved to the history (its id)
    batchDone = Signal()  # the queue of runs ended (finished, failed or cancelled)

    STEPWISE = True  # built in a few steps (widgets.common.workspace): the start-up never blocks for all of it

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.pool = WorkerPool(self)
        self.queue = ProbeQueue(self.pool, self)
        self._last_stored: int | None = None
        self._last_finished = None  # the batch's last finished run (a RunView; stored or not)
        self.turns = Turns(self)  # a run's end: the views updated one per event-loop turn (issue 14)
        self._restoring = True
        self._preset_specs: dict[str, Any] = {}  # label -> ModelSpec of the presets chosen (app.probe.presets)
        self.build_steps = self._build(session, settings)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Session, settings: QSettings):
        """The views first (one step per plot: they are the slow part), the model list and settings, the tabs, then
        the dataset browser with the wiring in one step (the browser refreshes itself on the next event-loop turn:
        everything that listens to it is connected before)."""
        self.history_panel = HistoryPanel()  # first: its message (file unreadable) goes into the banner
        self.queue.history_path = self.history_panel.path
        yield
        self.curves = CurvesView(stepwise=True)
        yield from self.curves.build_steps  # one plot per step
        yield  # its last plot and the next view's first one apart (issue 14: 2 plots, 40-75 ms at load 2-3)
        self.results = ResultsView(stepwise=True)
        yield from self.results.build_steps  # one plot per step
        yield
        self.compare = CompareView()
        self.compare_feed = CompareFeed(self.history_panel, self.compare, self.turns)
        yield
        # the models, the probe's settings (scrolled on a short window) and the run box below them, in view
        self.middle_column = middle_column = SetupColumn()
        self.models, self.probe_settings = middle_column.models, middle_column.probe_settings
        self.run_panel, self.middle_scroll = middle_column.run_panel, middle_column.middle_scroll
        rp = self.run_panel
        self.train_btn, self.cancel_btn, self.baseline_btn = rp.train_btn, rp.cancel_btn, rp.baseline_btn
        self.progress, self.stage, self.banner = rp.progress, rp.stage, rp.banner
        yield
        self.tabs = QTabWidget()
        self.gallery = GalleryLoader(self.pool, self.results, self)
        for view, title, tip in ((self.curves, "Training", "Loss and accuracy while the heads train"),
                                 (self.results, "Results", "The selected run: top-k accuracy, per-class accuracy, "
                                                           "confusion, mistakes"),
                                 (self.compare, "Compare", "Every run on this dataset side by side (mean ± std over "
                                                           "seeds) and what each compared")):
            self.tabs.setTabToolTip(self.tabs.addTab(view, title), tip)
        self.history_table = self.history_panel.table
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.tabs)
        right.addWidget(self.history_panel)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([600, 240])
        yield
        self.data_box = data_box = QGroupBox("1 · Dataset")  # its first load starts once it is wired up
        QVBoxLayout(data_box).addWidget(browser := make_dataset_panel(settings, self, auto_load=False))
        self.browser = browser
        yield  # issue 14: the browser (a plot, its samples view) and the wiring below were one step of 45-75 ms
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for i, w in enumerate((data_box, middle_column, right)):
            self.splitter.addWidget(w)
            self.splitter.setStretchFactor(i, 1 if i == 2 else 0)
        self.splitter.setSizes([360, 320, 720])
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.splitter)
        # a narrow window (below ~1,230 px): the dataset and the models/settings columns become two tabs
        self.reflow = Reflow(self, self.splitter, (data_box, middle_column), ("1 · Dataset", "2 · Models and probe"),
                             ("The dataset, its samples and class counts, the subset size",
                              "The models to probe, the probe's settings and the Train button"))
        self.reflow.changed.connect(lambda tabs: data_box.setTitle("" if tabs else "1 · Dataset"))  # the tab says it
        self.reflow.changed.connect(self._download_tab_title)

        # the chosen dataset's Download under Train (the browser's download; Train comes on when it is here)
        self.data_download = DataDownload(browser, rp, self)
        self.data_download.changed.connect(self._on_data_changed)
        self.data_download.changed.connect(self._download_tab_title)
        self.data_download.progress.connect(self._download_tab_title)
        self.train_btn.clicked.connect(self.train)
        self.cancel_btn.clicked.connect(self.cancel)
        self.baseline_btn.clicked.connect(self.add_baseline)
        self.live_head: str | None = None  # the shown run's stored head (app.probe.head_export), for "Use in Live"
        rp.live_btn.clicked.connect(self.use_in_live)
        for key in ("Ctrl+Return", "Ctrl+Enter"):
            install_shortcut(self, key, self.train, "Train")
        install_shortcut(self, "Esc", self.cancel, "Cancel")
        # one Esc in this workspace (two would be ambiguous and neither would fire): the Probe's cancels the run,
        # else the dataset browser's load or download
        for sc in self.browser.findChildren(QShortcut):
            if sc.key().matches(QKeySequence("Esc")) == QKeySequence.SequenceMatch.ExactMatch:
                sc.setEnabled(False)
        self.queue.jobStarted.connect(self._on_job_started)
        self.queue.progress.connect(self._on_progress)
        self.queue.runFinished.connect(self._on_run_finished)
        self.queue.batchDone.connect(self._finish_batch)
        self.browser.datasetChanged.connect(self._on_dataset)
        self.browser.subsetChanged.connect(lambda _n: self._save_settings())
        self.models.checkedChanged.connect(self._on_models_checked)
        self.probe_settings.changed.connect(self._save_settings)
        self.probe_settings.changed.connect(self._idle_text)  # a caveat of the test-time views on this dataset
        self.history_panel.openRequested.connect(self.open_run)
        self.history_panel.table.rerunRequested.connect(self.rerun)
        self.history_panel.changed.connect(self._on_runs_deleted)
        self.history_panel.message.connect(self.banner.show_message)
        self._unsubscribe = session.subscribe(self._on_session)

        self._refresh_models(checked=[])
        self.models.set_checked(persist.saved_models(settings, self.models.labels()))
        self.probe_settings.restore(settings)
        persist.restore_history_sort(settings, self.history_table)
        self.history_table.sortChanged.connect(lambda col, desc: persist.save_history_sort(settings, col, desc))
        if self.probe_settings.preset_name():  # its model too, checked as it was
            self._add_preset_model(self.probe_settings.preset_name())
            self.models.set_checked(persist.saved_models(settings, self.models.labels()))
        self.probe_settings.presetChosen.connect(self._on_preset)
        persist.restore_dataset(settings, self.browser)
        state = read_state(settings, "probe/splitter")  # an empty or edited value: the splitter as built
        if state is not None:
            self.splitter.restoreState(state)
        self.splitter.splitterMoved.connect(lambda *_: self._save_settings())
        browser.load_first()
        yield  # the history and the comparison filled on a turn of their own (the browser's refresh may come first)
        self._restoring = False
        self.refresh_history()
        self.turns.later(self.refresh_compare)  # on a turn of its own: with 1,000 stored runs each takes ~30-40 ms
        self._update_buttons()
        self._idle_text()
        if self.history_panel.open_message:
            self.banner.show_message(self.history_panel.open_message)
        if len(self.history_panel):
            self.tabs.setCurrentWidget(self.compare)

    def _download_tab_title(self, *_a) -> None:
        """On a narrow window (the Reflow tabs) the Dataset tab says how far a running download is ("1 · Dataset ·
        45%"): on the other tab its bars are out of view (the one beside the run box's Download is in view there)."""
        tabs = self.reflow.tabs
        i = tabs.indexOf(self.data_box)
        if i < 0:
            return
        title = self.reflow.titles[0]
        if self.data_download.running():
            pct = self.run_panel.download_bar.percent()
            title += f" · {pct}%" if pct is not None else " · downloading"
        if tabs.tabText(i) != title:
            tabs.setTabText(i, title)

    @property
    def history(self):
        """The history database (reads only on this thread; None when it could not be opened)."""
        return self.history_panel.history

    # --- settings -----------------------------------------------------------------------------------------------
    @Slot()
    def _save_settings(self) -> None:
        if not self._restoring:
            persist.save(self.settings, self.dataset_name(), self.browser, self.models.checked_labels(),
                         None if self.reflow.narrow else self.splitter, self.probe_settings)

    # --- state helpers ----------------------------------------------------------------------------------------
    def dataset_name(self) -> str:
        return str(self.browser.dataset_name or "").strip()

    def data_root(self) -> str | None:
        root = self.browser.data_root
        return str(root) if root else None

    def train_limit(self) -> int | None:
        return int(self.browser.subset_size or 0) or None

    def is_running(self) -> bool:
        return self.queue.is_running()

    # --- models and dataset -----------------------------------------------------------------------------------
    def _refresh_models(self, checked: list[str] | None = None) -> None:
        specs = [(getattr(s, "label", "") or s.backbone, s, "zoo") for s in zoo_specs()]
        specs += [(name, spec, "session") for name, spec in self.session.models.items()]
        specs += [(label, spec, "preset") for label, spec in self._preset_specs.items()]
        self.models.set_specs(specs, checked=checked)

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "models":
            self._refresh_models()

    def _add_preset_model(self, name: str) -> str:
        from app.probe.presets import model_spec

        spec = model_spec(name)
        self._preset_specs[spec.label] = spec
        self._refresh_models()
        return spec.label

    @Slot(str)
    def _on_preset(self, name: str) -> None:
        """A preset fixes the backbone too: its model is added to the list and is the one checked."""
        self.models.set_checked([self._add_preset_model(name)])

    @Slot(list)
    def _on_models_checked(self, labels: list[str]) -> None:
        self._update_buttons()
        self._idle_text()
        self._save_settings()

    @Slot(str)
    def _on_dataset(self, name: str) -> None:
        self._save_settings()
        self._update_buttons()
        self.refresh_compare()
        self._idle_text()

    def _set_live_head(self, run) -> None:
        raw = getattr(run, "raw", None) or {}  # a RunView: the stored record
        path = (raw.get("settings") or getattr(run, "settings", None) or {}).get("head_file")
        self.live_head = path if path and Path(path).exists() else None
        self.run_panel.live_btn.setEnabled(self.live_head is not None)

    @Slot()
    def use_in_live(self) -> None:
        """Live shows this run's head predicting, on a pane with its backbone (the main window switches there)."""
        if self.live_head:
            self.session.request("live-head", self.live_head)

    # --- history ----------------------------------------------------------------------------------------------
    def refresh_history(self, select: int | None = None) -> None:
        self.history_panel.refresh(select)

    def refresh_compare(self) -> None:
        """The comparison of the current dataset's stored runs, read on turns of their own where many are new
        (``CompareFeed``)."""
        self.compare_feed.refresh(self.dataset_name())

    @Slot()
    def _on_runs_deleted(self) -> None:
        run = self.results.run
        if run is not None and run.run_id not in self.history_panel.table.ids():
            self.results.clear()
            self._set_live_head(None)  # "Use in Live" offered the deleted run's head
        self.refresh_compare()

    @Slot(int)
    def open_run(self, run_id: int, show_curves: bool = True) -> None:
        run = self.history_panel.load(run_id)
        if run is None:
            return
        self.results.show_run(run)
        self._set_live_head(run)
        if show_curves and not self.is_running():
            self.curves.show_run(run.label, list(run.curves), run.curve_text())
            self.curves.stop()
            if self.tabs.currentWidget() is self.curves:
                self.tabs.setCurrentWidget(self.results)
        self.gallery.load(run)

    # --- workspace protocol -----------------------------------------------------------------------------------
    def shortcuts(self) -> list[str]:
        # the browser's Esc is off here (one Esc: the Probe's, which falls back to the browser's cancel)
        own = [line for line in self.browser.shortcuts() if not line.startswith("Esc:")]
        return [f"{TRAIN_KEY}: train the checked models",
                "Esc: cancel the running probe, else the dataset's load or download",
                "Delete: delete the selected history runs"] + own

    def set_active(self, active: bool) -> None:
        pass  # the shortcuts are window-wide and follow visibility (install_shortcut)

    def wait_ready(self, ms: int) -> None:
        self.browser.wait_ready(ms)

    def shutdown(self) -> None:
        """Cancel the running probe and the queue, join every worker, close the history (called on close)."""
        self.turns.stop()
        self.queue.cancel()
        self.pool.shutdown()
        self.queue.forget()
        self.gallery.forget()
        self.curves.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.browser.shutdown()
        self.history_panel.close_history()

