"""The comparison: runs grouped by everything but the seed, as bars (mean test top-1 ± std) and a table that
says what was compared (backbone, weights, layer, pooling, features, head and its hyperparameters, validation and
test accuracy, seeds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetricsF
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.metrics import percent
from widgets.common.tables import bulk_fill
from widgets.probe.model import NOT_RECORDED, CompareRow
from widgets.probe.model_list import STATE_COLOURS
from widgets.probe.plots import hint_label, plot as _plot


def bar_tip(title: str, g: Any, reruns: str = "") -> str:
    """What a comparison bar says under the mouse: its whole name, test (and validation) top-1 with the spread over
    seeds, how many runs and distinct seeds it averages, and whether its reruns reproduced (``reruns``)."""
    def pct(m, s, n):
        return f"{100 * m:.2f}%" + (f" ± {100 * s:.2f}" if n > 1 and s else "")

    d = g.distinct_seeds
    lines = [title, f"test top-1 {pct(g.top1_mean, g.top1_std, d)}"]
    if g.val_mean is not None:
        lines.append(f"validation top-1 {pct(g.val_mean, g.val_std or 0.0, getattr(g, 'n_val', 0) or d)}")
    lines.append(f"{g.n_runs} run{'s' if g.n_runs != 1 else ''}, {d} distinct seed{'s' if d != 1 else ''}"
                 + (f" ({reruns})" if reruns else ""))
    return "\n".join(lines)


# more bars than this: no figure written on each (they would overlap, and 200 text items took ~80 ms of the GUI
# thread at every refresh); the mouse over a bar and the table below still give every figure
MAX_BAR_LABELS = 24
TICK_PX = 16  # the height a bar's name needs on the left axis
NAME_SHARE = 0.38  # the most of the chart's width the bars' names take (cut with "…"; the mouse names a bar whole)
NAME_PX = (60, 320)  # and never narrower or wider than these pixels
MODEL_COLUMN_PX = 240  # the table's Model column at most (cut with "…", whole in its tooltip): the accuracies beside
TITLE = "Top-1 test accuracy (mean ± std over seeds)"


def axis_end(end: float) -> float:
    """The last labelled tick of the accuracy axis for bars (and error bars) reaching ``end`` (a fraction): the next
    20% step above 50% (at most 100%), else the next 10% step: the axis runs to the data, its last label past it."""
    step = 0.2 if end > 0.5 else 0.1
    return min(1.0, max(step, step * np.ceil(end / step - 1e-9)))


class CompareView(QWidget):
    """Runs grouped by everything but the seed: horizontal bars (mean top-1) with ± std error bars, and a table."""

    # the figures compared next to the model (on a narrow window the descriptive columns are a scroll away, not the
    # accuracies: at 1280 x 720 they were past the right edge)
    COLUMNS = ["Model", "Test top-1", "Val top-1", "Runs", "Weights", "Backbone", "Weights file", "Layer", "Pooling",
               "Features", "Head", "Hyperparameters", "Train n", "Test n", "Seeds"]
    NUMERIC = {"Features", "Train n", "Test n", "Runs", "Val top-1", "Test top-1"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.hint = hint_label("No runs on this dataset yet.<br><br>Train a random and a trained backbone to "
                               "compare their features here (several seeds give mean ± std).")
        self.stack.addWidget(self.hint)
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.setContentsMargins(0, 0, 0, 0)
        # the title is a label above the plot that wraps: as the plot's own title its width was the plot area's
        # least width, and with the bars' names beside it the plot grew wider than the tab at 1280 x 720 (the bars,
        # their figures, the axis past 80% and the title's end were cut off at the right)
        self.title = QLabel(TITLE)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setStyleSheet("background: white; color: black; font-size: 10pt; padding: 4px 2px 0px 2px;")
        self.chart = _plot("", "", "test top-1")
        self.chart.setTitle(None)  # no title row
        # the bars' values are fractions; the axis reads in percent, as the bars' own labels and the table do
        self.chart.getAxis("bottom").tickStrings = lambda values, scale, spacing: [f"{100 * v:.0f}%" for v in values]
        self.chart.setMouseEnabled(x=False, y=False)
        # the accuracy axis runs to the data (``_fit_x``): ticks every 20% (10% on a short axis), its last label past
        # the longest bar with room to be drawn (pyqtgraph draws no label that would pass the axis's end)
        self._axis_end = 0.0
        self.chart.invertY(True)
        self.chart.getAxis("left").setStyle(autoExpandTextSpace=True)
        # the mouse over a bar (or its name, cut to the room there is) says the whole name and the figures
        self.chart.scene().sigMouseMoved.connect(self._hover)
        self._tips: list[str] = []
        self._titles: list[str] = []  # the bars' names, top to bottom
        self._ticks: list = []  # the names on the axis (``_apply_ticks``)
        self._figures: list = []  # the figures written on the bars (shown while every bar's name fits)
        self._figure_at: list = []  # (group, y) of each figure
        # the names that fit, and the axis's end and the figures' places, follow the plot's size
        self.chart.getViewBox().sigResized.connect(lambda *_: (self._apply_ticks(), self._fit_x()))
        pl.setSpacing(0)  # the title on the chart's white, no gap between them
        pl.addWidget(self.title, 0)
        pl.addWidget(self.chart, 3)
        pl.addSpacing(6)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        # the Model column: its contents' width up to MODEL_COLUMN_PX (``_fit_model_column``), the rest cut with "…"
        # and said by its tooltip, so that a long "[detail]" never pushes the accuracies out of view
        hh.setSectionResizeMode(self.column("Model"), QHeaderView.ResizeMode.Interactive)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)
        pl.addWidget(self.table, 2)
        self.stack.addWidget(page)
        lay.addWidget(self.stack)
        self.groups: list[Any] = []
        self.rows: list[CompareRow] = []
        self.bars: pg.BarGraphItem | None = None
        self.error_bars: pg.ErrorBarItem | None = None
        self._items: list[Any] = []

    def show_reading(self, left: int, dataset: str = "") -> None:
        """While the stored runs are read (``HistoryPanel.comparison_steps``): how many are left."""
        on = f" on <b>{dataset}</b>" if dataset else ""
        self.hint.setText(f"Reading the stored runs{on}… {left:,} left." if left else f"Comparing the stored runs{on}…")
        self.stack.setCurrentIndex(0)

    def set_groups(self, groups: list[Any], rows: list[CompareRow], dataset: str = "") -> None:
        """groups: ``app.probe.history.GroupStat`` (the bars); rows: one ``CompareRow`` per group (the table)."""
        self.groups = list(groups)
        for it in self._items:
            self.chart.removeItem(it)
        self._items = []
        self._figures = []
        self._figure_at = []
        self.bars = None
        self.error_bars = None
        if not groups:
            self.hint.setText(f"No runs on <b>{dataset}</b> yet.<br><br>Train a random and a trained backbone to "
                              "compare their features here (several seeds give mean ± std)." if dataset else
                              "No runs yet.")
            self.stack.setCurrentIndex(0)
            self.table.setRowCount(0)
            self.rows = []
            self._tips = []
            self._titles = []
            return
        self.stack.setCurrentIndex(1)
        n = len(groups)
        ys = np.arange(n, dtype=np.float64)
        means = np.array([g.top1_mean for g in groups])
        stds = np.array([g.top1_std for g in groups])
        # the trained baselines (a model's own classifier) are lighter than the probes of the same weights
        brushes = [pg.mkBrush(*STATE_COLOURS.get(g.weight_state, (120, 120, 120)), 120 if g.head == "own" else 220)
                   for g in groups]
        self.bars = pg.BarGraphItem(x0=np.zeros(n), y=ys, height=0.6, width=means, brushes=brushes, pen=None)
        self.chart.addItem(self.bars)
        self._items.append(self.bars)
        if np.any(stds > 0):
            err = pg.ErrorBarItem(x=means, y=ys, left=stds, right=stds, beam=0.2, pen=pg.mkPen((30, 30, 30), width=1.5))
            self.chart.addItem(err)
            self._items.append(err)
            self.error_bars = err
        for g, y in zip(groups if n <= MAX_BAR_LABELS else [], ys):
            # a rerun with the same seeds is no second seed
            text = percent(g.top1_mean) + (f" ± {100 * g.top1_std:.1f}" if g.distinct_seeds > 1 else "")
            t = pg.TextItem(text, color=(20, 20, 20), anchor=(0, 0.5))  # placed by ``_fit_x``
            self.chart.addItem(t)
            self._items.append(t)
            self._figures.append(t)
            self._figure_at.append((g, float(y)))
        chance = next((g.chance for g in groups if g.chance), None)
        if chance:
            line = pg.InfiniteLine(pos=chance, angle=90, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine),
                                   label="chance", labelOpts={"position": 0.97, "color": (120, 120, 120)})
            self.chart.addItem(line)
            self._items.append(line)
        # the layer as the table names it (the runs' recorded layer name: "conv3", not "layer 2")
        titles = [g.titled(r.layer if r.layer and r.layer != NOT_RECORDED and " / " not in r.layer else None)
                  for g, r in zip(groups, rows)]
        self._titles = titles
        self._tips = [bar_tip(t, g, r.reruns) for t, g, r in zip(titles, groups, rows)]
        self._apply_ticks()
        self._fit_x()
        self.chart.setYRange(-0.6, n + 0.1, padding=0)
        # the table: what was compared, so that unlike runs are seen to be unlike
        with bulk_fill(self.table):  # the columns measured once, not at every cell (200 groups again: 29 s)
            self._fill_table(groups, rows)
        self._fit_model_column()

    def _fit_model_column(self) -> None:
        c = self.column("Model")
        self.table.setColumnWidth(c, min(MODEL_COLUMN_PX, max(self.table.sizeHintForColumn(c),
                                                              self.table.horizontalHeader().sectionSizeHint(c))))

    def _fill_table(self, groups: list[Any], rows: list[CompareRow]) -> None:
        t = self.table
        t.setRowCount(len(groups))
        self.rows = list(rows)
        for i, (g, r) in enumerate(zip(groups, self.rows)):
            d = g.distinct_seeds
            runs = str(r.n_runs) if not g.repeated_seeds else \
                f"{r.n_runs} ({d} distinct seed{'s' if d != 1 else ''}" + (f"; {r.reruns})" if r.reruns else ")")
            # a group of one model name with other settings says them beside the name (options.widths = [8, 8])
            model = f"{r.label} [{g.detail}]" if getattr(g, "detail", "") else r.label
            cells = {"Model": model, "Weights": r.weight_state, "Backbone": r.backbone, "Weights file": r.weights,
                     "Layer": r.layer, "Pooling": r.pooling, "Features": r.n_features, "Head": r.head,
                     "Hyperparameters": r.hyper, "Train n": r.n_train, "Test n": r.n_test, "Runs": runs,
                     "Val top-1": r.val, "Test top-1": r.test, "Seeds": r.seeds}
            for j, name in enumerate(self.COLUMNS):
                it = QTableWidgetItem(cells[name])
                it.setToolTip(f"{name}: {r.weights_path or cells[name]}" if name == "Weights file" else
                              f"{name}: {cells[name]}" + (f"\n{r.reruns_tip}" if name == "Runs" and r.reruns_tip
                                                          else ""))
                if name in self.NUMERIC:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name == "Weights":
                    it.setForeground(QColor(*STATE_COLOURS.get(g.weight_state, (100, 100, 100))))
                t.setItem(i, j, it)

    def name_room(self) -> int:
        """The pixels a bar's name may take on the left axis: a share of the chart's width (``NAME_SHARE``), so that
        the bars keep the rest however long the names ("simple (random) [conv3, grid2, 256 features, ...]")."""
        lo, hi = NAME_PX
        return int(min(hi, max(lo, NAME_SHARE * self.chart.width())))

    def _apply_ticks(self) -> None:
        """The bars' names on the left axis: every one where they fit (~16 px each), else every k-th (the mouse over
        a bar names it): 200 names drawn over each other took ~40 ms of each paint and could not be read. Each is
        cut with "…" to ``name_room``; the mouse over a bar or its name says it whole."""
        n = len(self._titles)
        if not n:
            return
        fits = max(4, int(self.chart.getViewBox().height()) // TICK_PX)  # the plot area's pixels
        step = -(-n // fits)
        for t in self._figures:  # the bars too thin for their names are too thin for their figures
            t.setVisible(step == 1)
        fm = self.chart.fontMetrics()
        room = self.name_room()
        ticks = [(float(y), fm.elidedText(t, Qt.TextElideMode.ElideRight, room))
                 for y, t in list(enumerate(self._titles))[::step]]
        if ticks != self._ticks:
            self._ticks = ticks
            self.chart.getAxis("left").setTicks([ticks])

    def _fit_x(self) -> None:
        """The accuracy axis from 0 to the data (``axis_end``: the longest bar with its error bar, and the chance
        line), with room for its last label, and each bar's figure where it is read whole: inside the bar at its end
        where it fits there, else just past the error bar, the axis lengthened to hold it."""
        if not self.groups:
            return
        vb = self.chart.getViewBox()
        width = max(40.0, float(vb.width()))  # the plot area's pixels
        spread = self.error_bars is not None
        end = max(g.top1_mean + (g.top1_std if spread else 0.0) for g in self.groups)
        chance = next((g.chance for g in self.groups if g.chance), 0.0) or 0.0
        end = max(end, chance)
        last = axis_end(end)
        if last != self._axis_end:
            self._axis_end = last
            step = 0.2 if last > 0.5 else 0.1
            count = int(round(last / step))
            self.chart.getAxis("bottom").setTicks([[(k * step, f"{round(100 * k * step)}%") for k in range(count + 1)],
                                                   [(k / 10, "") for k in range(int(round(10 * last)) + 1)]])
        half_label = QFontMetricsF(self.chart.font()).horizontalAdvance("100%") / 2 + 3
        hi = max(last / (1 - min(0.5, half_label / width)), last * 1.04, end * 1.02)
        gap = 6.0  # pixels between a figure and the bar's end or the error bar
        for _ in range(3):  # an outside figure lengthens the axis, which shortens the bars: placed again
            need = hi
            for t, (g, y) in zip(self._figures, self._figure_at):
                fig = float(t.textItem.boundingRect().width())
                err = g.top1_std if spread else 0.0
                inside_px = (g.top1_mean - err) * width / hi
                if inside_px >= fig + 2 * gap:  # inside the bar, at its end (left of the error bar)
                    t.setAnchor((1, 0.5))
                    t.setPos(g.top1_mean - err - gap * hi / width, y)
                    t.setColor((20, 20, 20) if g.head == "own" else (255, 255, 255))
                else:  # past the bar's end and its error bar
                    x = g.top1_mean + err + gap * hi / width
                    t.setAnchor((0, 0.5))
                    t.setPos(x, y)
                    t.setColor((20, 20, 20))
                    need = max(need, x / (1 - min(0.9, (fig + 2) / width)))
            if need <= hi * 1.0001:
                break
            hi = need
        self.chart.setXRange(0, hi, padding=0)

    def _hover(self, pos) -> None:
        """The tooltip of the bar row under the mouse (its whole name and figures); none between rows."""
        vb = self.chart.getViewBox()
        inside = self.chart.getPlotItem().sceneBoundingRect().contains(pos)
        y = vb.mapSceneToView(pos).y() if inside else -1.0
        i = int(round(y))
        tip = self._tips[i] if inside and 0 <= i < len(self._tips) and abs(y - i) <= 0.35 else ""
        if self.chart.toolTip() != tip:
            self.chart.setToolTip(tip)

    def column(self, name: str) -> int:
        return self.COLUMNS.index(name)

    def cell(self, row: int, name: str) -> str:
        return self.table.item(row, self.column(name)).text()
