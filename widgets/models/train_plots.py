"""The Train dialog's two live plots (loss; running train accuracy and validation per epoch) over the run's steps.

``TrainPlots`` is a mixin of ``widgets.models.train_dialog.TrainDialog``: it builds the plots (``_make_plots``), clears
them for a run (``_reset_plots``), takes a run's reports (``_plot_report``) and its end (``_plot_result``) and redraws
a few times a second (``_redraw``). The step axes show whole steps only (``StepAxis``): a short run's axis read
0.5, 1.5, 2.5 steps, and an empty one 0.2 ... 0.8. Nothing numerical here: the points are the run's own figures.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout

from widgets.common.live_plot import SteppedRange, cache_axes
from widgets.models.train_words import _epoch_acc


class StepAxis(pg.AxisItem):
    """A bottom axis counting steps: its ticks fall on whole numbers (no tick level finer than one step)."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802,N803 - pyqtgraph's names
        levels = [(spacing, offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)
                  if spacing >= 1]
        return levels or [(1.0, 0.0)]


def step_plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title, enableMenu=False, axisItems={"bottom": StepAxis(orientation="bottom")})
    plot.setLabel("bottom", "step")
    plot.showGrid(x=True, y=True, alpha=0.3)
    return plot


class TrainPlots:
    """Mixin: the loss and accuracy plots of a training run (see the module's docstring)."""

    def _make_plots(self) -> QHBoxLayout:
        self._steps: list[float] = []
        self._loss: list[float] = []
        self._acc: list[float] = []
        self._ep_x: list[float] = []
        self._ep_acc: list[float] = []
        self._x_total: int | None = None
        self._redraw_timer = QTimer(self, singleShot=True, interval=250)
        self._redraw_timer.timeout.connect(self._redraw)
        self.loss_plot = step_plot("loss")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen("#c0392b", width=2), name="train loss")
        self.acc_plot = step_plot("accuracy")
        self.acc_plot.setYRange(0, 1)
        self.acc_plot.addLegend(offset=(10, 10))
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#2471a3", width=2), name="train (running)")
        self.test_curve = self.acc_plot.plot([], [], pen=pg.mkPen("#27ae60", width=2), symbol="o", symbolSize=7,
                                             symbolBrush="#27ae60", name="validation (per epoch)")
        self.end_curve = self.acc_plot.plot([], [], pen=None, symbol="d", symbolSize=10, symbolBrush="#8e44ad",
                                            name="test (once, at the end)")
        self._test_pt: list[tuple[float, float]] = []
        for p in (self.loss_plot, self.acc_plot):
            p.setMinimumHeight(180)
            p.setMenuEnabled(False)
            cache_axes(p)  # axes drawn from a pixmap; the loss range steps only when the points leave it (issue 14)
        self.loss_range = SteppedRange(self.loss_plot, x=False, y=True)
        self._loss_lo = self._loss_hi = None
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.acc_plot)
        return plots

    def _reset_plots(self) -> None:
        """A new run: no points, the x axes auto-ranged until the run's steps are known (``_plot_report``)."""
        self._steps, self._loss, self._acc, self._ep_x, self._ep_acc = [], [], [], [], []
        self._test_pt = []
        self._x_total = None  # the run's steps: the x axes' fixed range once known
        for plot in (self.loss_plot, self.acc_plot):
            plot.enableAutoRange(x=True)
        self.loss_range.reset()
        self._loss_lo = self._loss_hi = None
        self._redraw()

    def _plot_report(self, p) -> None:
        """One progress report (``app.tasks.Progress``): the run's length fixes the x axes; a step or an epoch record
        adds a point (drawn by the next redraw)."""
        if p.fraction is not None and p.total and p.total != self._x_total:  # the whole run's width at once: the
            self._x_total = p.total  # x axes stay as they are (a changing range re-lays their ticks at every redraw)
            for plot in (self.loss_plot, self.acc_plot):
                plot.setXRange(0, p.total, padding=0.02)
        rec = p.payload
        if rec is None or not hasattr(rec, "loss"):
            return
        if rec.kind == "step":
            self._steps.append(rec.step)
            self._loss.append(rec.loss)
            if rec.loss is not None and math.isfinite(rec.loss):
                self._loss_lo = rec.loss if self._loss_lo is None else min(self._loss_lo, rec.loss)
                self._loss_hi = rec.loss if self._loss_hi is None else max(self._loss_hi, rec.loss)
            self._acc.append(rec.train_acc)
        else:
            if _epoch_acc(rec) is not None:
                self._ep_x.append(rec.step)
                self._ep_acc.append(_epoch_acc(rec))
            if getattr(rec, "test_acc", None) is not None:  # the last epoch's record: the test split, once
                self._test_pt = [(rec.step, rec.test_acc)]
        if not self._redraw_timer.isActive():  # a few redraws a second (each re-ranges and repaints the axes,
            self._redraw_timer.start()  # 20-100 ms of the GUI thread under load), not one per report

    def _plot_result(self, result) -> None:
        """The finished run: its epochs' points (a coalesced report may have skipped one), drawn now."""
        self._ep_x = [r.step for r in result.history if _epoch_acc(r) is not None]
        self._ep_acc = [_epoch_acc(r) for r in result.history if _epoch_acc(r) is not None]
        self._test_pt = [(r.step, r.test_acc) for r in result.history if getattr(r, "test_acc", None) is not None][-1:]
        self._redraw_timer.stop()
        if len(self._steps) < min(2, len(result.history)):  # a fast run whose step reports were coalesced away
            # (one point or none): the epochs' own figures
            self._steps = [r.step for r in result.history]
            self._loss = [float(r.loss) for r in result.history]
            self._acc = [float(r.train_acc) for r in result.history]
            finite = [v for v in self._loss if math.isfinite(v)]
            self._loss_lo, self._loss_hi = (min(finite), max(finite)) if finite else (None, None)
        self._redraw()

    def _redraw(self) -> None:
        lone = len(self._steps) == 1  # a line needs two points: a lone point gets a marker, or nothing shows
        for curve, colour in ((self.loss_curve, "#c0392b"), (self.acc_curve, "#2471a3")):
            if (curve.opts["symbol"] is not None) != lone:  # only on a change (redraws come a few times a second)
                curve.setSymbol("o" if lone else None)
                if lone:
                    curve.setSymbolBrush(colour)
                    curve.setSymbolSize(7)
        self.loss_curve.setData(self._steps, self._loss)
        self.loss_range.update(None, self._loss_lo, self._loss_hi)
        self.acc_curve.setData(self._steps, self._acc)
        self.test_curve.setData(self._ep_x, self._ep_acc)
        self.end_curve.setData([x for x, _ in self._test_pt], [a for _, a in self._test_pt])
