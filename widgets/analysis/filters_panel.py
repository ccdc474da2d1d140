"""Filter statistics, trained vs random twin (vs the session's hand-designed banks), per layer, on one set of plots:
radial power spectrum, orientation histogram, variance explained by the top eigen-kernels, sparsity
(``app.analysis.jobs.filters_job`` in a worker).

The layers are known once computed: until then the layer box is off and says so, and the task bar says what Compare
does. A result (or another layer) is drawn one plot per turn of the event loop, each painted before the next is drawn
(``Turns`` at 4 ms), and a shown panel paints its plots one per turn: the four plots' items and their paint held the GUI
thread 140-200 ms in one go, and drawn on turns that also painted the plot before, 40-90 ms."""

from __future__ import annotations

from html import escape
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.analysis.filters import ORIENTATION_CONVENTION, orientation_centres
from app.analysis.jobs import FROZEN_KIND, filters_job, series_entry
from widgets.probe.plots import plot
from widgets.analysis.common import DEFAULT_TRAINED, ModelCombo, TaskBar
from widgets.common.qt_override import qt_override
from widgets.common.steady import reserve_lines
from widgets.common.turns import Turns
from widgets.common.worker import WorkerPool
from widgets.common.workspace import run_steps


def legend_html(entries: list[tuple[str, tuple[int, int, int]]]) -> str:
    """One line of legend: a coloured square and the label of each (label, rgb); " " for none."""
    return "&nbsp;&nbsp;&nbsp;".join(f'<span style="color: rgb{tuple(c)}">&#9632;</span>&nbsp;{escape(label)}'
                                     for label, c in entries) or " "


LAYER_HINT = "press Compare filters"  # the layer box before the layers are known (off)
IDLE_HINT = "Press Compare filters (Ctrl+Return) to list the model's layers and plot their kernels' statistics."
WIDEST_TICK = "0.0005"  # the widest value label the plots' shares commonly need (a wider one still widens the axis)
# (a trained model's layer its architecture keeps frozen, e.g. an LC model's random basis: grey, not "trained" blue)
COLOURS = {"trained": (31, 119, 180), "random": (214, 39, 40), "hand-designed": (44, 160, 44),
           FROZEN_KIND: (127, 127, 127)}
NOTE = "Trained (blue) vs random twin (red) vs hand-designed banks of the session (green)."


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    # no legend in the plot: one legend line over the four (``FiltersPanel.legend``). A legend in each plot's corner
    # covered the data there (the highest bar, the spectrum's and the PCA's curves in the upper right)
    w = plot(title, left, bottom, size="9pt")
    for ax in ("left", "bottom"):
        w.getAxis(ax).enableAutoSIPrefix(False)  # shares are shares, not "x0.001"
    # the value axis keeps room for tick labels up to WIDEST_TICK from the start and never gives room back: left to
    # fit each result's labels, it changed width at the first paint after a result and re-laid and repainted its plot
    # in the same turn (the four plots' values change together: two to four paints each)
    left = w.getAxis("left")
    left.textWidth = max(left.textWidth, QFontMetricsF(left.style["tickFont"] or left.font()).horizontalAdvance(
        WIDEST_TICK))
    left.setStyle(autoReduceTextSpace=False)  # (applies the width)
    return w


def done_text(sets: tuple) -> str:
    """The status line after a compute: what the result holds ("Done: filter statistics of 3 layers of MODEL, its
    random twin and 1 bank. Choose a layer above.")."""
    if not sets:
        return "Done: no filter statistics."
    first, others = sets[0], sets[1:]
    n = len(first.stats)
    twins = [s.label for s in others if s.kind == "random"]
    banks = sum(s.kind == "hand-designed" and bool(s.stats) for s in others)  # (a 1 x k bank: left out, noted)
    also = (["its random twin"] if twins else []) + ([f"{banks} bank{'s' if banks != 1 else ''}"] if banks else [])
    if n == 0:  # the session's banks alone (the model has no k x k convolution)
        return f"Done: filter statistics of {banks} bank{'s' if banks != 1 else ''} ({first.label} has no k x k layer)."
    names = [first.label] + also
    whose = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return (f"Done: filter statistics of {n} layer{'s' if n != 1 else ''} of {whose}"
            + (". Choose a layer above." if n > 1 else "."))


def note_text(sets: tuple) -> str:
    """The line over the plots: the colours, a trained model's frozen layers (an LC model's random basis: drawn in
    grey, not as trained weights) and the layers left out (kernels with a side of 1), once, per set."""
    text = NOTE
    if any(series_entry(fs, s)[1] == FROZEN_KIND for fs in sets for s in fs.stats):
        text += (" Grey: a layer of the trained model whose weights its architecture keeps frozen (never trained; an "
                 "LC model's random k x k basis: its trained part is the 1x1 mixing, shown folded in the LC fold tab).")
    seen: set[str] = set()
    for fs in sets:
        if fs.note and fs.note not in seen:
            seen.add(fs.note)
            text += f" {fs.label}: {fs.note}."
    return text


class FiltersPanel(QWidget):
    def __init__(self, session: Any, pool: WorkerPool, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.sets: tuple = ()
        self.turns = Turns(self, interval_ms=4)  # the plots drawn, and painted, one per event-loop turn (``draw``, ``showEvent``)
        self._held: list = []  # plots kept from painting until a turn of their own (``showEvent``)
        self.build_steps = self._build(session, pool)  # a plot per step (the start-up: widgets.common.workspace)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Any, pool: WorkerPool):
        self.model = ModelCombo(session, "A model: its kernels are compared with those of its random twin")
        self.model.select(DEFAULT_TRAINED)
        self.layer = QComboBox()
        self.layer.setToolTip("The convolution (k > 1) whose kernels are summarised")
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.setPlaceholderText(LAYER_HINT)  # no layer listed yet: off, saying how to list them
        self.layer.setEnabled(False)
        row = QHBoxLayout()
        for text, w in (("Model", self.model), ("layer", self.layer)):
            row.addWidget(QLabel(text))
            row.addWidget(w)
        row.addStretch(1)
        self.bar = TaskBar(pool, "Compare filters")
        self.bar.run_btn.setToolTip("Statistics of the model's kernels, its random twin's and the session's banks "
                                    "(Ctrl+Return)")
        self.bar.run_clicked.connect(self.compute)
        self.bar.status.setText(IDLE_HINT)
        self.note = QLabel(NOTE)
        self.note.setWordWrap(True)
        self.legend = reserve_lines(QLabel(" "), 1)  # the four plots' one legend (``draw``); its line from the start
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        yield
        self.spectrum = _plot("Radial power spectrum", "energy share",
                              "frequency ring (0 = DC … Nyquist; the last also holds the corners)")
        yield
        self.orient = _plot("Orientation (coherence-weighted)", "share", "degrees (0 horizontal, 90 vertical, 45 = /)")
        self.orient.setToolTip("Orientation of each filter's edges or bars, " + ORIENTATION_CONVENTION)
        yield
        self.pca = _plot("PCA of the kernels", "variance explained (cumulative)", "eigen-kernels")
        yield
        self.sparse = _plot("Sparsity and coherence", "fraction", "")
        grid = QGridLayout()
        for i, p in enumerate(self.plots()):
            grid.addWidget(p, i // 2, i % 2)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.note)
        lay.addWidget(self.legend)
        lay.addLayout(grid, 1)
        self.layer.currentIndexChanged.connect(lambda _=0: self.draw())

    def compute(self) -> None:
        spec = self.model.spec()
        if spec is None:
            return
        banks = tuple((name, b.weights) for name, b in (getattr(self.session, "banks", None) or {}).items())
        self.bar.run(lambda token: filters_job(spec, banks, cancel=token), self.show_result, name="filters",
                     done=done_text)

    def show_result(self, sets: tuple) -> None:
        self.sets = sets
        keep = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        if sets:
            for s in sets[0].stats:
                frozen = "  (frozen)" if series_entry(sets[0], s)[1] == FROZEN_KIND else ""
                self.layer.addItem(f"{s.layer}  {'x'.join(map(str, s.shape))}{frozen}", s.layer)
        self.note.setText(note_text(sets))
        i = self.layer.findText(keep)
        self.layer.setCurrentIndex(max(0, i) if self.layer.count() else -1)
        self.layer.setEnabled(self.layer.count() > 0)
        self.layer.blockSignals(False)
        self.draw()

    def series(self) -> list[tuple[str, str, Any]]:
        """(label, kind, FilterStats) of every set at the chosen layer (a bank stands beside every layer)."""
        name = self.layer.currentData()
        out = []
        for fs in self.sets:
            for s in fs.stats:
                if fs.kind == "hand-designed" or s.layer == name:
                    out.append((*series_entry(fs, s), s))  # a trained model's frozen layer: not "trained"
                    break
        return out

    def plots(self) -> tuple:
        """The four plots, in drawing order (none while the panel is half built)."""
        return tuple(getattr(self, n) for n in ("spectrum", "orient", "pca", "sparse") if hasattr(self, n))

    def drawing(self) -> bool:
        """Whether plots of the last result are still to be drawn, or plots of a shown panel to be painted (on the next
        turns)."""
        return self.turns.pending() > 0 or bool(self._held)

    @qt_override
    def showEvent(self, ev) -> None:  # noqa: N802
        """Shown (its tab opened): the spectrum paints on this turn, the other plots each on a later one. Qt painted
        the four in one window update: 30-90 ms of the GUI thread, most of it their axes' texts and pictures.
        (``widgets.common.turns.Stagger`` holds widgets whose updates are on; a tab widget turns its pages' updates
        off while it shows one, when this event comes: these are held whatever their parent's state.)"""
        super().showEvent(ev)
        plots = self.plots()
        if len(plots) == 4:
            for p in plots[1:]:
                if p not in self._held:
                    p.setUpdatesEnabled(False)  # its own flag: their parent's updates come back on after this event
                    self._held.append(p)
                    self.turns.later(self._let_go, p)

    def _let_go(self, plot: pg.PlotWidget) -> None:
        """``plot`` paints again (on the next pass of the event loop), if it was held."""
        if plot in self._held:
            self._held.remove(plot)
            if shiboken6.isValid(plot):
                plot.setUpdatesEnabled(True)

    def draw(self) -> None:
        """The chosen layer's series: the legend and the spectrum now, the other plots each on a turn of its own,
        painted before the next is drawn (a draw still pending for another layer is dropped)."""
        self.turns.stop()
        ser = self.series()
        self.legend.setText(legend_html([(label, COLOURS.get(kind, (120, 120, 120))) for label, kind, _ in ser]))
        self._draw_spectrum(ser)
        for plot, step in ((self.orient, self._draw_orientation), (self.pca, self._draw_pca),
                           (self.sparse, self._draw_sparsity)):
            self.turns.later(self._draw_one, plot, step, ser)

    def _draw_one(self, plot: pg.PlotWidget, step: Callable[[list], None], ser: list) -> None:
        step(ser)
        self._let_go(plot)  # (held since the panel was shown: it paints with what it now shows)

    @staticmethod
    def _pens(kind: str) -> tuple[Any, dict]:
        c = COLOURS.get(kind, (120, 120, 120))
        return pg.mkPen(c, width=2), dict(symbol="o", symbolSize=5, symbolBrush=c, symbolPen=None)

    def _draw_spectrum(self, ser: list) -> None:
        self.spectrum.clear()
        for label, kind, s in ser:
            pen, sym = self._pens(kind)
            self.spectrum.plot(np.arange(len(s.spectrum)), s.spectrum, pen=pen, name=label, **sym)

    def _draw_orientation(self, ser: list) -> None:
        self.orient.clear()
        for label, kind, s in ser:
            pen, sym = self._pens(kind)
            self.orient.plot(orientation_centres(len(s.orientation_hist)), s.orientation_hist, pen=pen, name=label,
                             **sym)

    def _draw_pca(self, ser: list) -> None:
        self.pca.clear()
        for label, kind, s in ser:
            pen, sym = self._pens(kind)
            self.pca.plot(np.arange(1, len(s.pca_explained) + 1), s.pca_explained, pen=pen, name=label, **sym)
        self.pca.setYRange(0, 1, padding=0.05)

    def _draw_sparsity(self, ser: list) -> None:
        self.sparse.clear()
        for k, (label, kind, s) in enumerate(ser):
            x = np.array([0.0, 1.0]) + (k - (len(ser) - 1) / 2) * 0.25
            self.sparse.addItem(pg.BarGraphItem(x=x, height=[s.sparsity, s.coherence_mean], width=0.22,
                                                brush=pg.mkBrush(COLOURS.get(kind, (120, 120, 120))), pen=None,
                                                name=label))
        self.sparse.getAxis("bottom").setTicks([[(0, "sparsity (|w| < 1% max)"), (1, "mean coherence")]])
        self.sparse.setYRange(0, 1, padding=0.05)
