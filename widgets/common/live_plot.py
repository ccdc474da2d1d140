"""Plots that grow during a run without repainting their axes at every redraw (issue 14).

pyqtgraph re-ranges an auto-ranged plot at every ``setData`` and then lays out and draws its axes again: ~10-13 ms of
the GUI thread per plot per redraw on this machine when idle (its tick text replayed from a ``QPicture``), several
times that on a busy one. With the axes cached as pixmaps (``cache_axes``) and a range that stays put while the data
stay inside it (``SteppedRange``: it steps out to round numbers only when the data leave it), a redraw that does not
change the range repaints the curves alone: ~1 ms (docs/benchmarks/startup.md, "Training curves").

A user's own zoom or pan (the mouse, or pyqtgraph's auto-range button) switches the stepping off for that plot until
``reset()``, so the view never jumps away from what the user chose.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

AXES = ("left", "bottom", "right", "top")


def axis_label(plot: pg.PlotWidget | pg.PlotItem, side: str, text: str) -> None:
    """Set an axis' label and centre it again. pyqtgraph positions the label only when the axis is resized: a new
    text of another length on an axis that keeps its size stayed where the old text was centred (a short label
    after a long one sat far left of the middle)."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    item.setLabel(side, text)
    item.getAxis(side).resizeEvent()


def cache_axes(plot: pg.PlotWidget | pg.PlotItem) -> None:
    """Draw the plot's axes from a cached pixmap (redrawn only when their range, size or labels change)."""
    item = plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot
    for name in AXES:
        axis = item.getAxis(name)
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def nice_ceil(v: float) -> float:
    """The smallest of 1, 2, 5 x 10^n that is >= ``v`` (``v`` > 0)."""
    if not v > 0 or not math.isfinite(v):
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1.0, 2.0, 5.0, 10.0):
        c = m * 10.0 ** e
        if c >= v * (1 - 1e-12):
            return c
    return 10.0 ** (e + 1)


def grown(b: float, current: tuple[float, float] | None) -> tuple[float, float]:
    """A range from 0 that holds ``b`` (a step count): kept while it holds it, else 0 to a round number 20%+ above."""
    if current is not None and b <= current[1]:
        return current
    return 0.0, nice_ceil(max(b, 1.0) * 1.2)


def fitted(a: float, b: float, current: tuple[float, float] | None, fill: float = 0.4) -> tuple[float, float]:
    """A range that holds [a, b] with round ends: ``current`` while it holds them and they fill >= ``fill`` of it,
    else [a, b] widened by 5% each side and rounded outwards to a tenth of a round span."""
    if current is not None and current[0] <= a and b <= current[1] and (b - a) >= fill * (current[1] - current[0]):
        return current
    span = max(b - a, abs(b) * 1e-3, 1e-9)
    unit = nice_ceil(span) / 10
    lo = math.floor((a - 0.05 * span) / unit) * unit
    hi = math.ceil((b + 0.05 * span) / unit) * unit
    if a >= 0 > lo:  # a loss or an accuracy never goes below zero: neither does its axis
        lo = 0.0
    return lo, hi


class SteppedRange:
    """Sets a plot's x range (``x``: grown from 0) and/or y range (``y``: fitted to the data) only when the data
    leave it; pyqtgraph's own auto-range is off for those axes. Off for good (until ``reset``) once the user zooms,
    pans or presses the auto-range button."""

    def __init__(self, plot: pg.PlotWidget, *, x: bool = True, y: bool = True) -> None:
        self.plot = plot
        self.vb = plot.getViewBox()
        self.x, self.y = x, y
        self.user = False
        self._xr: tuple[float, float] | None = None
        self._yr: tuple[float, float] | None = None
        self.changes = 0  # how many times the range moved (tests, benchmarks)
        self.vb.sigRangeChangedManually.connect(self._manual)
        self.reset()

    def _manual(self, *_):
        self.user = True

    def reset(self) -> None:
        """A new run: forget the ranges and any user zoom, pyqtgraph's auto-range off for the stepped axes."""
        self.user = False
        self._xr = self._yr = None
        self.vb.disableAutoRange(axis=self._axis())

    def _axis(self):
        if self.x and self.y:
            return None  # both
        return pg.ViewBox.XAxis if self.x else pg.ViewBox.YAxis

    def active(self) -> bool:
        auto = self.vb.state["autoRange"]
        return not self.user and not ((self.x and auto[0]) or (self.y and auto[1]))

    def update(self, x_max: float | None, y_min: float | None, y_max: float | None) -> None:
        """The data's extent now (None: no data on that axis yet)."""
        if not self.active():
            return
        xr = self._xr if not self.x or x_max is None else grown(x_max, self._xr)
        yr = self._yr
        if self.y and y_min is not None and y_max is not None and math.isfinite(y_min) and math.isfinite(y_max):
            yr = fitted(y_min, y_max, self._yr)
        if xr != self._xr and xr is not None:
            self.vb.setXRange(*xr, padding=0)
            self._xr = xr
            self.changes += 1
        if yr != self._yr and yr is not None:
            self.vb.setYRange(*yr, padding=0)
            self._yr = yr
            self.changes += 1

    def settle(self, x_max: float | None, y_min: float | None, y_max: float | None) -> None:
        """The run ended: fit the x range to the last step (one re-layout; during the run it had head-room)."""
        if not self.active():
            return
        self.update(x_max, y_min, y_max)
        if self.x and x_max is not None and x_max > 0:
            self._xr = (0.0, float(x_max))
            self.vb.setXRange(0.0, float(x_max), padding=0.03)
            self.changes += 1
