"""The Experiments workspace's list of finished experiments: one line per stored run, a double-click opens its
report; a run that ended without one (cancelled, its report failed, its executor stopped) says so in its line, and a
double-click says why nothing opens (``said``). It reads the store and opens files; nothing numerical here.

API::

    h = RunHistory(store)   # a QListWidget
    h.refresh()             # the store's finished runs, newest first (at most 100)
    open_report(path)       # the report in the desktop's browser (nothing for None or "")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

REPORT_ROLE = Qt.ItemDataRole.UserRole  # each line's report path
WHY_ROLE = Qt.ItemDataRole.UserRole + 1  # why a line has no report to open (None: it has one)


def open_report(path: str | None) -> None:
    if path:
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def run_text(run: dict) -> str:
    """A stored run as the list shows it: "NAME (quick): 6 cells, 2026-12-03 10:00"; one that ended without its
    report says how: "(cancelled, 1 of 6 cells)", "(stopped, 4 of 6 cells)", "(no report, 6 of 6 cells)"."""
    when = str(run["finished"]).replace("T", " ")[:16]  # minutes, as a person reads a date
    name = f"{run['experiment']}{' (quick)' if run['quick'] else ''}"
    state = str(run.get("state") or "finished")
    if state == "finished":
        return f"{name}: {run['cells']} cells, {when}"
    done = run.get("done")
    count = f"{done} of {run['cells']} cells" if done is not None else f"{run['cells']} cells planned"
    how = ("cancelled" if state == "cancelled" else "no report" if state.startswith("report failed")
           else "stopped")
    return f"{name} ({how}, {count}), {when}"


def no_report_reason(run: dict) -> str | None:
    """Why double-clicking the run's line opens nothing (None: it has a report to open)."""
    state = str(run.get("state") or "finished")
    report = run.get("report")
    name = run["experiment"]
    done = run.get("done")
    count = f"{done} of {run['cells']}" if done is not None else "some"
    if report and Path(report).is_file():
        return None
    if state == "cancelled":
        return (f"{name}: this run was cancelled after {count} cell(s) and wrote no report. Run the recipe again to "
                f"finish it: its stored cells are reused.")
    if state.startswith("report failed"):
        return (f"{name}: this run's cells are stored but its report could not be written "
                f"({state.split(':', 1)[1].strip()}). Run the recipe again to write it (the stored cells are reused).")
    if state.startswith("stopped"):
        why = state.split(":", 1)[1].strip() if ":" in state else "its executor stopped"
        return f"{name}: this run stopped ({why}) and wrote no report."
    if not report:
        return f"{name}: this run wrote no report (it was run without one)."
    return f"{name}: its report {report} is no longer there (moved or deleted). Run the recipe again to write it."


class RunHistory(QListWidget):
    said = Signal(str)  # why a double-clicked line opened nothing (the workspace shows it under Run)

    def __init__(self, store: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setToolTip("Double-click to open a report")
        # each line whole in a narrow column: wrapped at its words (its state and date were cut off at the end),
        # never scrolled sideways; alternate shades tell one wrapped run from the next
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setAlternatingRowColors(True)
        self.setSpacing(1)
        self.itemDoubleClicked.connect(self.open_item)

    def open_item(self, item: QListWidgetItem) -> None:
        why = item.data(WHY_ROLE)
        if why:
            self.said.emit(why)
            return
        open_report(item.data(REPORT_ROLE))

    def refresh(self) -> None:
        self.clear()
        for run in self.store.runs()[:100]:
            if not run.get("finished"):
                continue
            self.addItem(run_text(run))
            item = self.item(self.count() - 1)
            why = no_report_reason(run)
            item.setData(REPORT_ROLE, run.get("report"))
            item.setData(WHY_ROLE, why)
            item.setToolTip(f"{item.text()}\n{why}" if why else f"{item.text()}\nDouble-click to open its report")
