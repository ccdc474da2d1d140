"""The Probe's history table: every stored run, newest first, with delete and export buttons."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.probe.model_list import state_colour

# --- history ----------------------------------------------------------------------------------------------------
class HistoryTable(QWidget):
    """The stored runs, newest first. Emits ``openRequested(id)`` for the selected run."""

    openRequested = Signal(int)
    deleteRequested = Signal(list)
    exportRequested = Signal(str, list)  # "csv"/"json", ids ([] = all)

    COLUMNS = ["#", "When", "Model", "Weights", "Dataset", "Head", "Top-1", "Top-5", "Train n", "Seed"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.table.horizontalHeader()
        # every column as wide as its contents (the model's name is never cut short); the table scrolls sideways
        # when the panel is narrow, and the last column takes what is left
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        hh.setMinimumSectionSize(36)
        self.table.setToolTip("Every finished run, stored in the history database. Select a run to see its results; "
                              "Delete removes the selected runs.")
        self.table.itemSelectionChanged.connect(self._on_selection)
        lay.addWidget(self.table)

        self.empty = QLabel("No runs yet. Finished runs are stored here and kept between sessions.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #667; padding: 12px;")
        lay.addWidget(self.empty)

        row = QHBoxLayout()
        self.count = QLabel("")
        self.count.setStyleSheet("color: #556;")
        row.addWidget(self.count, 1)
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.setToolTip("Delete the selected runs from the history (Delete key; asks first)")
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.setToolTip("Save the selected runs (all runs when none is selected) as a CSV table")
        self.json_btn = QPushButton("Export JSON…")
        self.json_btn.setToolTip("Save the selected runs (all when none is selected) with every stored detail")
        for b in (self.delete_btn, self.csv_btn, self.json_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.delete_btn.clicked.connect(lambda: self.deleteRequested.emit(self.selected_ids()))
        self.csv_btn.clicked.connect(lambda: self.exportRequested.emit("csv", self.selected_ids()))
        self.json_btn.clicked.connect(lambda: self.exportRequested.emit("json", self.selected_ids()))
        self._ids: list[int] = []
        self._runs: list[Any] = []  # the summaries the rows show, in order
        self.set_runs([])

    def set_runs(self, runs: list[Any], select: int | None = None) -> None:
        """Show these runs (newest first). Stored runs never change, so when the rows shown are still there in the
        same order (runs added on top, runs deleted) only those rows are inserted or removed: filling every row
        again took ~0.3 s of the GUI thread with 1,000 runs, after each run. Anything else: every row again."""
        t = self.table
        t.blockSignals(True)
        ids = [r.id for r in runs]
        present = set(ids)
        old = dict(zip(self._ids, self._runs))
        kept = [r for r in runs if old.get(r.id) == r]
        if kept and [r.id for r in kept] == [i for i in self._ids if i in present]:
            gone = [row for row, i in enumerate(self._ids) if i not in present]
            for row in reversed(gone):
                t.removeRow(row)
            for row, r in enumerate(runs):  # the new runs, at their places (on top after a run)
                if old.get(r.id) != r:
                    t.insertRow(row)
                    self._fill_row(row, r)
        else:
            t.setRowCount(len(runs))
            for i, r in enumerate(runs):
                self._fill_row(i, r)
        self._ids = ids
        self._runs = list(runs)
        t.clearSelection()
        if select is not None and select in self._ids:
            t.selectRow(self._ids.index(select))
        t.blockSignals(False)
        self.table.setVisible(bool(runs))
        self.empty.setVisible(not runs)
        self.count.setText(f"{len(runs)} run{'s' if len(runs) != 1 else ''} stored" if runs else "")
        self._on_selection(emit=False)

    def _fill_row(self, i: int, r: Any) -> None:
        cells = [str(r.id), r.created.replace("T", " ")[5:16], r.label, r.weight_state, r.dataset,
                 "own classifier" if r.head == "own" else r.head,
                 f"{100 * r.top1:.1f}%", "" if r.top5 is None else f"{100 * r.top5:.1f}%",
                 "" if r.n_train is None or r.head == "own" else str(r.n_train),
                 "" if r.seed is None else str(r.seed)]
        for j, text in enumerate(cells):
            it = QTableWidgetItem(text)
            if j in (0, 6, 7, 8, 9):
                it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if j == 3:
                it.setForeground(QBrush(state_colour(r.weight_state)))
            self.table.setItem(i, j, it)

    def ids(self) -> list[int]:
        return list(self._ids)

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self._ids[r] for r in rows if r < len(self._ids)]

    def select_id(self, run_id: int) -> None:
        if run_id in self._ids:
            self.table.selectRow(self._ids.index(run_id))

    def refresh_buttons(self) -> None:
        self._on_selection(emit=False)

    @Slot()
    def _on_selection(self, emit: bool = True) -> None:
        sel = self.selected_ids()
        self.delete_btn.setEnabled(bool(sel))
        has = bool(self._ids)
        self.csv_btn.setEnabled(has)
        self.json_btn.setEnabled(has)
        if emit and len(sel) == 1:
            self.openRequested.emit(sel[0])
