"""The Experiments workspace: pick a recipe (shipped or a .toml file), see its grid and estimated time, Run, watch
cells fill in a live table and plot, open the report; finished experiments are listed from the store.

The run is ``app.experiments.runner.run_experiment`` in a ``widgets.common.worker.Worker``; every finished cell
arrives as a ``CellDone`` payload and updates the table and the plot. Esc cancels (finished cells stay stored).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSettings, QTimer, Slot
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from app.errors import AppError, message
from app.experiments.cell_files import pending_folders, read_signatures
from app.experiments.recipe import (Recipe, dataset_problem, load_recipe, missing_datasets, on_dataset,
                                    recipe_caveats)
from app.experiments.runner import ExperimentResult
from app.experiments.store import Store, StoreError
from widgets.common.settings import read_bool, read_int, read_str
from widgets.common.vscroll import VerticalScroll
from widgets.common.worker import Worker
from widgets.common.workspace import install_shortcut, run_steps
from widgets.experiments.history import open_report
from widgets.experiments.panels import CellTable
from widgets.experiments.plot import ExperimentPlot, point_errors
from widgets.experiments.recipe_column import INVITATION, RecipeColumn
from widgets.experiments.recipe_file import BROKEN, RecipeFile, _digest
from widgets.experiments.run_control import RunControl

BLOCKED = "Cannot run yet"  # the line under Run while the plan cannot run (``_invite``)
REPLOT_MS = 250  # the plot follows finished cells at most four times a second (the table row at once)


class ExperimentsWorkspace(RecipeFile, RunControl, QWidget):
    STEPWISE = True  # built in five steps (widgets.common.workspace): the start-up never blocks for all of it

    def __init__(self, session: Any = None, settings: QSettings | None = None, parent: QWidget | None = None,
                 store: Store | None = None, *, stepwise: bool = False) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store or Store()
        self.recipe: Recipe | None = None
        self._loaded_from: str | None = None  # the recipe file the selection last loaded
        # its contents as last read (``_reload``: an edited file is read again before the plan and a run), why it no
        # longer reads (None: it does), and the line saying it was read again (shown once)
        self._loaded_digest: str | None = None
        self._recipe_error: str | None = None
        self._reloaded_note: str | None = None
        self.worker: Worker | None = None
        # the image folders' file lists, read off the GUI thread before the plan can match stored cells (a cell's key
        # holds its folder's signature: 60,000 files held the GUI thread 0.8-2.9 s when the plan was first shown)
        self.folders: Worker | None = None
        self._folders_read: set[str] = set()
        self.result: ExperimentResult | None = None
        self._store_error: str | None = None  # the experiments database cannot be read (``_read_store``): no Run
        self._results: dict[str, dict] = {}
        self._cells: list[dict] = []
        self._running_executor: str | None = None  # the executor of the run going on (what Cancel does: CANCEL_TEXT)
        self._own_dataset = ""  # the dataset the recipe names at the size shown (the field's prefill)
        self._plot_later = True  # while built: the plan's plot is drawn on a step of its own (issue 14)
        # finished cells replot at most every REPLOT_MS (a quick grid finishes several a second): one redraw for a
        # burst of cells, each in place (``ExperimentPlot.set_series``); the table row is filled at once
        self._replot_timer = QTimer(self)
        self._replot_timer.setSingleShot(True)
        self._replot_timer.setInterval(REPLOT_MS)
        self._replot_timer.timeout.connect(self._replot)
        self.build_steps = self._build()
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self):
        """The recipe column, then the plot and table, then the wiring and the restored recipe."""
        left = RecipeColumn(self.settings, self.store)  # its widgets, named here as the workspace's own
        for name in ("recipe_combo", "open_btn", "claim", "quick", "dataset", "download_btn", "executor", "workers",
                     "plan", "caveat", "run_btn", "cancel_btn", "report_btn", "progress", "status", "history"):
            setattr(self, name, getattr(left, name))
        self.download_btn.clicked.connect(self.download)
        self.download_btn.progress.connect(self._on_download_progress)
        self.download_btn.ended.connect(self._download_ended)
        yield
        right = QSplitter()
        right.setOrientation(right.orientation().Vertical)
        self.table = CellTable()
        self.plot = ExperimentPlot()
        yield
        right.addWidget(self.plot)
        right.addWidget(self.table)
        self.plot.view_changed.connect(self._replot)
        split = QSplitter()
        # a short window scrolls the recipe column (its description, the notes) instead of cutting them off
        self.left_scroll = VerticalScroll(left)
        split.addWidget(self.left_scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

        self.recipe_combo.currentIndexChanged.connect(self._on_recipe)
        self.quick.toggled.connect(self._on_quick)
        self.dataset.changed.connect(self._on_dataset)
        self.open_btn.clicked.connect(self.open_file)
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.report_btn.clicked.connect(self.open_report)
        self.history.said.connect(self._history_said)
        install_shortcut(self, "Ctrl+Return", self.run, "Run the experiment")
        install_shortcut(self, "Esc", self.cancel, "Cancel the experiment")
        self.progress.hide()  # shown while an experiment runs (idle, it would look like a text field)
        index = self._restored_index()  # a first launch loads every recipe to find the quickest whose data is here
        yield
        self._restore(index)  # picking the recipe loads it and shows its plan (reads the store)
        yield
        if self._loaded_from != self.recipe_combo.currentData():
            self._on_recipe()  # the remembered recipe is the one already selected: not loaded yet
        yield
        self._plot_later = False
        self._replot()
        yield
        self._refresh_history()
        self._set_running(False)

    # --- the Workspace protocol ------------------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        if active:
            self._refresh_history()
            if not (self.is_running() or self.is_downloading()) and self._reload():  # the file was edited meanwhile
                self._show_plan()

    def shortcuts(self) -> list[str]:
        return ["Ctrl+Return: run the experiment", "Esc: cancel it (finished cells are kept)"]

    def wait_ready(self, ms: int) -> None:
        """Until the image folders' file lists are read and the plan matches stored cells (tests)."""
        if self.folders is not None and self.folders.is_running():
            self.folders.wait(ms)

    def shutdown(self) -> None:
        self.download_btn.stop(10000)
        if self.folders is not None and self.folders.is_running():
            self.folders.stop(10000)
        if self.worker is not None and self.worker.is_running():
            self.worker.stop(60000)
        self._save()

    # --- settings ------------------------------------------------------------------------------------------
    def _restored_index(self) -> int:
        """The recipe to select at start: the remembered one, else (first launch) the quickest whose quick size runs
        on data this machine has (not a red note); -1: leave the selection as it is."""
        if self.settings is None:
            return -1
        i = self.recipe_combo.findText(read_str(self.settings, "experiments/recipe", ""))
        return i if i >= 0 else self._quickest_runnable()

    def _restore(self, i: int) -> None:
        if self.settings is None:
            return
        if i >= 0:
            self.recipe_combo.setCurrentIndex(i)
        self.quick.setChecked(read_bool(self.settings, "experiments/quick", True))
        ex = read_str(self.settings, "experiments/executor", "inline")
        if self.executor.findText(ex) >= 0:
            self.executor.setCurrentText(ex)
        self.workers.setValue(read_int(self.settings, "experiments/workers", self.workers.value(),
                                       self.workers.minimum(), self.workers.maximum()))  # past 2**31: OverflowError
        self.plot.set_view(read_str(self.settings, "experiments/ablation_view", "change"))

    def _quickest_runnable(self) -> int:
        """The index of the shipped recipe with the shortest quick-size estimate (its cells times its measured
        seconds per cell: a few seconds on digits) among those whose quick cells find their data
        (``dataset_problem``); the first in the list on a tie, a recipe without an estimate last; -1: none runs.
        (The first runnable one in the list was ablation-cifar10 wherever CIFAR-10 is unpacked: 40 cells, the
        heaviest quick size, beside "Quick size (minutes on a CPU)".)"""
        best: tuple[float, int] | None = None
        for i in range(self.recipe_combo.count()):
            try:
                r = load_recipe(self.recipe_combo.itemData(i))
                if dataset_problem(r, True) is not None:
                    continue
                per = r.quick_estimate_seconds
                cost = per * len(r.cells(True)) if per else float("inf")
            except AppError:
                continue
            if best is None or cost < best[0]:
                best = (cost, i)
        return -1 if best is None else best[1]

    def _save(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue("experiments/recipe", self.recipe_combo.currentText())
        self.settings.setValue("experiments/quick", self.quick.isChecked())
        self.settings.setValue("experiments/executor", self.executor.currentText())
        self.settings.setValue("experiments/workers", self.workers.value())
        self.settings.setValue("experiments/ablation_view", self.plot.view.currentData())

    # --- recipe ----------------------------------------------------------------------------------------------
    def _on_recipe(self, *_a) -> None:
        path = self.recipe_combo.currentData()
        if not path:
            return
        digest = _digest(path)
        self._recipe_error = self._reloaded_note = None
        try:
            self.recipe = load_recipe(path)
        except AppError as exc:
            self.recipe = None
            self._loaded_from = None
            self.status.setText(message(exc))
            return
        self._loaded_from = path
        self._loaded_digest = digest
        self.claim.setText(f"<b>{self.recipe.title}</b><br>{self.recipe.claim}")
        self._own_dataset = self.recipe.dataset(self.quick.isChecked())
        remembered = read_str(self.settings, self._dataset_key(), "") if self.settings is not None else ""
        self.dataset.set_value(remembered or self._own_dataset)
        self._show_plan()

    # --- the dataset it runs on ------------------------------------------------------------------------------
    def _dataset_key(self) -> str:
        return f"experiments/dataset/{self.recipe.name if self.recipe is not None else ''}"

    def _on_quick(self, *_a) -> None:
        if self.recipe is not None:
            own = self.recipe.dataset(self.quick.isChecked())
            if self.dataset.value() == self._own_dataset:  # not chosen by the user: follow the size
                self.dataset.set_value(own)
            self._own_dataset = own
        self._show_plan()

    def _on_dataset(self, text: str) -> None:
        if self.recipe is not None and self.settings is not None:
            if text.strip() and text.strip() != self._own_dataset:
                self.settings.setValue(self._dataset_key(), text.strip())
            else:
                self.settings.remove(self._dataset_key())
        self._show_plan()

    def effective_recipe(self) -> Recipe:
        """The selected recipe on the field's dataset (``on_dataset``: a RecipeError for an empty name)."""
        return on_dataset(self.recipe, self.dataset.value(), self.quick.isChecked())

    def _show_plan(self, *_a) -> None:
        if self.recipe is None:
            return
        if not self.is_running():
            self._reload()
        q = self.quick.isChecked()
        try:
            recipe = self.effective_recipe()
        except AppError as exc:
            recipe = self.recipe
            self.dataset.set_problem(message(exc))
        else:
            self.dataset.set_problem(dataset_problem(recipe, q))
        missing = missing_datasets(recipe, q)
        self.download_btn.set_missing(missing[0] if missing else None)
        plan = recipe.cells(q)
        pending = pending_folders(c.config for c in plan)
        reading = self.folders is not None and self.folders.is_running()
        if pending and (reading or any(p not in self._folders_read for p in pending)):
            # the keys wait for the folders' file lists, read in a worker: the plan without them meanwhile (a folder
            # read once and still not known, e.g. unreadable, is left to the keys themselves)
            self._read_folders([p for p in pending if p not in self._folders_read])
            cells = [c.to_dict(key=f"(reading the folder) {i}") for i, c in enumerate(plan)]
        else:
            cells = [c.to_dict() for c in plan]
        done = self._read_store(recipe.name)
        self._plan_count(recipe, cells, done, reading=cells[0]["key"].startswith("(reading") if cells else False)
        self._invite()
        caveats = recipe_caveats(recipe, q)
        self.caveat.setText("\n".join(f"Caveat: {c}" for c in caveats))
        self.caveat.setVisible(bool(caveats))
        self._cells = cells
        self._results = {c["key"]: done[c["key"]] for c in cells if c["key"] in done}
        self.table.set_cells(cells, self._results)
        if not self._plot_later:
            self._replot()
        if self._reloaded_note and not (self.is_running() or self.is_downloading()) and self._recipe_error is None:
            self.status.setText(self._reloaded_note)
            self._reloaded_note = None

    def _invite(self) -> None:
        """The line under Run: the invitation while the plan can run; while it cannot (the red note under the
        Dataset field, or an experiments database that cannot be read), what to do instead, and Run off (on with a
        Download offered: ``_set_running``)."""
        if self.is_running() or self.is_downloading():
            return
        text = self.status.text()
        idle = text == INVITATION or text.startswith((BLOCKED, BROKEN)) or text.startswith("Recipe reloaded from")
        if self._store_error is not None:
            self.status.setText(f"{BLOCKED}: the stored results cannot be read. {self._store_error}")
        elif self._recipe_error is not None:
            self.status.setText(f"{BROKEN}: {self._recipe_error} (nothing runs until it reads again)")
            self._set_running(False)
            return
        elif text.startswith(BROKEN):
            self.status.setText(INVITATION)
        elif self.dataset.problem():
            fix = ("press Download above, or choose another dataset" if self.download_btn.isVisibleTo(self)
                   else "choose another dataset above")
            if idle or text.startswith("Not started"):
                self.status.setText(f"{BLOCKED}: the dataset is not there ({fix}).")
        elif idle:
            self.status.setText(INVITATION)
        self._set_running(False)

    def _plan_count(self, recipe, cells: list[dict], done: dict | None = None, reading: bool = False) -> None:
        """The plan line: the recipe's size and how many of its cells are stored (after a run too)."""
        if reading:
            self.plan.setText(f"{recipe.describe(self.quick.isChecked())}. Reading the image folder's file list to "
                              f"see which of the {len(cells)} cell(s) are stored…")
            return
        done = self._read_store(recipe.name) if done is None else done
        if self._store_error is not None:
            self.plan.setText(f"{recipe.describe(self.quick.isChecked())}, {len(cells)} cell(s). Which are stored "
                              "is not known: the experiments database cannot be read (see below).")
            return
        n_done = sum(c["key"] in done for c in cells)
        self.plan.setText(f"{recipe.describe(self.quick.isChecked())}. {n_done} of {len(cells)} cell(s) already "
                          "stored.")

    def _read_store(self, experiment: str) -> dict:
        """The stored cells of ``experiment`` (``Store.done``); an unusable database (damaged, foreign, unreadable)
        gives none and is remembered in ``_store_error`` (said under Run, which is off) until a read succeeds."""
        try:
            done = self.store.done(experiment)
        except StoreError as exc:
            self._store_error = message(exc)
            return {}
        if self._store_error is not None:  # readable again (moved aside, say): the line under Run invites again
            self._store_error = None
            if self.status.text().startswith(BLOCKED):
                self.status.setText(INVITATION)
        return done

    def _refresh_history(self) -> None:
        """The finished experiments' list; an unusable database leaves it empty and is said under Run."""
        try:
            self.history.refresh()
        except StoreError as exc:
            self.history.clear()
            self._store_error = message(exc)
            if not (self.is_running() or self.is_downloading()):
                self.status.setText(f"{BLOCKED}: the stored results cannot be read. {self._store_error}")
                self._set_running(False)

    def _read_folders(self, paths: list[str]) -> None:
        """Read the image folders' file lists in a worker, then show the plan again (its cells' keys at once)."""
        if not paths or (self.folders is not None and self.folders.is_running()):
            return  # (the running read's end shows the plan again, and reads what is still unknown then)
        self._folders_read.update(paths)  # once per folder: a folder that cannot be read is not retried in a loop
        self.folders = Worker(lambda token: read_signatures(paths, token), parent=self, name="folder list")
        self.folders.on(done=self._show_plan)
        self.folders.start()

    # --- the missing dataset, downloaded in place ----------------------------------------------------------
    def is_downloading(self) -> bool:
        return self.download_btn.running()

    def download(self) -> None:
        """Download the first built-in dataset the recipe's cells need and this machine lacks (``DownloadButton``);
        the plan is checked again when it is there (the note under the Dataset field goes, Run runs)."""
        if self.is_running() or not self.download_btn.start():
            return
        name = self.download_btn.missing[0]
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Downloading {name}…")
        self._set_running(False)  # Run off, Cancel on while it downloads (is_downloading() once started)

    @Slot(object)
    def _on_download_progress(self, p) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * p.done / p.total))
        self.status.setText(p.message)

    @Slot(str)
    def _download_ended(self, text: str) -> None:
        self.progress.hide()
        self._set_running(False)
        self._show_plan()  # the note goes (or stays, with the button) as the data now is
        self.status.setText(text)

    # --- the plot ------------------------------------------------------------------------------------------
    def _replot(self) -> None:
        if self.recipe is None:
            return
        from app.experiments.results import live_view

        partial = ExperimentResult(self.recipe, self.quick.isChecked(), tuple(self._cells), dict(self._results))
        # laid out for every cell of the plan: the series, legend and x categories are there before the first
        # result, so a finished cell only moves points (no rebuild while the experiment runs; issue 14); an
        # ablation's table column gives each cell's change against its baseline's cell of the same seeds
        v = live_view(partial, self.plot.shows_change(self.recipe.plot))
        # each point's bar: the spread over seeds, or where it is one result its test set's standard error
        self.plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks, errors=point_errors(partial))
        self.table.set_changes(v.changes, set(v.baselines), v.metric, v.pairs)

    # --- reports ---------------------------------------------------------------------------------------------
    @Slot(str)
    def _history_said(self, text: str) -> None:
        """Why a finished experiment's line opened no report (cancelled, its report failed ...), under Run."""
        if not (self.is_running() or self.is_downloading()):
            self.status.setText(text)

    def open_report(self) -> None:
        if self.result is not None and self.result.report.get("html"):
            open_report(self.result.report["html"])
