"""The Experiments workspace's plot of the claim: lines over the recipe's x, or an ablation's arms (their accuracies
or their changes against their baselines, marked where beyond chance), laid out once from the plan and updated in
place as cells finish."""

from __future__ import annotations

import json
import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from widgets.common.live_plot import SteppedRange, axis_label, fitted
from widgets.experiments.error_bars import BINOMIAL, PointError, _Bars, _value, bar_ends, bars_note, point_errors
from widgets.experiments.fitted_label import FittedLabel

# re-exported: the workspace and the tests import these from here
__all__ = ["BINOMIAL", "CORNERS", "LEGEND_PAD", "PENS", "ExperimentPlot", "PointError", "bars_note", "point_errors"]

PENS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _hover(curve: pg.PlotDataItem) -> None:
    """The curve's points say what they are when the mouse rests on one (the text is each point's ``data``)."""
    curve.scatter.opts["hoverable"] = True
    curve.scatter.opts["tip"] = lambda x, y, data: str(data) if data is not None else ""


LEGEND_PAD = 10  # px between the legend and the plot's edges
CORNERS = ((0, 0), (1, 0), (1, 1), (0, 1))  # the legend's corners, in the order tried: TL, TR, BR, BL


def _covered(rect: QRectF, points: list[QPointF]) -> int:
    return sum(rect.contains(p) for p in points)


def _spans(values: list, ends: list[tuple[float, float]], at: str, length: str) -> dict:
    """The error bars' data for ``_Bars``: each bar's middle (``at``) and its whole length (``length``) from the
    points' ``values`` and their bars' (below, above) lengths (``error_bars.bar_ends``). A bar is symmetric about its
    point unless it is a Wilson interval near 0% or 100% (then its middle is not the point)."""
    import numpy as np

    lo = np.asarray([e[0] for e in ends], dtype=float)
    hi = np.asarray([e[1] for e in ends], dtype=float)
    return {at: np.asarray(values, dtype=float) + (hi - lo) / 2, length: lo + hi}


class ExperimentPlot(QWidget):
    view_changed = Signal()  # the user picked the other view of an ablation (its change or its accuracy)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(LEGEND_PAD, LEGEND_PAD))
        # the legend goes to the corner of the plot that covers no point (``_place_legend``): fixed at the top left
        # it hid the points there; placed again when the points, the ranges or the plot's size change
        vb = self.plot.getViewBox()
        vb.sigResized.connect(lambda *_: self._place_legend())
        vb.sigRangeChanged.connect(lambda *_: self._place_legend())
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
        # what the error bars are (the spread over seeds, or the test set's sampling error where a point is one
        # result: a one-image difference is not drawn as a trend without its noise beside it)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #5b6472;")
        self.note.hide()
        lay.addWidget(self.note)
        self._errors: dict[tuple[str, str], PointError] = {}
        self._beam = 0.0  # the error bars' caps' width in x units (``_x_range``)
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
                   xs: list | None = None, marks: dict | None = None,
                   errors: dict[tuple[str, str], PointError] | None = None) -> None:
        """Draw the claim's series (``app.experiments.results.plot_series``). When only the points changed (a cell
        finished: the same series, axes and references), the curves get their new data in place; clearing and
        building the plot again (its items, legend and axes) took 20-60 ms of the GUI thread per finished cell.
        ``xs``: the x values every planned cell will take (``app.experiments.results.planned_x``), so that the axis
        kind and the categories are fixed from the plan on; a series may have no points yet. ``errors``
        (``point_errors``): a point that is one result gets its test-set sampling error as its bar (its standard
        error, or its Wilson interval near 0% or 100% or on few images; else the spread over seeds of the series),
        and the line under the plot says which the bars are."""
        import numpy as np

        self._errors = errors or {}
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
            infos = [self._errors.get((name, str(p[0]))) for p in pts]
            tips = [f"{name} · {xname} {_fmt(p[0])}: {_value(100 * p[1], 100 * p[2], i)}" for p, i in zip(pts, infos)]
            ends = [bar_ends(100 * p[1], p[2], i) for p, i in zip(pts, infos)]  # (below, above) each point
            data.append((name, x, [100 * p[1] for p in pts], ends, tips))
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
        self._set_note([self._errors[(name, str(p[0]))] for name, pts in series.items() for p in pts
                        if (name, str(p[0])) in self._errors] if errors is not None else [])
        if not rebuild:
            for (curve, bars), (_, x, y, e, tips) in zip(self._items, data):
                curve.setData(x, y, data=tips)
                xe = np.log10(np.maximum(np.asarray(x), 1e-12)) if log_x else np.asarray(x)
                bars.setData(x=xe, **_spans(y, e, "y", "height"))  # zero height: no bar drawn
            self._place_legend()
            return
        self.series_count = 0
        for si, (name, x, y, e, tips) in enumerate(data):
            col = PENS[si % len(PENS)]
            curve = self.plot.plot(x, y, pen=pg.mkPen(col, width=2) if numeric else None, symbol="o",
                                   symbolBrush=col, name=name, data=tips)
            _hover(curve)
            # every series has its error bars: the spread over seeds, or a one-result point's test-set sampling
            # error (``bar_ends``); of zero height (nothing drawn) where neither is known
            xe = np.log10(np.maximum(np.asarray(x), 1e-12)) if log_x else np.asarray(x)
            bars = _Bars(x=xe, **_spans(y, e, "y", "height"), pen=col, beam=self._beam)
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
        self._place_legend()

    def _data_points(self) -> list[QPointF]:
        """Where the plot draws something a legend would hide, in the view box's own coordinates (those of the
        legend's parent): every point, its error bar's ends and middle, and points along the lines between them."""
        import numpy as np

        vb = self.plot.getViewBox()
        out: list[QPointF] = []

        def add(xs, ys) -> None:
            for x, y in zip(np.asarray(xs, dtype=float).ravel(), np.asarray(ys, dtype=float).ravel()):
                if math.isfinite(x) and math.isfinite(y):
                    out.append(vb.mapFromView(QPointF(float(x), float(y))))

        for item in self.plot.plotItem.listDataItems():
            x, y = item.getData()
            if x is None or not len(x):
                continue
            add(x, y)
            if item.opts.get("pen") is not None and len(x) > 1:  # a line: its segments too
                t = np.linspace(0.0, 1.0, 9)[1:-1, None]
                add(x[:-1] + t * np.diff(x), y[:-1] + t * np.diff(y))
        for _, bars in self._items:
            o = bars.opts if bars is not None else {}
            x, y, h = o.get("x"), o.get("y"), o.get("height")
            if x is None or y is None or h is None or not np.ndim(h) or not len(x):
                continue
            half = np.asarray(h, dtype=float) / 2
            for k in (-1.0, -0.5, 0.5, 1.0):
                add(x, np.asarray(y, dtype=float) + k * half)
        return out

    def _place_legend(self) -> None:
        """The legend in the first corner (top left, top right, bottom right, bottom left) where it covers no point,
        else where it covers the fewest."""
        legend = self.plot.plotItem.legend
        if legend is None or self._arms or not legend.isVisible() or not legend.items:
            return
        vb = self.plot.getViewBox()
        w, h, lw, lh = vb.width(), vb.height(), legend.width(), legend.height()
        points = self._data_points()

        def rect(corner: tuple[int, int]) -> QRectF:
            x = LEGEND_PAD if corner[0] == 0 else w - LEGEND_PAD - lw
            y = LEGEND_PAD if corner[1] == 0 else h - LEGEND_PAD - lh
            return QRectF(x, y, lw, lh).adjusted(-6, -6, 6, 6)  # a point's symbol has a size of its own

        best = min(CORNERS, key=lambda c: (_covered(rect(c), points), CORNERS.index(c)))
        legend.anchor(itemPos=best, parentPos=best,
                      offset=(LEGEND_PAD if best[0] == 0 else -LEGEND_PAD, LEGEND_PAD if best[1] == 0 else -LEGEND_PAD))

    def _set_note(self, infos: list[PointError]) -> None:
        """The line under the plot (``bars_note``), set and shown only when it changed."""
        text = bars_note(infos)
        if self.note.text() != text:
            self.note.setText(text)
        if self.note.isVisibleTo(self) != bool(text):
            self.note.setVisible(bool(text))

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
        self._beam = 0.0  # the bars' caps, in x units: a fiftieth of the x range (a short bar stays readable)
        if numeric:
            vals = [math.log10(max(float(v), 1e-12)) if log_x else float(v) for v in xs]
            lo, hi = min(vals), max(vals)
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo) * 0.1, 0.5)
            self.plot.setXRange(lo - pad, hi + pad, padding=0)
            self._beam = 0.02 * (hi - lo + 2 * pad)
        elif cats:
            self.plot.setXRange(-0.5, len(cats) - 0.5 + 0.1 * max(n_series - 1, 0), padding=0)
            self._beam = 0.02 * (len(cats) + 0.1 * max(n_series - 1, 0))

    def _y_range(self, data: list, refs: list) -> None:
        ys = [v for _, _, y, e, _ in data for m, (lo, hi) in zip(y, e) for v in (m - lo, m + hi)]
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
        # the baseline arms as app.experiments.ablation.baselines reads them: a label, a list, or the first arm
        b = spec.get("baseline")
        base = ({str(b)} if isinstance(b, str) else {str(x) for x in b} if b else set(arms[:1]))
        # (row, value, spread, series index): x is the arm (the variant); the series may be the arms themselves or
        # families of them (``series = "backbone"``), coloured apart
        change = spec.get("view") == "change"
        # (each arm's accuracy: a one-result arm's bar is its test-set sampling error, its s.e. or Wilson interval;
        # its change: the spread of the paired differences over seeds)
        errors = {} if change else self._errors
        pts = [(arms.index(str(x)), 100 * m, bar_ends(100 * m, sd, errors.get((name, str(x)))), si,
                errors.get((name, str(x))), 100 * sd)
               for si, (name, p) in enumerate(series.items()) for x, m, sd in p if str(x) in arms]
        self._set_note([p[4] for p in pts if p[4] is not None] if errors else [])
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
            bars = _Bars(x=np.zeros(0), y=np.zeros(0), width=np.zeros(0), pen="#1f77b4", beam=0.3)
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
        tips = [f"{arms[i]}: " + (_value(v, p[5], p[4]) if not change else "the baseline the arms below it are "
                                   "compared with" if arms[i] in base else f"{v:+.2f} points against its baseline"
                                   + (f" ± {p[5]:.2f}" if p[5] else "")) for i, v, p in zip(ys, xv, pts)]
        curve.setData(xv, ys, symbolBrush=brushes, symbol=symbols, data=tips)
        bars.setData(y=np.asarray(ys), **_spans(xv, er, "x", "width"))
        if pts:
            ends = [v for x, (lo, hi) in zip(xv, er) for v in (x - lo, x + hi)] + [100 * v for _, _, v in refs]
            if change:  # the zero line in view, and at least half a point either side of it
                ends += [-0.5, 0.5]
            fit = fitted(min(ends), max(ends), self._x_fit)
            if fit != self._x_fit:
                self._x_fit = fit
                self.plot.setXRange(*fit, padding=0)
        elif self._x_fit is None:
            self._x_fit = (-1.0, 1.0) if change else (0.0, 100.0)
            self.plot.setXRange(*self._x_fit, padding=0.02)
