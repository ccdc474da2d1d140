"""Probe workspace plots: live training curves, one run's results, the comparison chart + table.

Everything shown is computed in ``app/`` (``app.probe.gallery``, ``app.probe.history.compare_groups``); these
widgets only put arrays into pyqtgraph items. Curves are created once per run and updated with ``setData`` on
growing numpy buffers, at most ~30 times a second.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.imaging import colormaps
from app.probe.gallery import confusion_uint8
from widgets.probe.panels import STATE_COLOURS, state_colour

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194)]


def hint_label(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setWordWrap(True)
    lab.setStyleSheet("color: #5b6472; font-size: 15px; padding: 24px;")
    return lab


def _plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget()
    w.setTitle(title, size="10pt")
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    w.showGrid(x=True, y=True, alpha=0.2)
    w.setMenuEnabled(False)
    return w


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

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.hint = hint_label(
            "<b>Pick models and press Train (Ctrl+Enter)</b><br><br>"
            "1 · choose a dataset on the left<br>"
            "2 · check one or more backbones: random, hand-designed, trained<br>"
            "3 · press <b>Train</b>: a linear head learns on each backbone's frozen features<br><br>"
            "The loss and accuracy curves appear here while the heads train;<br>"
            "accuracies are compared side by side under <b>Compare</b>.")
        self.stack.addWidget(self.hint)
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = _plot("Training loss", "loss", "step")
        self.acc_plot = _plot("Accuracy (dashed: train, solid: test)", "accuracy", "step")
        self.acc_plot.setYRange(0, 1.0, padding=0.02)
        self.acc_plot.setXLink(self.loss_plot)
        self.loss_legend = self.loss_plot.addLegend(offset=(-10, 10))
        pl.addWidget(self.loss_plot)
        pl.addWidget(self.acc_plot)
        self.stack.addWidget(plots)
        lay.addWidget(self.stack)
        self.series: dict[int, dict[str, _Series]] = {}
        self._dirty: set[int] = set()
        self._timer = QTimer(self)
        self._timer.setInterval(33)  # at most ~30 redraws a second
        self._timer.timeout.connect(self._redraw)

    def clear(self) -> None:
        self.loss_plot.clear()
        self.acc_plot.clear()
        self.loss_legend.clear()
        self.series.clear()
        self._dirty.clear()

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
            "test": _Series(self.acc_plot.plot(pen=pen, symbol="o", symbolSize=5, symbolBrush=colour,
                                               symbolPen=None)),
        }
        self.stack.setCurrentIndex(1)
        if not self._timer.isActive():
            self._timer.start()

    def add_point(self, key: int, p: Any) -> None:
        s = self.series.get(key)
        if s is None:
            return
        if p.loss is not None and math.isfinite(p.loss):  # closed-form heads (ridge, k-NN) have no loss
            s["loss"].append(p.step, p.loss)
        if p.train_acc is not None:
            s["train"].append(p.step, p.train_acc)
        if p.test_acc is not None:
            s["test"].append(p.step, p.test_acc)
        self._dirty.add(key)

    def set_curves(self, key: int, curves: list[dict]) -> None:
        """Replace a run's curves with its complete record (the live view may have skipped points)."""
        s = self.series.get(key)
        if s is None:
            return
        lo = [c for c in curves if c.get("loss") is not None and math.isfinite(c["loss"])]
        s["loss"].set([c["step"] for c in lo], [c["loss"] for c in lo])
        tr = [c for c in curves if c.get("train_acc") is not None]
        te = [c for c in curves if c.get("test_acc") is not None]
        s["train"].set([c["step"] for c in tr], [c["train_acc"] for c in tr])
        s["test"].set([c["step"] for c in te], [c["test_acc"] for c in te])
        self._dirty.add(key)
        self._redraw()

    def show_run(self, name: str, curves: list[dict]) -> None:
        """Show one stored run's curves (from the history)."""
        self.clear()
        self.add_run(0, name)
        self.set_curves(0, curves)

    def stop(self) -> None:
        self._redraw()
        self._timer.stop()

    def point_count(self) -> int:
        return sum(x.n for s in self.series.values() for x in s.values())

    @Slot()
    def _redraw(self) -> None:
        for key in self._dirty:
            for s in self.series[key].values():
                s.flush()
        self._dirty.clear()


class ResultsView(QWidget):
    """One run: top-k header, per-class accuracy bars, confusion matrix, misclassified gallery."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(hint_label("The results of a run appear here: top-1/2/5 accuracy, accuracy per "
                                        "class, the confusion matrix and the misclassified examples.<br><br>"
                                        "Train, or select a run in the history below."))
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setStyleSheet("padding: 4px;")
        grid.addWidget(self.header, 0, 0, 1, 2)
        self.per_class = _plot("Accuracy per class", "accuracy", "class")
        self.per_class.setYRange(0, 1, padding=0.02)
        self.per_class.setMouseEnabled(x=False, y=False)
        grid.addWidget(self.per_class, 1, 0)
        self.confusion = _plot("Confusion matrix (row-normalised)", "true class", "predicted class")
        self.confusion.invertY(True)
        self.confusion.setAspectLocked(True)
        self.confusion.showGrid(x=False, y=False)
        self.conf_image = pg.ImageItem(axisOrder="row-major")
        self.conf_image.setLookupTable(colormaps.lut("viridis"))
        self.confusion.addItem(self.conf_image)
        grid.addWidget(self.confusion, 1, 1)
        self.gallery = _plot("Misclassified test examples (true → predicted)", "", "")
        self.gallery.hideAxis("left")
        self.gallery.hideAxis("bottom")
        self.gallery.invertY(True)
        self.gallery.setAspectLocked(True)
        self.gallery.showGrid(x=False, y=False)
        self.gallery_image = pg.ImageItem(axisOrder="row-major")
        self.gallery.addItem(self.gallery_image)
        self.gallery_note = QLabel("")
        self.gallery_note.setStyleSheet("color: #5b6472;")
        grid.addWidget(self.gallery, 2, 0, 1, 2)
        grid.addWidget(self.gallery_note, 3, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        self.stack.addWidget(page)
        lay.addWidget(self.stack)
        self._bars: pg.BarGraphItem | None = None
        self._texts: list[pg.TextItem] = []
        self._gallery_texts: list[pg.TextItem] = []
        self.run: dict | None = None

    def show_run(self, d: dict) -> None:
        self.run = d
        self.stack.setCurrentIndex(1)
        cfg = d.get("config") or {}
        model = cfg.get("model") or {}
        head = cfg.get("head", "?")
        head_text = "its own trained classifier" if head == "own" else f"{head} head"
        settings = d.get("settings") or {}
        layer = settings.get("layer_name") or settings.get("layer") or cfg.get("layer")
        pool = settings.get("pooling") or cfg.get("pooling")
        colour = state_colour(model.get("weight_state", "random")).name()
        self.header.setText(
            f"<b>{model.get('label', '?')}</b> <span style='color:{colour}'>({model.get('weight_state', '?')})"
            f"</span> on <b>{cfg.get('dataset', '?')}</b>, {head_text}"
            + (f" · layer {layer}" if layer is not None else "") + (f" · {pool} pooling" if pool else "")
            + "<br><span style='font-size:15px'>top-1 <b>{:.1f}%</b> &nbsp; top-2 <b>{:.1f}%</b> &nbsp; "
              "top-5 <b>{:.1f}%</b></span>".format(100 * d.get("top1", 0), 100 * (d.get("top2") or 0),
                                                   100 * (d.get("top5") or 0))
            + f"<br><span style='color:#5b6472'>{d.get('n_train', '?')} train / {d.get('n_test', '?')} test "
              f"images · {d.get('n_features', '?')} features · extract {d.get('extract_seconds', 0):.1f} s"
              f"{' (cached)' if d.get('feature_cache_hit') else ''} · train {d.get('train_seconds', 0):.1f} s · "
              f"{d.get('device', '')}</span>")
        classes = list(d.get("classes") or [])
        per = np.asarray(d.get("per_class") or [], np.float64)
        if self._bars is not None:
            self.per_class.removeItem(self._bars)
        xs = np.arange(len(per), dtype=np.float64)
        self._bars = pg.BarGraphItem(x=xs, height=per, width=0.7, brush=pg.mkBrush(colour), pen=None)
        self.per_class.addItem(self._bars)
        ax = self.per_class.getAxis("bottom")
        ax.setTicks([[(i, c[:8]) for i, c in enumerate(classes)]] if 0 < len(classes) <= 20 else None)
        self.per_class.setXRange(-0.6, max(len(per) - 0.4, 0.6), padding=0)
        # confusion matrix: uint8 image (normalised in app/) + LUT; counts written on small matrices
        conf = np.asarray(d.get("confusion") or [[0]], np.int64)
        img = confusion_uint8(conf)
        self.conf_image.setImage(img, levels=(0, 255), autoLevels=False)
        for t in self._texts:
            self.confusion.removeItem(t)
        self._texts = []
        n = img.shape[0]
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    if conf[i, j] == 0:
                        continue
                    t = pg.TextItem(str(int(conf[i, j])), color=(0, 0, 0) if img[i, j] > 160 else (255, 255, 255),
                                    anchor=(0.5, 0.5))
                    t.setFont(QFont("Sans", 7))
                    t.setPos(j + 0.5, i + 0.5)
                    self.confusion.addItem(t)
                    self._texts.append(t)
        ticks = [[(i + 0.5, c[:6]) for i, c in enumerate(classes)]] if 0 < len(classes) <= 20 else None
        self.confusion.getAxis("bottom").setTicks(ticks)
        self.confusion.getAxis("left").setTicks(ticks)
        self.confusion.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        self.set_gallery(None, "loading the misclassified examples…")

    def set_gallery(self, gallery: Any, note: str = "") -> None:
        for t in self._gallery_texts:
            self.gallery.removeItem(t)
        self._gallery_texts = []
        if gallery is None or not gallery.cells:
            self.gallery_image.clear()
            self.gallery_note.setText(note or "no misclassified examples")
            return
        self.gallery_image.setImage(gallery.image, levels=(0, 255), autoLevels=False)
        for (x, y, w, h), t, p in zip(gallery.cells, gallery.true, gallery.predicted):
            item = pg.TextItem(f"{t[:5]}→{p[:5]}", color=(180, 30, 30), anchor=(0.5, 0))
            item.setFont(QFont("Sans", 7))
            item.setPos(x + w / 2, y + h)
            self.gallery.addItem(item)
            self._gallery_texts.append(item)
        hgt, wid = gallery.image.shape[:2]
        self.gallery.setRange(xRange=(0, wid), yRange=(0, hgt), padding=0.01)
        shown = len(gallery.cells)
        self.gallery_note.setText(note or f"{shown} of {gallery.total} misclassified test examples shown")


class CompareView(QWidget):
    """Runs grouped by everything but the seed: horizontal bars (mean top-1) with ± std error bars, and a table."""

    COLUMNS = ["Model", "Weights", "Head", "Layer · pooling", "Train n", "Runs", "Top-1", "Top-5"]

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
        self.chart = _plot("Top-1 test accuracy (mean ± std over seeds)", "", "top-1 accuracy")
        self.chart.setMouseEnabled(x=False, y=False)
        self.chart.invertY(True)
        self.chart.getAxis("left").setStyle(autoExpandTextSpace=True)
        pl.addWidget(self.chart, 3)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        pl.addWidget(self.table, 2)
        self.stack.addWidget(page)
        lay.addWidget(self.stack)
        self.groups: list[Any] = []
        self.bars: pg.BarGraphItem | None = None
        self.error_bars: pg.ErrorBarItem | None = None
        self._items: list[Any] = []

    def set_groups(self, groups: list[Any], dataset: str = "") -> None:
        self.groups = list(groups)
        for it in self._items:
            self.chart.removeItem(it)
        self._items = []
        self.bars = None
        self.error_bars = None
        if not groups:
            self.hint.setText(f"No runs on <b>{dataset}</b> yet.<br><br>Train a random and a trained backbone to "
                              "compare their features here (several seeds give mean ± std)." if dataset else
                              "No runs yet.")
            self.stack.setCurrentIndex(0)
            self.table.setRowCount(0)
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
        for g, y in zip(groups, ys):
            text = f"{100 * g.top1_mean:.1f}%" + (f" ± {100 * g.top1_std:.1f}" if g.n_runs > 1 else "")
            if g.top1_mean > 0.3:  # inside the bar, at its end
                t = pg.TextItem(text, color=(20, 20, 20) if g.head == "own" else (255, 255, 255), anchor=(1, 0.5))
                t.setPos(g.top1_mean - g.top1_std - 0.01, y)
            else:
                t = pg.TextItem(text, color=(20, 20, 20), anchor=(0, 0.5))
                t.setPos(g.top1_mean + g.top1_std + 0.01, y)
            self.chart.addItem(t)
            self._items.append(t)
        chance = next((g.chance for g in groups if g.chance), None)
        if chance:
            line = pg.InfiniteLine(pos=chance, angle=90, pen=pg.mkPen((150, 150, 150), style=Qt.PenStyle.DashLine),
                                   label="chance", labelOpts={"position": 0.97, "color": (120, 120, 120)})
            self.chart.addItem(line)
            self._items.append(line)
        self.chart.getAxis("left").setTicks([[(float(y), g.title if len(g.title) <= 44 else g.title[:43] + "…") for g, y in zip(groups, ys)]])
        self.chart.setXRange(0, 1.02, padding=0)
        self.chart.setYRange(-0.6, n + 0.1, padding=0)
        # the table
        t = self.table
        t.setRowCount(n)
        for i, g in enumerate(groups):
            lp = "default" if g.layer is None else f"layer {g.layer}"
            lp += "" if g.pooling == "default" else f" · {g.pooling}"
            cells = [g.label, g.weight_state, "own classifier" if g.head == "own" else g.head, lp,
                     "" if g.n_train is None or g.head == "own" else str(g.n_train), str(g.n_runs),
                     f"{100 * g.top1_mean:.1f}%" + (f" ± {100 * g.top1_std:.1f}" if g.n_runs > 1 else ""),
                     "" if g.top5_mean is None else f"{100 * g.top5_mean:.1f}%"]
            for j, text in enumerate(cells):
                it = QTableWidgetItem(text)
                if j >= 4:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j == 1:
                    it.setForeground(QColor(*STATE_COLOURS.get(g.weight_state, (100, 100, 100))))
                t.setItem(i, j, it)
