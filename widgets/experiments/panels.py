"""The Experiments workspace's two views: the live table of cells and the claim's plot."""

from __future__ import annotations

import json
import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLabel, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from app.experiments.results import cell_settings
from app.probe.paired import p_text
from widgets.common.qt_override import qt_override
from widgets.common.live_plot import SteppedRange, axis_label, fitted
from widgets.common.tables import bulk_fill
from widgets.experiments.fitted_label import FittedLabel

COLUMNS = ("variant", "settings", "status", "test top-1", "vs baseline", "val top-1", "features / trainable",
           "seconds")
CHANGE = COLUMNS.index("vs baseline")  # an ablation's column (hidden for other recipes): the change per cell
SETTINGS_LEAST = 200  # px: the settings column's least width where its text is that wide (a narrow window scrolls)
PENS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) and not math.isnan(v) else "-"


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _value(mean: float, spread: float) -> str:
    """A point's accuracy in percent, with its spread over seeds where there is one."""
    return f"{mean:.2f}%" + (f" ± {spread:.2f} (spread over seeds)" if spread else "")


def _hover(curve: pg.PlotDataItem) -> None:
    """The curve's points say what they are when the mouse rests on one (the text is each point's ``data``)."""
    curve.scatter.opts["hoverable"] = True
    curve.scatter.opts["tip"] = lambda x, y, data: str(data) if data is not None else ""


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


class ExperimentPlot(QWidget):
    view_changed = Signal()  # the user picked the other view of an ablation (its change or its accuracy)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(10, 10))
        self.plot.setMinimumHeight(220)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        # an ablation is shown as each arm's change against its baseline (as the report's chart) or as its accuracy
        self.view_row = QWidget()
        vr = QHBoxLayout(self.view_row)
        vr.setContentsMargins(0, 0, 0, 0)
        vr.addWidget(QLabel("Show"))
        self.view = QComboBox()
        self.view.addItem("each arm's change against its baseline", "change")
        self.view.addItem("each arm's accuracy", "value")
        self.view.setToolTip("An ablation: the change of each arm against the baseline arm above it (paired by seed, "
                             "mean and spread over seeds; the report's chart), or each arm's accuracy")
        vr.addWidget(self.view)
        vr.addStretch(1)
        self.view_row.hide()
        self.view.currentIndexChanged.connect(lambda *_: self.view_changed.emit())
        lay.addWidget(self.view_row)
        lay.addWidget(self.plot)
        self.series_count = 0
        self._shape: tuple | None = None  # what the items drawn now were built for (``set_series``)
        self._items: list[tuple[Any, Any]] = []  # (curve, error bars or None) per series, in order
        self.rebuilds = 0  # how many times the plot was cleared and built again (tests)
        self._decor: dict[str, Any] = {}  # the axes' labels, title, ticks and log mode as last set
        # the y range steps only when the points (their error bars, the paper's lines) leave it, and the x range is
        # the plan's: a finished cell does not re-lay and repaint both axes as auto-range did (issue 14)
        self.y_range = SteppedRange(self.plot, x=False, y=True)
        self._arms = False  # an ablation drawn as one row per arm (``_set_arms``)
        self._x_fit: tuple[float, float] | None = None  # the arms' x range (it steps like ``y_range``)
        # the x axis' label in the form that fits the axis' width: a narrow window gets a shorter one, not one cut
        # off at both ends (``FittedLabel``)
        self.x_label = FittedLabel(self.plot, "bottom")

    def shows_change(self, spec: dict | None) -> bool:
        """Whether a recipe with this plot is drawn as its arms' changes (an ablation, the change view picked)."""
        return bool(spec) and spec.get("kind") == "ablation" and self.view.currentData() == "change"

    def set_view(self, view: str) -> None:
        """Pick the ablation view: "change" or "value" (a remembered setting; anything else is ignored)."""
        i = self.view.findData(view)
        if i >= 0:
            self.view.setCurrentIndex(i)

    def set_series(self, series: dict[str, list[tuple]], refs: list[tuple], spec: dict,
                   xs: list | None = None, marks: dict | None = None) -> None:
        """Draw the claim's series (``app.experiments.results.plot_series``). When only the points changed (a cell
        finished: the same series, axes and references), the curves get their new data in place; clearing and
        building the plot again (its items, legend and axes) took 20-60 ms of the GUI thread per finished cell.
        ``xs``: the x values every planned cell will take (``app.experiments.results.planned_x``), so that the axis
        kind and the categories are fixed from the plan on; a series may have no points yet."""
        import numpy as np

        self.view_row.setHidden(spec.get("kind") != "ablation")
        if spec.get("kind") == "ablation":
            self._set_arms(series, refs, spec, xs, marks)
            return
        if self._arms:  # leaving the arms' layout: the axes as the lines over x want them
            self._arms = False
            self._shape = None
            self.plot.invertY(False)
            self.plot.getAxis("left").setTicks(None)
        xs_all = list(xs) if xs else [x for pts in series.values() for x, _, _ in pts]
        numeric = bool(xs_all) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs_all)
        cats = [] if numeric else list(dict.fromkeys(str(x) for x in xs_all))
        log_x = bool(spec.get("log_x")) and numeric
        data = []
        for si, (name, pts) in enumerate(series.items()):
            pts = sorted(pts, key=lambda p: float(p[0]) if numeric else cats.index(str(p[0])))
            x = [float(p[0]) if numeric else cats.index(str(p[0])) + 0.1 * si for p in pts]
            xname = spec.get("x_label", spec.get("x", "")) or "x"
            tips = [f"{name} · {xname} {_fmt(p[0])}: {_value(100 * p[1], 100 * p[2])}" for p in pts]
            data.append((name, x, [100 * p[1] for p in pts], [100 * p[2] for p in pts], tips))
        shape = (numeric, tuple(cats), log_x, json.dumps(spec, sort_keys=True, default=str),
                 tuple(d[0] for d in data), json.dumps(refs, default=str))
        rebuild = shape != self._shape or len(self._items) != len(data)
        if rebuild:
            self._shape = shape
            self._items = []
            self.rebuilds += 1
            self.plot.clear()
            if self.plot.plotItem.legend is not None:
                self.plot.plotItem.legend.clear()
        whole = sorted({int(x) for x in xs_all}) if numeric and not log_x and all(
            float(x).is_integer() for x in xs_all) else []
        self._decorate(spec, log_x, cats, any(pts for pts in series.values()),
                       whole if 0 < len(whole) <= 24 else None)
        if rebuild:
            self._x_range(xs_all, numeric, log_x, cats, len(data))
        self._y_range(data, refs)
        if not rebuild:
            for (curve, bars), (_, x, y, e, tips) in zip(self._items, data):
                curve.setData(x, y, data=tips)
                xe = np.log10(np.maximum(np.asarray(x), 1e-12)) if log_x else np.asarray(x)
                bars.setData(x=xe, y=np.asarray(y), height=2 * np.asarray(e))  # zero height: no bar drawn
            return
        self.series_count = 0
        for si, (name, x, y, e, tips) in enumerate(data):
            col = PENS[si % len(PENS)]
            curve = self.plot.plot(x, y, pen=pg.mkPen(col, width=2) if numeric else None, symbol="o",
                                   symbolBrush=col, name=name, data=tips)
            _hover(curve)
            # every series has its error bars (the spread over seeds), of zero height until a second seed finished
            xe = np.log10(np.maximum(np.asarray(x), 1e-12)) if log_x else np.asarray(x)
            bars = pg.ErrorBarItem(x=xe, y=np.asarray(y), height=2 * np.asarray(e), pen=col)
            self.plot.addItem(bars)
            self._items.append((curve, bars))
            self.series_count += 1
        for label, x, v in refs:
            if x is None or not numeric:
                dashed = pg.mkPen("#555", style=pg.QtCore.Qt.PenStyle.DashLine)
                self.plot.addItem(pg.InfiniteLine(pos=100 * v, angle=0, pen=dashed, label=label[:40],
                                                  labelOpts={"position": 0.8}))
            else:
                self.plot.plot([float(x)], [100 * v], pen=None, symbol="d", symbolBrush=None, symbolPen="k",
                               name="paper")

    def point_count(self) -> int:
        """How many points the series' curves show (a series laid out from the plan may have none yet)."""
        return sum(len(curve.getData()[0] if curve.getData()[0] is not None else ()) for curve, _ in self._items)

    def _decorate(self, spec: dict, log_x: bool, cats: list, points: bool, whole: list | None = None) -> None:
        """The axes' labels, title, ticks, log mode and range mode, each set only when it changed (each set again
        re-lays the axes: a few ms apiece). No point yet: an empty 0-100 % frame, no made-up numbers along x.
        ``whole``: the planned x values when they are a few whole numbers (layer indices, k): the ticks are those
        values (no "0.5" between two layers)."""
        from app.experiments.results import METRIC_NAMES

        metric = spec.get("y", "test_top1")
        decor = {"log_x": log_x, "left": spec.get("y_label", METRIC_NAMES.get(metric, metric)) + " (%)",
                 "title": " " if points else "No finished cells yet: press Run; each cell appears here as it finishes",
                 "bottom": spec.get("x_label", spec.get("x", "")),
                 "ticks": ([list(enumerate(cats))] if cats else [[(v, str(v)) for v in whole]] if whole else None)
                 if points else [[]],
                 "auto": points}
        changed = {k for k, v in decor.items() if k not in self._decor or self._decor[k] != v}
        self._decor = decor
        if "log_x" in changed:
            self.plot.setLogMode(x=log_x, y=False)
        if "left" in changed:
            axis_label(self.plot, "left", decor["left"])
        if "title" in changed:
            self.plot.setTitle(decor["title"], size="10pt")
        if "bottom" in changed:
            self.x_label.set(decor["bottom"])
        if "ticks" in changed:
            self.plot.getAxis("bottom").setTicks(decor["ticks"])
        if "auto" in changed:
            legend = self.plot.plotItem.legend
            if legend is not None:  # the plan's series are named once points exist (an empty frame until then)
                legend.setVisible(points)
            if not points:
                self.y_range.reset()
                self.plot.setYRange(0, 100, padding=0.02)

    def _x_range(self, xs: list, numeric: bool, log_x: bool, cats: list, n_series: int) -> None:
        """The x range of every planned cell (set when the plot is laid out; the user may zoom and pan it)."""
        self.plot.getViewBox().disableAutoRange(axis=pg.ViewBox.XAxis)
        if numeric:
            vals = [math.log10(max(float(v), 1e-12)) if log_x else float(v) for v in xs]
            lo, hi = min(vals), max(vals)
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo) * 0.1, 0.5)
            self.plot.setXRange(lo - pad, hi + pad, padding=0)
        elif cats:
            self.plot.setXRange(-0.5, len(cats) - 0.5 + 0.1 * max(n_series - 1, 0), padding=0)

    def _y_range(self, data: list, refs: list) -> None:
        ys = [v for _, _, y, e, _ in data for m, s in zip(y, e) for v in (m - s, m + s)]
        if not ys:
            return
        ys += [100 * v for _, _, v in refs]
        self.y_range.update(None, min(ys), max(ys))

    # --- an ablation: one row per arm ---------------------------------------------------------------------------
    def _set_arms(self, series: dict[str, list[tuple]], refs: list[tuple], spec: dict, xs: list | None,
                  marks: dict | None = None) -> None:
        """A recipe whose plot is an ablation (``kind = "ablation"``, x = the variant): one row per arm, in the
        recipe's order from the top, its name on the left axis (long names stay readable), its mean and spread over
        seeds along x; the baseline arms (``baseline``) as squares, families of arms in colours of their own, a
        paper's figure as a vertical line. Laid out once from the plan; a finished cell moves its point in place and
        the x range steps (as the lines' y range). ``spec["view"] == "change"``: the points are the arms' changes
        against their baselines (``plot_series(change=True)``), in points, around a line at zero."""
        import numpy as np

        from app.experiments.results import METRIC_NAMES

        arms = list(dict.fromkeys(str(x) for x in (xs or [])) or series)
        base = {str(b) for b in (spec.get("baseline") or [])}
        # (row, value, spread, series index): x is the arm (the variant); the series may be the arms themselves or
        # families of them (``series = "backbone"``), coloured apart
        pts = [(arms.index(str(x)), 100 * m, 100 * sd, si) for si, p in enumerate(series.values())
               for x, m, sd in p if str(x) in arms]
        change = spec.get("view") == "change"
        shape = ("arms", tuple(arms), json.dumps(spec, sort_keys=True, default=str), json.dumps(refs, default=str))
        if shape != self._shape or not self._items:
            self._shape, self._arms, self._decor, self._x_fit = shape, True, {}, None
            self.rebuilds += 1
            self.plot.clear()
            if self.plot.plotItem.legend is not None:
                self.plot.plotItem.legend.clear()
                self.plot.plotItem.legend.setVisible(False)  # the names are on the axis
            self.y_range.reset()
            self.plot.getViewBox().disableAutoRange()
            self.plot.setLogMode(x=False, y=False)
            metric = spec.get("y", "test_top1")
            name = spec.get("y_label", METRIC_NAMES.get(metric, metric))
            if change:
                self.x_label.set(f"change of {name} against the baseline arm above it (points; mean ± std over "
                                  "seeds; ** / *: beyond chance in every / some seed)",
                                  f"change of {name} against the baseline arm (points; mean ± std; ** / *: beyond "
                                  "chance)", f"change of {name} (points)")
            else:
                self.x_label.set(f"{name} (%)")
            axis_label(self.plot, "left", "")
            self.plot.getAxis("bottom").setTicks(None)
            self._decor["ticks"] = None
            self.plot.invertY(True)  # the recipe's first arm at the top
            self.plot.setYRange(-0.6, len(arms) - 0.4, padding=0)
            curve = self.plot.plot([], [], pen=None, symbol="o", symbolSize=9)
            _hover(curve)
            bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), width=np.zeros(0), pen="#1f77b4")
            self.plot.addItem(bars)
            self._items = [(curve, bars)]
            self.series_count = len(arms)
            for label, _x, v in refs:
                dashed = pg.mkPen("#555", style=pg.QtCore.Qt.PenStyle.DashLine)
                self.plot.addItem(pg.InfiniteLine(pos=100 * v, angle=90, pen=dashed, label=label[:40],
                                                  labelOpts={"position": 0.05}))
            if change:  # zero: no change against the baseline (left of it: the ingredient the arm drops helped)
                self.plot.addItem(pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen("#888", width=1)))
        # each arm's name, in the change view with its mark (McNemar's p of its seeds below 0.05 after Holm's
        # adjustment for all the ablation's comparisons: ** in every seed, * in some), as the report's chart
        ticks = [(i, f"{a} {marks[a]}" if change and (marks or {}).get(a) else a) for i, a in enumerate(arms)]
        if self._decor.get("ticks") != ticks:
            self._decor["ticks"] = ticks
            self.plot.getAxis("left").setTicks([ticks])
        title = " " if pts else "No finished cells yet: press Run; each arm appears here as it finishes"
        if self._decor.get("title") != title:
            self._decor["title"] = title
            self.plot.setTitle(title, size="10pt")
        curve, bars = self._items[0]
        ys = [p[0] for p in pts]
        xv = [p[1] for p in pts]
        er = [p[2] for p in pts]
        families = len(series) > 1 and len(series) < len(arms)
        brushes = [PENS[p[3] % len(PENS)] if families else PENS[0] for p in pts]
        symbols = ["s" if arms[i] in base else "o" for i in ys]  # a baseline arm: a square
        tips = [f"{arms[i]}: " + (_value(v, e) if not change else "the baseline the arms below it are compared with"
                                   if arms[i] in base else f"{v:+.2f} points against its baseline"
                                   + (f" ± {e:.2f}" if e else "")) for i, v, e in zip(ys, xv, er)]
        curve.setData(xv, ys, symbolBrush=brushes, symbol=symbols, data=tips)
        bars.setData(x=np.asarray(xv), y=np.asarray(ys), width=2 * np.asarray(er))
        if pts:
            ends = [v for x, e in zip(xv, er) for v in (x - e, x + e)] + [100 * v for _, _, v in refs]
            if change:  # the zero line in view, and at least half a point either side of it
                ends += [-0.5, 0.5]
            fit = fitted(min(ends), max(ends), self._x_fit)
            if fit != self._x_fit:
                self._x_fit = fit
                self.plot.setXRange(*fit, padding=0)
        elif self._x_fit is None:
            self._x_fit = (-1.0, 1.0) if change else (0.0, 100.0)
            self.plot.setXRange(*self._x_fit, padding=0.02)
