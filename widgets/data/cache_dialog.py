"""Disk use: every cache of the app with its files and size, the features cache's cap, and clearing chosen caches
(``CacheDialog``, opened and owned by the dataset browser's ``DiskUseButton``; the same as ``data cache`` /
``data clear-cache``).

Measuring and clearing run in a ``widgets.common.worker.Worker`` (``app.data.caches.survey`` / ``clear_task``); the
dialog renders the rows. Clearing asks first, names what goes and says what stays (sources, downloads, image
folders, results are never touched); a cache is only a copy: what goes is recomputed when it is needed again.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QLabel, QMessageBox,
                               QPushButton, QTableWidget, QTableWidgetItem, QTableWidgetSelectionRange, QToolButton,
                               QVBoxLayout, QWidget)

from app.data import caches
from app.storage import human_size
from widgets.common.qt_override import qt_override
from widgets.common.worker import WorkerPool

COLUMNS = ("Cache", "What it holds", "Files", "Size", "Stale temporaries")


class CacheDialog(QDialog):
    surveyed = Signal()  # the table shows a fresh measurement (or the error that stopped it)
    cleared = Signal(int, int)  # files, bytes removed

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Disk use: caches")
        self.resize(720, 340)
        self.pool = WorkerPool(self)
        self.rows: tuple[caches.CacheUsage, ...] = ()
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Select the caches to clear (Ctrl or Shift for several)")
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.where = QLabel("", wordWrap=True)
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cap = QLabel("", wordWrap=True)
        self.status = QLabel("", wordWrap=True)
        self.clear_btn = QPushButton("Clear selected…")
        self.clear_btn.setToolTip("Delete the selected caches' files (and any stale temporaries); they are copies, "
                                  "recomputed when needed again")
        self.clear_btn.clicked.connect(self.ask_clear)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.clear_btn, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.refresh_btn, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.where)
        lay.addWidget(self.cap)
        lay.addWidget(self.status)
        lay.addWidget(buttons)
        self._update_buttons()
        self.refresh()

    # --- measuring -------------------------------------------------------------------------------------------------
    def busy(self) -> bool:
        return bool(self.pool.running())

    def refresh(self) -> None:
        if self.busy():
            return
        self.status.setText("Measuring the caches…")
        w = self.pool.start(lambda token: caches.survey(token))
        w.on(finished=self._show, failed=self._failed)
        self._update_buttons()

    def _show(self, result) -> None:
        rows, cap = result
        self.rows = tuple(rows)
        self.table.setRowCount(len(self.rows))
        for r, u in enumerate(self.rows):
            stale = f"{u.stale} ({human_size(u.stale_bytes)})" if u.stale else "none"
            cells = (u.name, u.description, f"{u.files:,}", human_size(u.bytes), stale)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(str(u.folder))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        total = sum(u.bytes + u.stale_bytes for u in self.rows)
        folder = self.rows[0].folder.parent if self.rows else ""
        self.where.setText(f"{human_size(total)} in {folder}")
        self.cap.setText(cap[:1].upper() + cap[1:])
        self.status.setText("")
        self._update_buttons()
        self.surveyed.emit()

    def _failed(self, msg: str) -> None:
        self.status.setText(f"Could not measure the caches: {msg}")
        self._update_buttons()
        self.surveyed.emit()

    # --- clearing --------------------------------------------------------------------------------------------------
    def selected_names(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.rows[r].name for r in rows if r < len(self.rows)]

    def select(self, names: list[str]) -> None:
        """Select the rows of the caches ``names`` (as a user's clicks would)."""
        self.table.clearSelection()
        for r, u in enumerate(self.rows):
            if u.name in names:
                self.table.setRangeSelected(QTableWidgetSelectionRange(r, 0, r, len(COLUMNS) - 1), True)

    def ask_clear(self) -> None:
        names = self.selected_names()
        if not names or self.busy():
            return
        chosen = [u for u in self.rows if u.name in names]
        files = sum(u.files for u in chosen)
        size = sum(u.bytes for u in chosen)
        answer = QMessageBox.question(
            self, "Clear caches",
            f"Delete {files:,} file(s), {human_size(size)}, of: {', '.join(names)}?\n\n"
            "These are copies the app made to be faster (decoded datasets, extracted features); they are made again "
            "when needed. Your datasets, downloads, image folders, models and results are not touched.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.status.setText(f"Clearing {', '.join(names)}…")
        w = self.pool.start(lambda token: caches.clear_task(names, token))
        w.on(finished=self._done_clearing,
             failed=lambda msg: (self.status.setText(f"Could not clear: {msg}"), self._update_buttons()))
        self._update_buttons()

    def _done_clearing(self, result) -> None:
        n, size = result
        self.cleared.emit(int(n), int(size))
        said = f"Removed {n:,} file(s), {human_size(size)}."
        w = self.pool.start(lambda token: caches.survey(token))
        w.on(finished=lambda r: (self._show(r), self.status.setText(said)), failed=self._failed)

    def _update_buttons(self) -> None:
        busy = self.busy()
        self.clear_btn.setEnabled(not busy and bool(self.selected_names()))
        self.refresh_btn.setEnabled(not busy)

    @qt_override
    def done(self, result: int) -> None:  # closed by the user: a measurement is cancelled, a clearing finishes
        for w in self.pool.running():
            w.cancel()
        super().done(result)

    def shutdown(self) -> None:
        """Cancel and join its workers (the browser's shutdown, on the app's close)."""
        self.pool.shutdown()
        self.hide()


class DiskUseButton(QToolButton):
    """The dataset browser's "Disk use…" button: opens its ``CacheDialog`` (made on the first click, measured afresh
    at each), which it owns: ``shutdown()`` cancels and joins the dialog's workers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText("Disk use…")
        self.setToolTip("The app's caches (decoded datasets, extracted features) with their sizes; clear the ones "
                        "you choose")
        self.dialog: CacheDialog | None = None
        self.clicked.connect(self.open_dialog)

    def open_dialog(self) -> None:
        if self.dialog is None:
            self.dialog = CacheDialog(self.window())
        else:
            self.dialog.refresh()
        self.dialog.show()  # a second click on a dialog already open refreshes it

    def shutdown(self) -> None:
        if self.dialog is not None:
            self.dialog.shutdown()
