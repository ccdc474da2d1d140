"""``widgets.common.labels_item.LabelsItem``: many texts painted by one item (issue 14: the confusion matrix's counts
and the misclassified gallery's captions were one ``pg.TextItem`` each, ~0.3 ms of the GUI thread apiece)."""

from __future__ import annotations

import numpy as np
import pytest
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont

from widgets.common.labels_item import Label, LabelsItem

pytestmark = pytest.mark.gui


def _dark_pixels(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(widget.grab().toImage().Format.Format_RGB888)
    a = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * img.height()).reshape(img.height(), -1)
    a = a[:, : img.width() * 3].reshape(img.height(), img.width(), 3)
    return (a.max(axis=2) < 60)


def test_labels_are_kept_as_data_and_painted_at_their_points(qtbot):
    w = pg.PlotWidget(background="w")
    qtbot.addWidget(w)
    w.resize(300, 300)
    w.hideAxis("left")
    w.hideAxis("bottom")
    item = LabelsItem(QFont("Sans", 14))
    w.addItem(item)
    w.setRange(xRange=(0, 2), yRange=(0, 2), padding=0)
    w.show()
    qtbot.waitExposed(w)
    assert not _dark_pixels(w).any()  # nothing drawn yet
    item.set_labels([(0.5, 1.5, "88"), Label(1.5, 0.5, "7", (0, 0, 0))], QRectF(0, 0, 2, 2))
    assert item.texts() == ["88", "7"] and item.boundingRect() == QRectF(0, 0, 2, 2)
    qtbot.wait(50)
    dark = _dark_pixels(w)
    h, wd = dark.shape
    # y up in this plot: (0.5, 1.5) is the upper-left quarter, (1.5, 0.5) the lower-right one
    assert dark[: h // 2, : wd // 2].sum() > 20 and dark[h // 2:, wd // 2:].sum() > 10
    assert dark[: h // 2, wd // 2:].sum() == 0 and dark[h // 2:, : wd // 2].sum() == 0
    item.clear()
    qtbot.wait(50)
    assert item.texts() == [] and not _dark_pixels(w).any()


def test_the_confusion_counts_are_the_nonzero_cells(qtbot):
    from widgets.probe.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)

    class Run:
        run_id, label, dataset, weight_state, head_text, is_baseline = 1, "r", "digits", "random", "logistic", False
        layer_text, pooling, val_top1, top1, top2, top5 = "layer 0", "gap", 0.5, 0.5, 0.7, 1.0
        n_train, n_test, n_features, extract_seconds, train_seconds, cache_hit, device = 10, 7, 4, 0.1, 0.1, False, "cpu"
        confusion = np.array([[3, 1, 0], [0, 2, 0], [1, 0, 0]])
        classes, per_class = ("a", "b", "c"), (0.75, 1.0, 0.0)
        selected = {"weight_decay": 1e-3}

        def hyper_text(self):
            return "weight_decay=0.001"

        def selection_text(self):
            from app.probe.notes import selection_note

            return selection_note([(1e-3, 0.5), (1e-4, 0.5)])

        def caveats(self):
            return ["mirror views on digits: <not symmetric>"]

        def spread_texts(self):
            return "s.e. 4.0", ""  # validation's; the test split's size "not recorded"

    view.projector.set_run = lambda run: None  # the projector is not what is tested here
    view.show_run(Run())
    labels = view.counts.labels()
    assert [(lb.x, lb.y, lb.text) for lb in labels] == [(0.5, 0.5, "3"), (1.5, 0.5, "1"), (1.5, 1.5, "2"),
                                                          (0.5, 2.5, "1")]
    # dark text on the light cells (row share > 160/255), light text on the dark ones
    assert labels[0].colour == (0, 0, 0) and labels[1].colour == (255, 255, 255)
    # what validation said of each weight decay, the tie named
    assert "validation per weight_decay: 0.001: 50.00%, 0.0001: 50.00%; all 2 tie" in view.header.text()
    # one form of interval for both figures (a 95% CI): the test figure's beside it, none for validation, whose
    # split's size is unknown here (no "n_val" recorded)
    header = view.header.text().replace("&nbsp;", " ")
    assert "validation top-1 <b>50.0%</b>   test top-1 <b>50.0%</b> <span style='color:#5b6472'>(95% CI " in header
    assert header.count("95% CI") == 1 and "s.e." not in header
    # each caveat on a line of its own, its text escaped (it is not markup)
    assert "Caveat: mirror views on digits: &lt;not symmetric&gt;" in view.header.text()
