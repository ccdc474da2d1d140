"""The Experiments workspace's live table of cells (the claim's plot: ``widgets.experiments.plot``)."""

from __future__ import annotations

import json
import math
from typing import Any

from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from app.experiments.results import cell_settings
from app.probe.paired import p_text
from widgets.common.qt_override import qt_override
from widgets.common.tables import bulk_fill

COLUMNS = ("variant", "settings", "status", "test top-1", "vs baseline", "val top-1", "features / trainable",
           "seconds")
CHANGE = COLUMNS.index("vs baseline")  # an ablation's column (hidden for other recipes): the change per cell
SETTINGS_LEAST = 200  # px: the settings column's least width where its text is that wide (a narrow window scrolls)


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) and not math.isnan(v) else "-"


class CellTable(QTableWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        header = self.horizontalHeader()
        for j in range(len(COLUMNS)):  # every header readable in full; the settings take what is left
            header.setSectionResizeMode(j, QHeaderView.ResizeMode.ResizeToContents)
        # the settings take what is left, but never less than their text needs up to SETTINGS_LEAST (a narrow
        # window scrolls the table sideways instead of squeezing them to "ttin"): ``_fit_settings``
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self._settings_least = SETTINGS_LEAST
        header.sectionResized.connect(lambda j, _old, _new: j != 1 and self._fit_settings())
        self.horizontalHeaderItem(1).setToolTip("What tells each cell apart from most of the recipe's cells (settings "
                                                "all cells share are left out); rest the mouse on a cell for every "
                                                "setting it ran with")
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setColumnHidden(CHANGE, True)
        self._rows: dict[str, int] = {}
        self._shown: dict[str, Any] = {}  # key -> the result its row shows (``update_cell`` skips an unchanged one)
        self._variants: dict[str, str] = {}  # key -> its arm (variant)
        self._changes: dict[str, str] = {}  # key -> the text its change column shows

    def set_cells(self, cells: list[dict], results: dict[str, dict]) -> None:
        """Show these cells and their results. The same cells again (a run's end after its live updates) only
        update the rows whose result changed: building every row again cost ~1 ms of the GUI thread per cell."""
        if list(self._rows) == [c["key"] for c in cells] and self.rowCount() == len(cells):
            with bulk_fill(self):  # results for many rows at once (a finished run shown over its plan)
                for c in cells:
                    self.update_cell(c["key"], results.get(c["key"]))
            return
        with bulk_fill(self):  # the columns measured once, not at every cell (40 cells: 240 -> 4 ms)
            self.setRowCount(len(cells))
            self._rows = {}
            self._shown = {}
            self._changes = {}
            self._variants = {c["key"]: c.get("variant") or "" for c in cells}
            shown = cell_settings(cells)  # what tells each cell apart; the whole settings in its tooltip
            fm = self.fontMetrics()
            widest = max([fm.horizontalAdvance(t) for t in shown.values()] + [0]) + 16  # the cell's margins
            self._settings_least = min(SETTINGS_LEAST, max(widest, fm.horizontalAdvance(COLUMNS[1]) + 24))
            for i, c in enumerate(cells):
                self._rows[c["key"]] = i
                self.setItem(i, 0, QTableWidgetItem(c.get("variant") or "-"))
                item = QTableWidgetItem(shown[c["key"]])
                item.setToolTip("Every setting of this cell:\n" + json.dumps(c["settings"], sort_keys=True, indent=1))
                self.setItem(i, 1, item)
                self.update_cell(c["key"], results.get(c["key"]))
        self._fit_settings()

    def _fit_settings(self) -> None:
        """The settings column: the width the other columns leave, at least ``_settings_least``."""
        head = self.horizontalHeader()
        others = sum(head.sectionSize(j) for j in range(self.columnCount()) if j != 1 and not self.isColumnHidden(j))
        width = max(self._settings_least, self.viewport().width() - others)
        if head.sectionSize(1) != width:
            head.resizeSection(1, width)

    @qt_override
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._fit_settings()

    def update_cell(self, key: str, r: dict | None) -> None:
        i = self._rows.get(key)
        if i is None or (key in self._shown and self._shown[key] == r):
            return
        self._shown[key] = r
        with bulk_fill(self):  # its five cells measured once (each alone measured every column over every row)
            self._set_result(i, r)

    def _set_result(self, i: int, r: dict | None) -> None:
        if r is None:
            vals = ("waiting", "", "", "", "")
        elif "error" in r:
            vals = ("failed", "", "", "", "")
            self.setItem(i, 2, QTableWidgetItem("failed"))
            self.item(i, 2).setToolTip(r["error"])
        else:
            extra = r.get("n_features") if r.get("n_features") is not None else r.get("trainable")
            vals = ("done", _pct(r.get("test_top1")), _pct(r.get("val_top1")),
                    f"{extra:,}" if isinstance(extra, int) else "-", f"{r.get('seconds', 0):.1f}")
        for j, v in zip((2, 3, 5, 6, 7), vals):
            if j == 2 and r is not None and "error" in r:
                continue
            self.setItem(i, j, QTableWidgetItem(v))

    def set_changes(self, changes: dict[str, float | None] | None, baselines: set[str] = frozenset(),
                    metric: str = "test top-1", pairs: dict | None = None) -> None:
        """An ablation's column: each cell's change of ``metric`` against its baseline arm's cell of the same seeds
        (``app.experiments.ablation.cell_changes``, fractions), "baseline" for a baseline arm's cells, empty while a
        pair is unfinished; None hides the column (other recipes). ``pairs``: the cells' image-by-image comparisons
        with their baseline's (``cell_pairs``): McNemar's p after the change, the counts in its tooltip. Only the
        cells whose text changed are set."""
        self.setColumnHidden(CHANGE, changes is None)
        self._fit_settings()
        if changes is None:
            return
        tip = (f"The change of {metric} against the baseline arm's cell of the same seeds, in percentage points "
               "(the plot's change view shows the mean and spread over seeds)")
        if self.horizontalHeaderItem(CHANGE).toolTip() != tip:
            self.horizontalHeaderItem(CHANGE).setToolTip(tip)
        for key, i in self._rows.items():
            d = changes.get(key)
            pair = (pairs or {}).get(key)
            text = ("baseline" if self._variants.get(key) in baselines
                    else "" if d is None or math.isnan(d) else f"{100 * d:+.2f} pts")
            if text and pair is not None and text != "baseline":
                text += f" · {p_text(pair.p_value)}"
            if self._changes.get(key) != text or self.item(i, CHANGE) is None:
                self._changes[key] = text
                item = QTableWidgetItem(text)
                if pair is not None and text:
                    item.setToolTip(
                        f"Against the baseline's cell of the same seeds, on the same {pair.n:,} test images: right "
                        f"here and wrong there {pair.a_only:,}, the reverse {pair.b_only:,}, wrong in both "
                        f"{pair.both_wrong:,}. McNemar's exact {p_text(pair.p_value)} "
                        + ("(a difference beyond chance at the 0.05 level)" if pair.significant
                           else "(no significant difference at the 0.05 level)")
                        + ("" if pair.holm_p is None or pair.family < 2 else
                           f".\nRead with the ablation's other {pair.family - 1} comparisons, adjusted for all "
                           f"{pair.family} (Holm): {p_text(pair.holm_p)}"
                           + (" (still beyond chance)" if pair.holm_p < 0.05 else " (not beyond chance among them)")))
                self.setItem(i, CHANGE, item)

    def change_of(self, key: str) -> str:
        """The text the change column shows for this cell (tests)."""
        i = self._rows.get(key)
        item = self.item(i, CHANGE) if i is not None else None
        return item.text() if item is not None else ""

    def status_of(self, key: str) -> str:
        i = self._rows.get(key)
        item = self.item(i, 2) if i is not None else None
        return item.text() if item is not None else ""
