"""The Experiments workspace's list of finished experiments: one line per stored run, a double-click opens its
report. It reads the store and opens files; nothing numerical here.

API::

    h = RunHistory(store)   # a QListWidget
    h.refresh()             # the store's finished runs, newest first (at most 100)
    open_report(path)       # the report in the desktop's browser (nothing for None or "")
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QListWidget, QWidget

REPORT_ROLE = Qt.ItemDataRole.UserRole  # each line's report path


def open_report(path: str | None) -> None:
    if path:
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))


class RunHistory(QListWidget):
    def __init__(self, store: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.setToolTip("Double-click to open a report")
        self.itemDoubleClicked.connect(lambda item: open_report(item.data(REPORT_ROLE)))

    def refresh(self) -> None:
        self.clear()
        for run in self.store.runs()[:100]:
            if not run.get("finished"):
                continue
            when = str(run["finished"]).replace("T", " ")[:16]  # minutes, as a person reads a date
            text = f"{run['experiment']}{' (quick)' if run['quick'] else ''}: {run['cells']} cells, {when}"
            self.addItem(text)
            self.item(self.count() - 1).setData(REPORT_ROLE, run.get("report"))
