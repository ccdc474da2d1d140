"""The Probe's history table: every stored run, newest first, with delete and export buttons.

A table model over the runs' summaries (``RunsModel``), not a widget of items: a researcher's history grows to
thousands of runs, and filling a ``QTableWidget`` created ten items per run on the GUI thread (1,000 runs: 46-66 ms
to fill, then 105-137 ms for the first paint, whose column widths measured every row). The model makes a cell's text
when the view asks for it, and the columns are measured on the first ``SIZE_ROWS`` rows (the newest runs)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.metrics import percent
from widgets.common.qt_override import qt_override
from widgets.probe.elided_note import ElidedNote
from widgets.probe.model_list import state_colour

COLUMNS = ["#", "When", "Model", "Weights", "Dataset", "Head", "Top-1", "Top-5", "Train n", "Seed"]
RIGHT = (0, 6, 7, 8, 9)  # numbers: right-aligned
NUMERIC = (0, 1, 6, 7, 8, 9)  # sorted highest (latest) first at the first click
SIZE_ROWS = 50  # rows (the newest runs) the column widths are measured on (Qt's default: 1,000)
_DISPLAY, _ALIGN, _FOREGROUND, _TOOLTIP = (int(r.value) for r in (Qt.ItemDataRole.DisplayRole,
                                                                  Qt.ItemDataRole.TextAlignmentRole,
                                                                  Qt.ItemDataRole.ForegroundRole,
                                                                  Qt.ItemDataRole.ToolTipRole))


def local_time(created: str) -> str:
    """A run's time as "YYYY-MM-DD HH:MM" in this computer's time zone (runs record UTC with its offset; an older
    record without an offset is shown as written). The year too: "12-03" read as the 12th of March as often as
    December 3rd."""
    try:
        t = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return str(created).replace("T", " ")[:16]
    return (t.astimezone() if t.tzinfo is not None else t).strftime("%Y-%m-%d %H:%M")


def cells(r: Any) -> list[str]:
    """The texts of one run's row."""
    return [str(r.id), local_time(r.created), r.label, r.weight_state, r.dataset,
            "own classifier" if r.head == "own" else r.head,
            percent(r.top1), "" if r.top5 is None else percent(r.top5),
            "" if r.n_train is None or r.head == "own" else str(r.n_train),
            "" if r.seed is None else str(r.seed)]


def _or(v, missing=-1.0):
    return missing if v is None else v


def natural(text: str) -> tuple:
    """A text's sort key with its numbers as numbers ("variant 2" before "variant 10"), any case."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


# how each column sorts (ties: newest first)
SORT_KEYS = [lambda r: r.id, lambda r: r.created, lambda r: natural(r.label), lambda r: r.weight_state,
             lambda r: natural(r.dataset), lambda r: r.head, lambda r: r.top1, lambda r: _or(r.top5),
             lambda r: _or(r.n_train if r.head != "own" else None), lambda r: _or(r.seed)]


class RunsModel(QAbstractTableModel):
    """Every stored run (``stored``, newest first) and the rows shown (``runs``): the runs whose texts contain the
    filter, in the order of the column chosen (``set_view``). A row's texts are made when first asked for and kept
    with the run."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.stored: list[Any] = []
        self.runs: list[Any] = []
        self.column, self.descending, self.needle = 0, True, ""
        self._texts: dict[int, tuple[Any, list[str]]] = {}  # run id -> (its summary, its row's texts)
        self._right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

    @qt_override
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(self.runs)

    @qt_override
    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt's name
        return 0 if parent.isValid() else len(COLUMNS)

    def texts(self, r: Any) -> list[str]:
        entry = self._texts.get(r.id)
        if entry is None or entry[0] is not r:
            entry = self._texts[r.id] = (r, cells(r))
        return entry[1]

    def text(self, row: int, col: int) -> str:
        return self.texts(self.runs[row])[col]

    @qt_override
    def data(self, index, role=_DISPLAY):
        # called for eight roles of every cell measured or painted: roles compared as the ints Qt passes (an enum
        # member's comparison costs more than the rest of the call)
        if role == _DISPLAY:
            row = index.row()
            return self.text(row, index.column()) if 0 <= row < len(self.runs) else None
        if role == _ALIGN:
            return self._right if index.column() in RIGHT else None
        if role == _FOREGROUND and index.column() == 3 and 0 <= index.row() < len(self.runs):
            return QBrush(state_colour(self.runs[index.row()].weight_state))
        if role == _TOOLTIP and index.column() == 0 and 0 <= index.row() < len(self.runs):
            # the run's note ("rerun of run 12", a preset's name) under the mouse on its number; else the table's tip
            return getattr(self.runs[index.row()], "note", "") or None
        return None

    @qt_override
    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt's name
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole and orientation == Qt.Orientation.Horizontal and \
                COLUMNS[section] == "When":
            return "When the run finished, in this computer's local time"
        return None

    def plain(self) -> bool:
        """Every stored run, newest first: the view in which a run's end only inserts a row."""
        return self.column == 0 and self.descending and not self.needle

    def _shown(self) -> list[Any]:
        runs = self.stored
        if self.needle:
            runs = [r for r in runs if self.needle in " ".join(self.texts(r)).lower()]
        if not (self.column == 0 and self.descending):
            runs = sorted(runs, key=SORT_KEYS[self.column], reverse=self.descending)  # stable: ties newest first
        return list(runs)

    def set_view(self, column: int | None = None, descending: bool | None = None, needle: str | None = None) -> None:
        """Sort by ``column`` (``descending``) and/or keep the runs whose row contains ``needle`` (any case)."""
        new = (self.column if column is None else max(0, min(len(COLUMNS) - 1, column)),
               self.descending if descending is None else bool(descending),
               self.needle if needle is None else needle.strip().lower())
        if new == (self.column, self.descending, self.needle):
            return
        self.column, self.descending, self.needle = new
        self.beginResetModel()
        self.runs = self._shown()
        self.endResetModel()

    def set_runs(self, runs: list[Any]) -> str:
        """Show these runs (every stored run, newest first). Stored runs never change: in the plain view, when the
        rows shown are still there in the same order (runs added on top, runs deleted) only those rows are inserted
        or removed; anything else resets the model. Returns what was done: "rows" or "reset"."""
        self.stored = list(runs)
        present = {r.id for r in runs}
        self._texts = {i: e for i, e in self._texts.items() if i in present}
        old = {r.id: r for r in self.runs}
        kept = [r for r in runs if old.get(r.id) == r]
        if self.plain() and kept and [r.id for r in kept] == [r.id for r in self.runs if r.id in present]:
            for row in reversed([i for i, r in enumerate(self.runs) if r.id not in present]):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self.runs[row]
                self.endRemoveRows()
            for row, r in enumerate(runs):  # the new runs, at their places (on top after a run)
                if old.get(r.id) != r:
                    self.beginInsertRows(QModelIndex(), row, row)
                    self.runs.insert(row, r)
                    self.endInsertRows()
            return "rows"
        self.beginResetModel()
        self.runs = self._shown()
        self.endResetModel()
        return "reset"


class RunsView(QTableView):
    """The history's table view; ``rowCount()`` as a table widget has it."""

    def rowCount(self) -> int:  # noqa: N802 - as QTableWidget's
        return self.model().rowCount()


# --- history ----------------------------------------------------------------------------------------------------
class HistoryTable(QWidget):
    """The stored runs, newest first (a header click sorts by its column), a filter box above them. Emits
    ``openRequested(id)`` for the selected run."""

    openRequested = Signal(int)
    sortChanged = Signal(int, bool)  # column, descending (a header click)
    deleteRequested = Signal(list)
    exportRequested = Signal(str, list)  # "csv"/"json", ids ([] = all)
    rerunRequested = Signal(int)  # the one selected run, to be run again and checked against its record
    selectedChanged = Signal(list)  # the selected runs' ids, in the table's order (two: the panel pairs them)

    COLUMNS = COLUMNS

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.model = RunsModel(self)
        self.table = RunsView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        hh = self.table.horizontalHeader()
        # every column as wide as its contents among the newest SIZE_ROWS runs (the model's name is never cut
        # short); the table scrolls sideways when the panel is narrow, and the last column takes what is left
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setResizeContentsPrecision(SIZE_ROWS)
        hh.setStretchLastSection(True)
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        hh.setMinimumSectionSize(36)
        self.table.setToolTip("Every finished run, stored in the history database. Select a run to see its results; "
                              "select two (Ctrl+click) to test their difference image by image; Delete removes the "
                              "selected runs.")
        # a header click sorts by that column (numbers: highest first, text: A to Z; again: the other way); newest
        # first to begin with. No sort arrows: Qt widens every column by one to draw them, and the table would no
        # longer fit the panel; the count under the table says the order instead
        hh.setSectionsClickable(True)
        hh.sectionClicked.connect(self._on_header)
        self._quiet = False  # True while the rows or the selection change from here: no openRequested
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter the runs: model, weights, dataset, head, accuracy…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only the runs whose row contains this text (any case), e.g. 'trained', "
                               "'cifar10', 'svm'. Click a column's header to sort by it, again for the other way.")
        self.filter.textChanged.connect(self._on_filter)
        lay.addWidget(self.filter)
        lay.addWidget(self.table)
        self.empty = QLabel("No runs yet. Finished runs are stored here and kept between sessions.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #667; padding: 12px;")
        lay.addWidget(self.empty)
        # two runs selected: how they compare image by image (``show_pair``; the panel computes it)
        # (at most two lines, the rest elided: the table keeps its rows in a short window; the tooltip says it all)
        self.pair = ElidedNote(2, least=1)
        self.pair.setStyleSheet("color: #334;")
        self.pair.setVisible(False)
        lay.addWidget(self.pair)

        row = QHBoxLayout()
        self.count = QLabel("")
        self.count.setStyleSheet("color: #556;")
        row.addWidget(self.count, 1)
        self.rerun_btn = QPushButton("Rerun")
        self.rerun_btn.setToolTip("Run the selected run again with its stored settings and seeds, and say whether it "
                                  "reproduces it:\nthe same selection and the same prediction for every test image, "
                                  "or what differs (image by image) and on which machines")
        self.delete_btn = QPushButton("Delete…")
        self.delete_btn.setToolTip("Delete the selected runs from the history (Delete key; asks first)")
        self.csv_btn = QPushButton("Export CSV…")
        self.json_btn = QPushButton("Export JSON…")
        for b in (self.rerun_btn, self.delete_btn, self.csv_btn, self.json_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.rerun_btn.clicked.connect(lambda: self.rerunRequested.emit(self.selected_ids()[0])
                                       if len(self.selected_ids()) == 1 else None)
        self.delete_btn.clicked.connect(lambda: self.deleteRequested.emit(self.selected_ids()))
        self.csv_btn.clicked.connect(lambda: self.exportRequested.emit("csv", self.export_ids()))
        self.json_btn.clicked.connect(lambda: self.exportRequested.emit("json", self.export_ids()))
        self.set_runs([])

    def set_runs(self, runs: list[Any], select: int | None = None) -> None:
        """Show these runs (newest first), ``select`` selected (no ``openRequested``); see ``RunsModel.set_runs``."""
        self._quiet = True
        try:
            if self.model.set_runs(runs) == "rows":
                # rows inserted or removed: Qt measures the columns again on a reset only (a run's "simple (random)"
                # under an "rdsn (random)" read "simpl…ndom)"): each column as wide as its texts again, measured on
                # the newest ``SIZE_ROWS`` rows as on a reset
                self.table.horizontalHeader().resizeSections()
            self.table.clearSelection()
            if select is not None and select in self.shown_ids():
                self.table.selectRow(self.shown_ids().index(select))
        finally:
            self._quiet = False
        self.table.setVisible(bool(runs))
        self.filter.setVisible(bool(runs))
        self.empty.setVisible(not runs)
        self._show_count()
        self._on_selection(emit=False)

    @Slot(str)
    def _on_filter(self, text: str) -> None:
        self._quiet = True
        try:
            self.model.set_view(needle=text)
        finally:
            self._quiet = False
        self._show_count()
        self._on_selection(emit=False)

    @Slot(int)
    def _on_header(self, column: int) -> None:
        m = self.model
        descending = (not m.descending) if column == m.column else column in NUMERIC
        self.set_sort(column, descending)
        self.sortChanged.emit(m.column, m.descending)

    def set_sort(self, column: int, descending: bool) -> None:
        """Sort the rows by ``column`` (as a header click does, without ``sortChanged``)."""
        self._quiet = True
        try:
            self.model.set_view(column=int(column), descending=bool(descending))
        finally:
            self._quiet = False
        self._show_count()
        self._on_selection(emit=False)

    def _show_count(self) -> None:
        m = self.model
        n, shown = len(m.stored), len(m.runs)
        if not n:
            self.count.setText("")
            return
        text = f"{shown:,} of {n:,} runs shown" if m.needle else f"{n:,} run{'s' if n != 1 else ''} stored"
        if not (m.column == 0 and m.descending):
            if m.column in NUMERIC:
                order = "highest first" if m.descending else "lowest first"
            else:
                order = "Z to A" if m.descending else "A to Z"
            text += f" · by {COLUMNS[m.column]}, {order}"
        self.count.setText(text)

    def shown_ids(self) -> list[int]:
        """The runs shown, in the table's order."""
        return [r.id for r in self.model.runs]

    def export_ids(self) -> list[int]:
        """What the export buttons save: the selected runs; none selected: the runs shown when a filter hides some
        ([] = every run)."""
        return self.selected_ids() or (self.shown_ids() if self.model.needle else [])

    def text(self, row: int, col: int) -> str:
        """The text shown in a cell."""
        return self.model.text(row, col)

    def ids(self) -> list[int]:
        """Every stored run (newest first), shown or not."""
        return [r.id for r in self.model.stored]

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        runs = self.model.runs
        return [runs[r].id for r in rows if r < len(runs)]

    def select_id(self, run_id: int, emit: bool = True) -> None:
        """Select a run's row; ``emit=False``: without ``openRequested``."""
        ids = self.shown_ids()
        if run_id not in ids:
            return
        self._quiet = not emit
        try:
            self.table.selectRow(ids.index(run_id))
        finally:
            self._quiet = False
        self._on_selection(emit=False)

    def show_pair(self, text: str, tip: str = "") -> None:
        """The line under the table for two selected runs ("" hides it); ``tip``: the whole comparison."""
        self.pair.setText(text)
        self.pair.setToolTip(tip)
        self.pair.setVisible(bool(text))

    busy = False  # a batch is running: no rerun until it ends (``set_busy``)

    def set_busy(self, busy: bool) -> None:
        self.busy = bool(busy)
        self.refresh_buttons()

    def refresh_buttons(self) -> None:
        self._on_selection(emit=False)

    @Slot()
    def _on_selection(self, emit: bool = True) -> None:
        sel = self.selected_ids()
        self.delete_btn.setEnabled(bool(sel))
        self.rerun_btn.setEnabled(len(sel) == 1 and not self.busy)
        has = bool(self.model.runs)
        what = "the runs shown" if self.model.needle else "all runs"
        self.csv_btn.setToolTip(f"Save the selected runs ({what} when none is selected) as a CSV table")
        self.json_btn.setToolTip(f"Save the selected runs ({what} when none is selected) with every stored detail")
        self.csv_btn.setEnabled(has)
        self.json_btn.setEnabled(has)
        self.selectedChanged.emit(sel)
        if emit and not self._quiet and len(sel) == 1:
            self.openRequested.emit(sel[0])
