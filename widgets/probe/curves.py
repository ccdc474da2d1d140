"""Live training curves: loss and accuracy per step, one colour per run of the batch.

Curves are created once per run and updated with ``setData`` on growing numpy buffers, at most 4 times a second;
the axes are cached and their ranges step out only when the points leave them (``widgets.common.live_plot``), so a
redraw repaints the curves, not the axes.
"""

from __future__ import annotations

import html

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QStackedWidget, QVBoxLayout, QWidget

from widgets.common.live_plot import SteppedRange, cache_axes
from widgets.common.turns import Stagger
from widgets.common.workspace import run_steps
from widgets.probe.elided_note import ElidedNote
from widgets.probe.plots import PALETTE, breakable, hint_label, plot as _plot
from widgets.probe.run_panel import TRAIN_KEY


HEADLINE = f"Pick models and press Train ({TRAIN_KEY})"  # the placeholder's first line while Train can run
STEPS = ("1 · choose a dataset on the left<br>"
         "2 · check one or more backbones: random, hand-designed, trained<br>"
         "3 · press <b>Train</b>: a linear head learns on each backbone's frozen features<br><br>"
         "The loss and accuracy curves appear here while the heads train;<br>"
         "accuracies are compared side by side under <b>Compare</b>.")


class _Series:
    """A growing (x, y) buffer for one curve: amortised appends, ``setData`` on views."""

    def __init__(self, item: pg.PlotDataItem) -> None:
        self.item = item
        self.x = np.empty(256, np.float64)
        self.y = np.empty(256, np.float64)
        self.n = 0

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.empty_like(self.x)])
            self.y = np.concatenate([self.y, np.empty_like(self.y)])
        self.x[self.n] = x
        self.y[self.n] = y
        self.n += 1

    def set(self, xs: list[float], ys: list[float]) -> None:
        self.x = np.asarray(xs, np.float64).copy()
        self.y = np.asarray(ys, np.float64).copy()
        self.n = len(self.x)
        if self.n == 0:
            self.x = np.empty(256, np.float64)
            self.y = np.empty(256, np.float64)

    def flush(self) -> None:
        self.item.setData(self.x[: self.n], self.y[: self.n])


class CurvesView(QWidget):
    """Loss and accuracy per training step, one colour per run of the batch."""

    def __init__(self, parent: QWidget | None = None, *, stepwise: bool = False) -> None:
        super().__init__(parent)
        self.series: dict[int, dict[str, _Series]] = {}
        self._notes: dict[int, tuple[str, str]] = {}  # key -> (run name, what its curves are: ``set_note``)
        self._last_step: dict[int, float] = {}  # each run's last live step (``add_point``: a new fit of a sweep)
        self._dirty: set[int] = set()
        self.build_steps = self._build()  # a plot per step (the Probe's start-up: widgets.common.workspace)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self):
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.hint = hint_label("")
        self.set_headline(None)
        self.stack.addWidget(self.hint)
        self.waiting = hint_label("")  # before the first point: no empty axes
        self.stack.addWidget(self.waiting)
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = _plot("Training loss", "loss", "step")
        yield
        self.acc_plot = _plot("Accuracy (dashed: train, solid: validation)", "accuracy", "step")
        self.acc_plot.setYRange(0, 1.0, padding=0.02)
        self.acc_plot.setXLink(self.loss_plot)
        self.acc_plot.disableAutoRange()
        self.loss_range = SteppedRange(self.loss_plot)  # x (shared with the accuracy plot) and the loss
        for p in (self.loss_plot, self.acc_plot):
            cache_axes(p)
        self.loss_legend = self.loss_plot.addLegend(offset=(-10, 10))
        pl.addWidget(self.loss_plot)
        pl.addWidget(self.acc_plot)
        # what a finished run's curves are when a sweep chose its hyperparameter (``set_note``): its lines kept from
        # the start, so that a note at a run's end moves neither plot (issue 14)
        self.caption = ElidedNote(2)  # a longer text: its 2nd line ends in "…"; the whole text is its tooltip
        self.caption.setStyleSheet("color: #5b6472;")
        pl.addWidget(self.caption)
        self.stack.addWidget(plots)
        lay.addWidget(self.stack)
        self._timer = QTimer(self)
        self._timer.setInterval(250)  # a few redraws a second: each re-ranges and repaints the axes (pyqtgraph's
        # tick layout in Python: 20-100 ms of the GUI thread under load at ~30 a second, issue 14); stop() draws the end
        self._timer.timeout.connect(self._redraw)
        self._stagger = Stagger(self)  # the two plots painted on turns of their own (issue 14)

    def set_headline(self, not_ready: str | None) -> None:
        """The placeholder's first line: what the run box says while Train is off for the dataset (``not_ready``, the
        stage line's "Not ready: ..."), else how to start (``widgets.probe.readiness``)."""
        # a long word in it (a failed download's address or path) breaks instead of widening the results column
        head = html.escape(breakable(not_ready)).replace("\n", "<br>") if not_ready else HEADLINE
        self.hint.setText(f"<b>{head}</b><br><br>{STEPS}")

    def clear(self) -> None:
        self.loss_plot.clear()
        self.acc_plot.clear()
        self.loss_legend.clear()
        self.series.clear()
        self._notes.clear()
        self.caption.setText(" ")
        self._last_step.clear()
        self._dirty.clear()
        self.loss_range.reset()

    def add_run(self, key: int, name: str) -> None:
        """Create the curves of one run (once); later points only ``setData``."""
        colour = PALETTE[len(self.series) % len(PALETTE)]
        pen = pg.mkPen(colour, width=2)
        dashed = pg.mkPen(colour, width=1.5, style=Qt.PenStyle.DashLine)
        self.series[key] = {
            "loss": _Series(self.loss_plot.plot(name=name, pen=pen, symbol="o", symbolSize=4, symbolBrush=colour,
                                                symbolPen=None)),
            "train": _Series(self.acc_plot.plot(pen=dashed, symbol="t", symbolSize=5, symbolBrush=colour,
                                                symbolPen=None)),
            "val": _Series(self.acc_plot.plot(pen=pen, symbol="o", symbolSize=5, symbolBrush=colour,
                                               symbolPen=None)),
        }
        if not any(x.n for series in self.series.values() for x in series.values()):
            self.waiting.setText(f"<b>{name}</b><br><br>Extracting the frozen features first (progress, speed and "
                                 "time left at the left, under Run).<br>The loss and accuracy curves appear here "
                                 "as soon as the head starts training.")
            self.stack.setCurrentWidget(self.waiting)
        if not self._timer.isActive():
            self._timer.start()

    def show_failed(self, summary: str, failures: list[str]) -> None:
        """A batch failed before any curve: the waiting page says so and why (not "Extracting…" any more)."""
        if self.stack.currentWidget() is not self.waiting:
            return
        why = "<br>".join(html.escape(f) for f in failures[:3]) + ("<br>…" if len(failures) > 3 else "")
        self.waiting.setText(f"<b>Failed: {summary}</b><br><br><span style='color:#b42318'>{why}</span><br><br>"
                             "Fix the cause (the message is also in the red box under Run) and press Train again.")

    def add_point(self, key: int, p: Any) -> None:
        """One point of a run's fit in progress. A step that does not follow the run's last one starts the next fit
        of a validation sweep (each grid value is a fit of its own, counted from step 1): the run's curves then
        show that fit from its start, instead of a line drawn back across the plot to step 1 and over the previous
        fit (the run's end shows the selected value's fit: ``set_curves``)."""
        s = self.series.get(key)
        if s is None:
            return
        last = self._last_step.get(key)
        if last is not None and p.step <= last:
            for x in s.values():
                x.set([], [])
        self._last_step[key] = p.step
        if p.loss is not None and math.isfinite(p.loss):  # closed-form heads (ridge, k-NN) have no loss
            s["loss"].append(p.step, p.loss)
        if p.train_acc is not None:
            s["train"].append(p.step, p.train_acc)
        if p.val_acc is not None:
            s["val"].append(p.step, p.val_acc)
        self._dirty.add(key)
        self._show_plots()

    def _show_plots(self) -> None:
        if self.stack.currentIndex() != 2:
            self.stack.setCurrentIndex(2)
            self._stagger.hold(self.loss_plot, self.acc_plot)

    def set_curves(self, key: int, curves: list[dict]) -> None:
        """Replace a run's curves with its complete record (the live view may have skipped points)."""
        s = self.series.get(key)
        if s is None:
            return
        lo = [c for c in curves if c.get("loss") is not None and math.isfinite(c["loss"])]
        s["loss"].set([c["step"] for c in lo], [c["loss"] for c in lo])
        tr = [c for c in curves if c.get("train_acc") is not None]
        te = [c for c in curves if c.get("val_acc", c.get("test_acc")) is not None]  # older runs: "test_acc"
        s["train"].set([c["step"] for c in tr], [c["train_acc"] for c in tr])
        s["val"].set([c["step"] for c in te], [c.get("val_acc", c.get("test_acc")) for c in te])
        self._dirty.add(key)
        if curves:
            self._show_plots()
        self._redraw()

    def set_note(self, key: int, name: str, note: str) -> None:
        """Say under the plots what a finished run's curves are (``RunView.curve_text``: the selected value's fit,
        from the previous value's solution; a one-point curve is that fit's whole length). "" says nothing."""
        if note:
            self._notes[key] = (name, note)
        else:
            self._notes.pop(key, None)
        text = "; ".join(f"{n}: {t}" for n, t in self._notes.values())
        text = f"The selected value's fit, from the previous grid value's solution: {text}." if text else " "
        self.caption.setText(text)
        self.caption.setToolTip(text.strip())

    def show_run(self, name: str, curves: list[dict], note: str = "") -> None:
        """Show one stored run's curves (from the history)."""
        self.clear()
        self.add_run(0, name)
        self.set_curves(0, curves)
        self.set_note(0, name, note)

    def stop(self) -> None:
        self._redraw()
        self._timer.stop()
        self.loss_range.settle(*self.extent())  # the whole run in view, without the head-room kept while it ran

    def point_count(self) -> int:
        return sum(x.n for s in self.series.values() for x in s.values())

    def extent(self) -> tuple[float | None, float | None, float | None]:
        """(last step, lowest loss, highest loss) over every run's points (None where there are none)."""
        steps = [s[k].x[s[k].n - 1] for s in self.series.values() for k in s if s[k].n]
        losses = [s["loss"].y[: s["loss"].n] for s in self.series.values() if s["loss"].n]
        if not losses:
            return (max(steps) if steps else None), None, None
        return (max(steps) if steps else None), min(float(v.min()) for v in losses), max(float(v.max()) for v in losses)

    @Slot()
    def _redraw(self) -> None:
        if not self._dirty:
            return
        for key in self._dirty:
            for s in self.series[key].values():
                s.flush()
        self._dirty.clear()
        self.loss_range.update(*self.extent())
        self._stagger.hold(self.loss_plot, self.acc_plot)
