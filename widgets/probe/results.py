"""One run's results: top-k header, per-class accuracy bars, confusion matrix, misclassified gallery and the feature
projector (``widgets.probe.projector``).

Reads a typed ``RunView``; the matrix image and the gallery are computed in ``app.probe.gallery``. A click on an
off-diagonal confusion cell asks (``cell_clicked(true, predicted)``) for the gallery of that cell only; a click on the
diagonal asks for every misclassified example again (``cell_clicked(-1, -1)``). The matrix's Enlarge button shows it
in a window of its own, legible where the page leaves the thumbnail small (``widgets.probe.confusion``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSplitter, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from app.metrics import ci_text, percent
from app.probe.notes import best_of_text
from app.probe.gallery import confusion_uint8
from widgets.common.image_view import set_item_image
from widgets.common.labels_item import LabelsItem
from widgets.common.qt_override import qt_override
from widgets.common.workspace import run_steps
from widgets.probe.confusion import ConfusionThumbnail, ConfusionWindow
from widgets.probe.header_scroll import HeaderScroll
from widgets.probe.model import RunView, chosen
from widgets.probe.model_list import state_colour
from widgets.probe.per_class import PerClassBars
from widgets.probe.plots import hint_label, plot as _plot
from widgets.probe.projector import ProjectorView

CAVEAT_COLOUR = "#a15c00"  # amber, as the Live workspace's warnings: a caveat is no error


HEADER_TIP = ("95% CI: the Wilson 95% interval of a top-1 figure on its split (n the split's images): where the figure "
              "could lie on another\nsample of that size. Validation and test both say it, in one form (an s.e. says "
              "too little on a few images or near\n0% or 100%: 0.0 for 10 of 10 right). Two runs on the same split "
              "whose intervals overlap much are not told apart\nby it (the spread over seeds is another matter: "
              "Repeats, and Compare).\n\"best of 5\": the validation figure is the best of the 5 fits of the sweep "
              "(and of the layers or poolings\nwhere Select chose them), all scored on those very images: it reads "
              "high, and its interval ignores that choice.\nThe test figure is scored once, on images no choice saw.")


def interval_text(accuracy: float | None, n: int | None) -> str:
    """The sampling error of a top-1 figure as the header writes it: "95% CI 95.2-99.0" (``app.metrics.
    accuracy_interval``, the Wilson interval), for validation and test alike; "" where the split's size is not
    recorded. One form for both: "validation 97.8% (95% CI 95.2-99.0)" beside "test 95.3% (s.e. 1.0)" invited
    comparing unlike numbers."""
    return ci_text(accuracy, n, 1)  # a bound rounded to 100.0 or 0.0 without its being so gets more digits


def split_text(n_train: int | None, n_val: int | None, n_test: int | None) -> str:
    """The images of each split: "1,078 train + 269 validation / 450 test images" (the validation images held out of
    the training set said, not left out of the count), "1,078 train / 450 test images" without a validation split."""
    val = f" + {_n(n_val)} validation" if n_val else ""
    return f"{_n(n_train)} train{val} / {_n(n_test)} test images"


class ResultsView(QWidget):
    """One run: top-k header, per-class accuracy bars, confusion matrix, misclassified gallery, projector."""

    cell_clicked = Signal(int, int)  # (true, predicted) of a clicked confusion cell; (-1, -1): all again
    runShown = Signal(object)  # the run shown now (None: none): what is being made for another one is stale

    def __init__(self, parent: QWidget | None = None, *, stepwise: bool = False) -> None:
        super().__init__(parent)
        self.run: RunView | None = None
        self.pair: tuple[int, int] | None = None  # the confusion cell the gallery is filtered to
        self.build_steps = self._build()  # one plot per step (the Probe's start-up: widgets.common.workspace)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self):
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(hint_label("The results of a run appear here: top-1/2/5 accuracy, accuracy per "
                                        "class, the confusion matrix and the misclassified examples.<br><br>"
                                        "Train, or select a run in the history below."))
        self.page = page_box = QWidget()  # the header above, then the plots and the gallery / projector tabs
        pv = QVBoxLayout(page_box)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.setSpacing(2)
        page = QSplitter(Qt.Orientation.Vertical)  # the plots above, the gallery / projector tabs below
        page.setChildrenCollapsible(False)
        upper = QWidget()
        grid = QGridLayout(upper)
        grid.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setStyleSheet("padding: 4px;")
        self.header.setToolTip(HEADER_TIP)
        # the header wraps into the height its text needs (``_fit_header``); on a short window it scrolls instead
        self.header_scroll = HeaderScroll()  # whole lines only, however short
        self.header_scroll.setWidget(self.header)
        self.header_scroll.setWidgetResizable(True)
        self.header_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.header_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        pv.addWidget(self.header_scroll, 0)
        pv.addWidget(page, 1)
        self.per_class = PerClassBars()  # its classes named as often as they fit; the hover names each bar's class
        grid.addWidget(self.per_class, 1, 0)
        yield
        self.confusion = ConfusionThumbnail()  # its Enlarge button: the matrix in a window of its own, legible
        self.conf_image, self.counts = self.confusion.image, self.confusion.counts
        self.confusion.cell_clicked.connect(self._on_cell)
        self.confusion.enlarge_btn.clicked.connect(self.enlarge_confusion)
        self.enlarged: ConfusionWindow | None = None  # made at the first Enlarge
        grid.addWidget(self.confusion, 1, 1)
        yield
        self.gallery = _plot("Misclassified test examples (true → predicted)", "", "")
        self.gallery.hideAxis("left")
        self.gallery.hideAxis("bottom")
        self.gallery.invertY(True)
        self.gallery.setAspectLocked(True)
        self.gallery.showGrid(x=False, y=False)
        self.gallery_image = pg.ImageItem(axisOrder="row-major")
        self.gallery.addItem(self.gallery_image)
        self.captions = LabelsItem(QFont("Sans", 7), anchor=(0.5, 0.0))  # "true→predicted" under each example
        self.gallery.addItem(self.captions)
        self.gallery_note = QLabel("")
        self.gallery_note.setStyleSheet("color: #5b6472;")
        gallery_page = QWidget()
        gl = QVBoxLayout(gallery_page)
        gl.setContentsMargins(0, 0, 0, 0)
        gl.addWidget(self.gallery, 1)
        gl.addWidget(self.gallery_note)
        yield
        self.projector = ProjectorView()
        self.lower = QTabWidget()
        self.lower.addTab(gallery_page, "Misclassified")
        self.lower.addTab(self.projector, "Feature projector")
        self.lower.setTabToolTip(0, "The misclassified test examples (click a confusion cell to see only that pair)")
        self.lower.setTabToolTip(1, "The run's frozen test features in 2-D, coloured by label; click a point to "
                                    "see its image")
        for w in (self.per_class, self.confusion):
            w.setMinimumHeight(150)
        grid.setRowStretch(1, 1)
        page.addWidget(upper)
        page.addWidget(self.lower)
        page.setStretchFactor(0, 1)
        page.setStretchFactor(1, 1)
        self.stack.addWidget(page_box)
        lay.addWidget(self.stack)

    def _fit_header(self) -> None:
        """The header asks for the height its wrapped text needs at the page's width (``HeaderScroll``); where the
        page is too short for that and the plots' least height, it gets less and scrolls: its last lines are a
        scroll away, never cut off."""
        want = self.header.heightForWidth(max(50, self.page.width()))
        if want != self.header_scroll.want:
            self.header_scroll.want = want
            self.header_scroll.setMaximumHeight(want)
            self.header_scroll.updateGeometry()
        self.header_scroll.snap()  # another text at the same height: its lines end elsewhere

    def header_cut(self) -> bool:
        """Whether part of the header's text is out of view (then its scroll bar is there to read it)."""
        return self.header_scroll.height() < self.header.heightForWidth(self.header_scroll.viewport().width())

    @qt_override
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        if self.run is not None:
            self._fit_header()

    def clear(self) -> None:
        self.stack.setCurrentIndex(0)
        self.run = None
        self.runShown.emit(None)

    def confusion_text(self, i: int, j: int) -> str:
        """The hover read-out of cell (true i, predicted j): its count and its share of the true class."""
        return self.confusion.confusion_text(i, j)

    def cell_at(self, pos: Any) -> tuple[int, int] | None:
        """The confusion cell (true, predicted) under scene position ``pos``."""
        return self.confusion.cell_at(pos)

    def cell_pos(self, i: int, j: int):
        """Where the centre of confusion cell (true i, predicted j) lies on ``self.confusion`` (tests click)."""
        return self.confusion.cell_pos(i, j)

    def enlarge_confusion(self) -> ConfusionWindow | None:
        """The shown run's confusion matrix in a window of its own (raised when it is open already)."""
        if self.run is None:
            return None
        if self.enlarged is None:
            self.enlarged = ConfusionWindow(self)
            self.enlarged.plot.cell_clicked.connect(self._on_cell)
        self._fill_enlarged()
        if self.enlarged.isVisible():  # open already, behind the main window: to the front
            self.enlarged.raise_()
        self.enlarged.show()
        return self.enlarged

    def _fill_enlarged(self) -> None:
        run = self.run
        if self.enlarged is None or run is None:
            return
        self.enlarged.setWindowTitle(f"Confusion matrix · {run.label} on {run.dataset}")
        self.enlarged.show_matrix(f"<b>{html.escape(run.label)}</b> on <b>{html.escape(run.dataset)}</b>, "
                                  f"{html.escape(run.head_text)}: rows the true class, columns the predicted one",
                                  self.confusion.conf, self.confusion.classes, self.conf_image.image)

    def _on_cell(self, i: int, j: int) -> None:
        """A click on confusion cell (true i, predicted j), in the thumbnail or the enlarged matrix."""
        if self.run is None:
            return
        self.lower.setCurrentIndex(0)
        if i == j:
            if self.pair is not None:
                self.pair = None
                self.cell_clicked.emit(-1, -1)
            return
        self.pair = (i, j)
        self.set_gallery(None, f"loading the examples of {self.confusion_text(i, j)}…")
        self.cell_clicked.emit(i, j)

    def show_run(self, run: RunView) -> None:
        self.run = run
        self.pair = None
        self.projector.set_run(run)
        self.runShown.emit(run)
        self.stack.setCurrentIndex(1)
        colour = state_colour(run.weight_state).name()
        top = lambda v: "n/a" if v is None else percent(v)  # noqa: E731
        raw = getattr(run, "raw", None)
        n_val = raw.get("n_val") if isinstance(raw, dict) else None
        val_se, test_se = interval_text(run.val_top1, n_val), interval_text(run.top1, run.n_test)
        res = raw.get("resolved") if isinstance(raw, dict) else None
        best = best_of_text(getattr(run, "selection", ()), (res or {}).get("select") if isinstance(res, dict) else ())
        val_se = " · ".join(t for t in (best, val_se) if t)  # the best of several fits on these images: reads high
        # each figure kept on one line with its name and interval (a wrap between them read as figures of their own)
        se = lambda t: f"&nbsp;<span style='color:#5b6472'>({_nb(t)})</span>" if t else ""  # noqa: E731
        val = "" if run.val_top1 is None else \
            f"validation&nbsp;top-1&nbsp;<b>{percent(run.val_top1)}</b>{se(val_se)} &nbsp; "
        where = "" if run.is_baseline else f" · {run.layer_text} · {run.pooling or 'pooling not recorded'}"
        pick = chosen(getattr(run, "head", None), getattr(run, "selected", None))  # the value validation chose
        stopped = run.stop_text() if hasattr(run, "stop_text") else ""  # how the selected fit stopped
        self.header.setText(
            f"<b>{_named(run.label, run.weight_state, colour)}</b> on <b>{run.dataset}</b>, "
            f"{run.head_text}{where}"
            f"<br><span style='font-size:15px'>{val}test&nbsp;top-1&nbsp;<b>{top(run.top1)}</b>{se(test_se)} &nbsp; "
            f"top-2&nbsp;<b>{top(run.top2)}</b> &nbsp; top-5&nbsp;<b>{top(run.top5)}</b></span>"
            f"<br><span style='color:#5b6472'>{split_text(run.n_train, n_val, run.n_test)} · "
            f"{_n(run.n_features)} features · head: {run.hyper_text()} · extract {run.extract_seconds:.1f} s"
            f"{' (cached)' if run.cache_hit else ''} · train {run.train_seconds:.1f} s · {run.device}</span>"
            + (f"<br><span style='color:#5b6472'>validation per {(pick or ('value',))[0]}: "
               f"{chosen_marked(run.selection_text(), pick)}</span>" if run.selection_text() else "")
            + (f"<br><span style='color:#5b6472'>head: {html.escape(stopped)}</span>" if stopped else "")
            + (f"<br><span style='color:#5b6472'>retrieval (test images as queries against the training set): "
               f"{html.escape(run.retrieval_text())}</span>" if getattr(run, "retrieval_text", None) and
               run.retrieval_text() else "")
            + "".join(f"<br><span style='color:{CAVEAT_COLOUR}'>Caveat: {html.escape(c)}</span>"
                      for c in run.caveats()))
        where = getattr(run, "machine", "-")
        self.header.setToolTip(HEADER_TIP + f"\n\nComputed on: {where}" + (
            " (recorded before runs named their machine)" if where == "-" else ""))
        self._fit_header()
        classes = list(run.classes)
        self.per_class.set_run(run.per_class, classes, colour, run.confusion)
        # confusion matrix: uint8 image (normalised in app/) + LUT; counts written on small matrices
        self.confusion.set_matrix(run.confusion, classes, confusion_uint8(run.confusion))
        if self.enlarged is not None and self.enlarged.isVisible():  # open: it follows the run shown
            self._fill_enlarged()
        # the last run's gallery goes; the note says "loading" once its gallery is asked for (``GalleryLoader``)
        self.captions.clear()
        self.gallery_image.clear()
        self.gallery_note.setText("")

    def set_gallery(self, gallery: Any, note: str = "") -> None:
        if gallery is None or not gallery.cells:
            self.captions.clear()
            self.gallery_image.clear()
            self.gallery_note.setText(note or "no misclassified examples")
            return
        set_item_image(self.gallery_image, gallery.image)
        self.captions.set_labels([(x + w / 2, y + h, f"{t[:5]}→{p[:5]}", (180, 30, 30))
                                  for (x, y, w, h), t, p in zip(gallery.cells, gallery.true, gallery.predicted)],
                                 QRectF(0, 0, gallery.image.shape[1], gallery.image.shape[0]))
        hgt, wid = gallery.image.shape[:2]
        self.gallery.setRange(xRange=(0, wid), yRange=(0, hgt), padding=0.01)
        shown = len(gallery.cells)
        if self.pair is not None and not note:
            note = (f"{_shown(shown, gallery.total, 'example')} of {self.confusion_text(*self.pair).split(':')[0]} "
                    f"shown (click a diagonal cell for all)")
        self.gallery_note.setText(note or f"{_shown(shown, gallery.total, 'misclassified test example')} shown "
                                          f"(click a confusion cell to see one pair)")


def chosen_marked(note: str, pick: tuple[str, Any] | None) -> str:
    """The selection note (``app.probe.notes.selection_note``: "1e-3: 99.10%, 1e-4: 99.10%, ...; what it means") as
    HTML, followed by the value validation chose (``pick``: (name, value) from the run's ``selected`` record) in
    bold: "...; the first swept kept; chosen: 0.001 (99.10%)". The note alone lists every swept value alike, a tie
    included. The note is kept whole (the CLI prints the same words) and the mark follows it; the chosen value is
    found in the note's table ("value: figure" pairs, its first part) by value ("1e-05" is 0.00001). Nothing is added
    where it is not there."""
    table = note.partition("; ")[0]
    found = None
    if pick is not None:
        for item in table.split(", "):
            value, _, figure = item.partition(": ")
            if figure and _same_value(value, pick[1]):
                found = (value, figure)
                break
    if found is None:
        return html.escape(note)
    return f"{html.escape(note)}; <b>chosen: {html.escape(found[0])} ({html.escape(found[1])})</b>"


def _same_value(text: str, value: Any) -> bool:
    """Whether the note's ``text`` of a value (written "%g") is ``value``."""
    try:
        a, b = float(text), float(value)
    except (TypeError, ValueError):
        return text == str(value)
    return a == b or abs(a - b) <= 1e-5 * max(abs(a), abs(b))


def _named(label: str, state: str, colour: str) -> str:
    """The run's model in the header, its weight state in its colour: said once ("simple (trained, MNIST)", not
    "simple (trained, MNIST) (trained)"): a label that names the state already gets its colour instead."""
    name = html.escape(label)
    if state and re.search(rf"\b{re.escape(state)}\b", label, re.IGNORECASE):
        return f"<span style='color:{colour}'>{name}</span>"
    return f"{name} <span style='color:{colour}'>({html.escape(state)})</span>"


def _shown(shown: int, total: int, what: str) -> str:
    """How many of ``total`` examples are shown, in words: "the 1 example", "3 of 3 examples", "40 of 97 examples"."""
    if total == 1 and shown == 1:
        return f"the 1 {what}"
    return f"{shown} of {total} {what}{'s' if total != 1 else ''}"


def _nb(text: str) -> str:
    """``text`` with non-breaking spaces (HTML): a wrapped line never breaks inside it."""
    return text.replace(" ", "&nbsp;")


def _n(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"
