"""Audit W, the Probe at 1024 x 700 as a user sees it: the confusion thumbnail's class names never smear, the Results
header shows whole lines, the Training tab's placeholder and the banner say what the run box says (once), the
gallery's note counts in words, and the note under the curves is never cut half-way through a line."""

from __future__ import annotations

import types

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPainter, QPicture

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui import choose_dataset, click_check, make_ws, press, uncheck_all  # noqa: F401
from test_probe_gui_walkthrough import _digits_like_run

pytestmark = pytest.mark.gui

SELECTION = "0.1: 95.91%, 0.01: 98.14%, 0.001: 98.88%, 0.0001: 98.51%, 1e-05: 98.14%"


def _results(qtbot, w: int, h: int):
    from widgets.probe.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    view.projector.set_run = lambda run: None  # the projector is not what is tested here
    view.resize(w, h)
    view.show()
    qtbot.waitExposed(view)
    return view


def _drawn_tick_texts(axis) -> list[tuple[float, float, float, float, str]]:
    """(left, top, right, bottom, text) of each tick text the axis draws (pyqtgraph's own layout of them)."""
    picture = QPicture()
    painter = QPainter(picture)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(r.left(), r.top(), r.right(), r.bottom(), t) for r, _f, t in (specs[2] if specs else []) if t]


def _ink_runs(widget) -> list[tuple[int, int]]:
    """The pixel rows of ``widget`` with text on them, as (first, last) runs: one per drawn line."""
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width()]
    inked = [i for i, n in enumerate((rows < 160).sum(1)) if n]
    runs: list[list[int]] = []
    for r in inked:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    return [(a, b) for a, b in runs]


def test_the_thumbnails_class_names_never_run_together_and_the_enlarged_matrix_names_them_all(qtbot):
    """At the size a 1024 x 700 window gives the Results page (cells ~8 px) the axes named all ten classes: the true
    classes piled into a smear, the predicted ones ran together ("0123456789"). They name every 2nd or 5th class (or
    none) there, with room between two names; Enlarge names every one."""
    view = _results(qtbot, 612, 420)
    view.show_run(_digits_like_run())
    qtbot.wait(50)
    thumb = view.confusion
    names = [str(i) for i in range(10)]
    assert 0 < thumb.cell_px() < 10  # a small thumbnail, as in the audit
    for axis, lo, hi in (("bottom", 0, 2), ("left", 1, 3)):  # along x: left..right; along y: top..bottom
        drawn = sorted(_drawn_tick_texts(thumb.getAxis(axis)), key=lambda r: r[lo])
        for a, b in zip(drawn, drawn[1:]):
            assert b[lo] - a[hi] >= 2, (axis, a, b)  # apart, not touching or over one another
        shown = [t for *_r, t in drawn]
        assert shown == thumb.tick_labels(axis) and len(shown) < 10
        step = thumb.tick_steps[axis]
        assert shown == names[::step] if step else shown == []
    big = view.enlarge_confusion()
    qtbot.waitExposed(big)
    qtbot.wait(50)
    for axis in ("bottom", "left"):
        assert [t for *_r, t in sorted(_drawn_tick_texts(big.plot.getAxis(axis)), key=lambda r: r[0] + r[1])] \
            == names
    big.close()
    # a wide page: the thumbnail names every class itself
    view.resize(1400, 900)
    qtbot.waitUntil(lambda: thumb.tick_labels("bottom") == names and thumb.tick_labels("left") == names,
                    timeout=3000)


@pytest.mark.parametrize("size", [(500, 423), (612, 400), (540, 380)])
def test_the_results_header_shows_whole_lines_at_its_bottom_edge(qtbot, monkeypatch, size):
    """Given less height than its four lines need, the header scrolled with its last visible line cut in half by its
    bottom edge. Its view ends on a line's bottom now (blank below), also once scrolled to the end."""
    from widgets.probe.model import RunView

    monkeypatch.setattr(RunView, "selection_text", lambda self: SELECTION)
    view = _results(qtbot, *size)
    view.show_run(_digits_like_run())
    qtbot.wait(50)
    scroll, bar = view.header_scroll, view.header_scroll.verticalScrollBar()
    assert "validation per" in view.header.text()
    qtbot.waitUntil(view.header_cut, timeout=3000)  # less height than the text: it scrolls
    lines = _ink_runs(view.header)
    assert len(lines) >= 4, lines

    def cut() -> list:
        top = bar.value()
        bottom = top + scroll.viewport().height()  # the first row out of view
        return [(a, b) for a, b in lines if a < bottom <= b or a < top <= b]

    assert cut() == [], (bar.value(), scroll.viewport().height(), lines)
    assert scroll.viewport().height() >= lines[0][1]  # the first line at least
    bar.setValue(bar.maximum())
    qtbot.wait(20)
    assert cut() == [], (bar.value(), scroll.viewport().height(), lines)
    assert bar.value() + scroll.viewport().height() > lines[-1][1]  # the last line in view, whole
    bar.setValue(0)
    qtbot.wait(20)
    assert bar.value() == 0 and cut() == []


def _mnist_missing(qtbot, make_ws):  # noqa: F811
    ws = make_ws()
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "simple (random)")
    choose_dataset(ws, "mnist")
    assert not ws.train_btn.isEnabled()
    assert ws.stage.text().startswith("Not ready: mnist is not downloaded yet: press Download")
    return ws


def test_the_training_tab_says_what_the_run_box_says_of_a_dataset_not_here(qtbot, make_ws, no_data):  # noqa: F811
    """The Training tab said "Pick models and press Train (Ctrl+Return)" beside a greyed Train: it says what the run
    box says (not ready: not downloaded, press Download); "Pick models ..." again once the dataset is here."""
    ws = _mnist_missing(qtbot, make_ws)
    ws.tabs.setCurrentWidget(ws.curves)
    hint = ws.curves.hint
    assert hint.isVisible() and ws.curves.stack.currentWidget() is hint
    assert hint.text().startswith(f"<b>{ws.stage.text()}</b>") and "Pick models" not in hint.text()
    choose_dataset(ws, "digits")  # here: the placeholder says how to start again
    assert ws.train_btn.isEnabled() and hint.text().startswith("<b>Pick models and press Train (Ctrl+Return)</b>")


def test_the_shortcut_on_a_dataset_not_here_says_once_what_to_do(qtbot, make_ws, no_data):  # noqa: F811
    """Ctrl+Return with the dataset missing put the stage line's three lines again in the red banner under it: the
    banner says only that nothing started, and points at the line above."""
    ws = _mnist_missing(qtbot, make_ws)
    stage = ws.stage.text()
    press(qtbot, ws, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not ws.is_running()
    banner = ws.banner.text()
    assert ws.banner.isVisible() and banner == "Not started: mnist is not downloaded yet (see the line above)."
    assert "press Download" not in banner and ws.stage.text() == stage  # said once, in the stage line


def test_the_gallery_note_counts_in_words(qtbot):
    """"1 of 1 examples of true 0 → predicted 4 shown": one example is "the 1 example"."""
    view = _results(qtbot, 612, 420)
    view.show_run(_digits_like_run())

    def gallery(n: int, total: int):
        return types.SimpleNamespace(cells=[(10 * k, 0, 8, 8) for k in range(n)], true=["7"] * n,
                                     predicted=["4"] * n, image=np.zeros((8, 10 * n), np.uint8), total=total)

    view.pair = (7, 4)
    view.set_gallery(gallery(1, 1))
    assert view.gallery_note.text() == ("the 1 example of true 7 → predicted 4 shown (click a diagonal cell for "
                                        "all)")
    view.set_gallery(gallery(3, 3))
    assert view.gallery_note.text().startswith("3 of 3 examples of true 7 → predicted 4 shown")
    view.pair = None
    view.set_gallery(gallery(1, 1))
    assert view.gallery_note.text().startswith("the 1 misclassified test example shown (")
    view.set_gallery(gallery(40, 97))
    assert view.gallery_note.text().startswith("40 of 97 misclassified test examples shown (")


def test_the_note_under_the_curves_ends_in_an_ellipsis_instead_of_a_cut_line(qtbot):
    """In a narrower right column the note needed three lines and showed two and a half: it shows two whole lines,
    the second ending in "…", and the whole note is its tooltip."""
    from widgets.probe.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(520, 420)
    view.show()
    qtbot.waitExposed(view)
    for k, (name, note) in enumerate((("simple (random)", "weight_decay 0.01 (from 0.1) in 26 iterations"),
                                      ("simple (trained, MNIST)", "weight_decay 0.001 (from 0.01) in 70 iterations"))):
        view.add_run(k, name)
        view.add_point(k, types.SimpleNamespace(step=1, loss=0.5, train_acc=0.9, val_acc=0.9))
        view.set_note(k, name, note)
    qtbot.wait(50)
    caption = view.caption
    assert caption.isVisible()
    lines = _ink_runs(caption)
    assert len(lines) == 2, lines  # two lines, no third one cut by the edge
    assert lines[-1][1] < caption.height() - 1
    full = caption.toolTip()
    assert full.startswith("The selected value's fit") and full.endswith("in 70 iterations.")
    shown = caption.shown_text().split("\n")
    assert len(shown) == 2 and shown[-1].endswith("…")
    assert full.startswith(shown[0]) and shown[-1][:-1] in full
    view.resize(1400, 420)  # room for all of it: the whole note, no "…"
    qtbot.waitUntil(lambda: caption.shown_text().replace("\n", " ") == full, timeout=3000)
