"""The Probe's history box: the stored runs (read on the GUI thread; written only by the run queue's worker
tasks), reopening one as a ``RunView``, deleting and exporting runs."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QGroupBox, QMessageBox, QVBoxLayout, QWidget

from app import paths
from app.tasks import run_to_end
from app.probe.compare import reruns_text, seed_reruns
from app.probe.history import History, HistoryError, RunSummary, compare_groups, open_history
from widgets.probe.history_table import HistoryTable
from widgets.probe.model import CompareRow, RunView, compare_row

VIEWS_KEPT = 5000  # stored runs' views kept for the comparison (a few KB each)
READ_BUDGET_S = 0.02  # the GUI thread's time reading stored runs for the comparison, per turn


class HistoryPanel(QGroupBox):
    openRequested = Signal(int)  # a run was selected
    changed = Signal()  # runs were deleted
    message = Signal(str, str)  # text, "error" | "note"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("History", parent)
        self.open_message: str | None = None
        self._views: dict[tuple, RunView] = {}  # (id, summary) -> the stored run's view (``comparison``)
        self._checks: dict[tuple, dict] = {}  # (first id, summary, rerun id, summary) -> ``rerun_check``
        self.history: History | None
        try:
            self.history, self.open_message = open_history()
        except HistoryError as exc:
            self.history = None
            self.open_message = f"{exc}\nRuns of this session will not be stored."
        lay = QVBoxLayout(self)
        self.table = HistoryTable()
        lay.addWidget(self.table)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table.table)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(lambda: self.delete_runs(self.table.selected_ids()))
        self.table.openRequested.connect(self.openRequested)
        self.table.deleteRequested.connect(self.delete_runs)
        self.table.exportRequested.connect(self.export_runs)
        self.table.selectedChanged.connect(self._pair)

    @property
    def path(self) -> Path | None:
        return None if self.history is None else self.history.path

    def __len__(self) -> int:
        if self.history is None:
            return 0
        try:
            return len(self.history)
        except HistoryError as exc:
            self.message.emit(str(exc), "error")
            return 0

    def runs(self, dataset: str | None = None) -> list[RunSummary]:
        if self.history is None:
            return []
        try:
            return self.history.list(dataset=dataset)
        except HistoryError as exc:
            self.message.emit(str(exc), "error")
            return []

    def refresh(self, select: int | None = None) -> None:
        self.table.set_runs(self.runs(), select=select)

    def load(self, run_id: int) -> RunView | None:
        if self.history is None:
            return None
        try:
            return RunView.from_dict(self.history.get(run_id))
        except (KeyError, HistoryError) as exc:
            self.message.emit(f"Cannot open run {run_id}: {exc}", "error")
            return None

    def comparison(self, dataset: str) -> tuple[list, list[CompareRow]]:
        """The comparison's groups (bars) and one table row per group, read from the stored runs. A stored run never
        changes, so each run's record is read once (``_views``, keyed by its id and its summary: an id that SQLite
        gives again after a deletion is another run); reading every run's JSON again after each run took 234 ms of
        the GUI thread with 1,000 runs."""
        return run_to_end(self.comparison_steps(dataset, budget_s=float("inf")))

    def comparison_steps(self, dataset: str, budget_s: float | None = None):
        """``comparison(dataset)`` in steps, for the GUI thread: yields the number of runs still to read after
        about ``budget_s`` of listing and reading stored runs (the first comparison of 1,000 runs read 125-390 ms of
        JSON in one go), 0 before a grouping that would not fit the slice, and returns the comparison. Runs already
        read cost nothing: after a run, it is one step."""
        budget_s = READ_BUDGET_S if budget_s is None else budget_s
        t0 = time.perf_counter()
        summaries = self.runs(dataset)  # (1,000 runs: ~6-25 ms, part of the first slice)
        todo = [r for r in summaries if (r.id, r) not in self._views]
        for i, r in enumerate(todo):
            if time.perf_counter() - t0 > budget_s:
                yield len(todo) - i
                t0 = time.perf_counter()
            self._view(r.id, r)
        if todo and time.perf_counter() - t0 > budget_s / 2:
            yield 0  # the grouping (1,000 runs: ~18 ms) on a turn of its own
            t0 = time.perf_counter()
        groups = compare_groups(summaries)
        keys = {r.id: r for r in summaries}
        # the reruns' checks not read yet (two stored records each: a few ms), a slice per turn as the views
        pending = [(a, b) for g in groups if g.repeated_seeds for a, b in seed_reruns(g)
                   if (a, keys.get(a), b, keys.get(b)) not in self._checks]
        for a, b in pending:
            if time.perf_counter() - t0 > budget_s:
                yield 0
                t0 = time.perf_counter()
            self._rerun_check(a, b, keys)
        return self._compare(summaries, groups)

    def _compare(self, summaries: list[RunSummary], groups: list | None = None) -> tuple[list, list[CompareRow]]:
        keys = {r.id: r for r in summaries}
        groups = compare_groups(summaries) if groups is None else groups
        rows = []
        for g in groups:
            views = [v for v in (self._view(i, keys.get(i)) for i in g.ids) if v is not None]
            row = compare_row(views, g) if views else None  # the figures over distinct seeds, as the bars
            if row is not None and g.repeated_seeds:
                short, tip = reruns_text([(a, b, self._rerun_check(a, b, keys)) for a, b in seed_reruns(g)])
                row = dataclasses.replace(row, reruns=short, reruns_tip=tip)
            rows.append(row)
        keep = [(g, r) for g, r in zip(groups, rows) if r is not None]
        return [g for g, _ in keep], [r for _, r in keep]

    def _rerun_check(self, first: int, again: int, keys: dict) -> dict:
        """Whether run ``again`` reproduced run ``first`` (the same seeds; ``app.probe.paired.rerun_check``), read
        once per pair of stored runs (two records: a few ms) and kept like the views."""
        key = (first, keys.get(first), again, keys.get(again))
        check = self._checks.get(key)
        if check is None:
            from app.probe.paired import rerun_check

            try:
                check = rerun_check(self.history.get(first), self.history.get(again))
            except (KeyError, HistoryError) as exc:
                return {"reproduced": False, "paired": None, "text": f"not checked: {exc}"}
            if len(self._checks) >= VIEWS_KEPT:
                self._checks.pop(next(iter(self._checks)))
            self._checks[key] = check
        return check

    def _view(self, run_id: int, summary) -> RunView | None:
        key = (run_id, summary)
        view = self._views.get(key)
        if view is None:
            view = self.load(run_id)
            if view is not None:
                if len(self._views) >= VIEWS_KEPT:
                    self._views.pop(next(iter(self._views)))
                self._views[key] = view
        return view

    @Slot(list)
    def _pair(self, ids: list[int]) -> None:
        """Two runs selected: McNemar's paired comparison under the table (``app.probe.paired``); else nothing. Two
        stored records read and their misclassified lists intersected: a few ms."""
        if len(ids) != 2 or self.history is None:
            self.table.show_pair("")
            return
        from app.probe.paired import PairingError, compare_pair, paired_summary, paired_text, run_name

        try:
            a, b = self.history.get(ids[0]), self.history.get(ids[1])
        except (KeyError, HistoryError) as exc:
            self.table.show_pair(f"Cannot compare runs {ids[0]} and {ids[1]}: {exc}")
            return
        try:
            c = compare_pair(a, b)
        except PairingError as exc:
            self.table.show_pair(f"No paired test: {exc}", str(exc))
            return
        self.table.show_pair(paired_summary(c), paired_text(c, run_name(a), run_name(b)))

    def select(self, run_id: int) -> None:
        """Select a run in the table without reopening it."""
        self.table.select_id(run_id, emit=False)

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
            self.message.emit(str(exc), "error")
        self.refresh()
        self.changed.emit()

    @Slot(str, list)
    def export_runs(self, fmt: str, ids: list[int]) -> None:
        if self.history is None:
            return
        plural = "s" if len(ids) != 1 else ""
        shown = bool(ids) and not self.table.selected_ids()  # a filter's runs (HistoryTable.export_ids)
        what = (f"the {len(ids)} run{plural} shown" if shown else f"{len(ids)} selected run{plural}") if ids \
            else "all runs"
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
            self.message.emit(f"Export to {path} failed: {exc}", "error")
            return
        self.message.emit(f"Exported {what} to {path}", "note")

    def close_history(self) -> None:
        if self.history is not None:
            self.history.close()
            self.history = None
