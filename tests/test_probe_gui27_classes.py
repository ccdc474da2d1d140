"""Issue 27, item 1: a Fashion-MNIST run's class names under the per-class accuracy bars and on the confusion
thumbnail's axes, at a 1024 px window and at the default size. The bars' ten names ("T-shirt/top", "Trouser",
"Pullover", ...) were written over one another and the first was dropped; the thumbnail cut its names to six letters
("T-shir", "Pullov"). Each name written now is whole or ends in "…", none touches the next, the first class is
named, and the mouse over a bar names its class whole."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui_auditW import _drawn_tick_texts

pytestmark = pytest.mark.gui

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
SIZES = [(1024, 647), (1400, 847)]  # the Probe's page in a 1024 x 700 window and in the default 1400 x 900 one


@pytest.fixture
def probe_page(qtbot, fe_home, tmp_path):
    """``probe_page((w, h))``: a Probe workspace as the main window holds it, in its tab's scroll area
    (``widgets.tab_holder.TabHolder``) of ``w`` x ``h`` pixels: the page a 1024 x 700 window gives it is 1024 x 647,
    the default 1400 x 900 window's 1400 x 847. Below ~1,240 px its dataset and models columns are two tabs (the
    ``Reflow`` follows the scroll area's width, as in the window). Each is shut down after the test."""
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace
    from widgets.tab_holder import TabHolder

    make_app()
    made = []

    def make(size):
        ws = ProbeWorkspace(Session(), QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        holder = TabHolder("Probe")
        qtbot.addWidget(holder)
        holder.put(ws)
        holder.resize(*size)
        holder.show()
        qtbot.waitExposed(holder)
        made.append(ws)
        qtbot.waitUntil(lambda: ws.reflow.narrow == (size[0] < 1240), timeout=5000)
        qtbot.wait(50)
        assert holder.horizontalScrollBar().maximum() == 0  # the whole workspace in the window's width
        ws.holder = holder
        return ws

    yield make
    for ws in made:
        ws.shutdown()


def fashion_run() -> dict:
    from tests.test_history import fake_result

    d = fake_result(dataset="fashion-mnist", top1=0.85)
    conf = np.eye(10, dtype=int) * 90
    conf[6, 0] = conf[0, 6] = conf[2, 4] = 10
    d["confusion"] = conf.tolist()
    d["classes"] = list(FASHION)
    d["per_class"] = [float(v) for v in np.diag(conf) / conf.sum(1)]
    d["misclassified"], d["mis_predicted"] = [], []
    return d


def show_stored(qtbot, probe_page, fe_home, run: dict, size):
    """The user's path: a stored run selected in the history, the Results tab shown, the page at ``size``."""
    from app.probe.history import History

    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        run_id = h.add(run)
    ws = probe_page(size)
    qtbot.waitUntil(lambda: run_id in ws.history_table.ids(), timeout=10_000)
    ws.history_table.table.selectRow(ws.history_table.ids().index(run_id))
    qtbot.waitUntil(lambda: ws.results.run is not None and ws.results.run.run_id == run_id, timeout=10_000)
    ws.tabs.setCurrentWidget(ws.results)
    qtbot.waitExposed(ws.results)
    qtbot.wait(100)
    return ws


def hover(plot, scene_pos) -> None:
    """The mouse moved over ``plot`` to ``scene_pos`` (a move event on its viewport, as the window sends it)."""
    at = plot.mapFromScene(scene_pos)
    view = plot.viewport()
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(at), QPointF(view.mapToGlobal(at)), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view, event)


def _legible(text: str) -> bool:
    """A class name whole, or its first letters (3 at least) and "…": never a name cut mid-word without a mark."""
    if text in FASHION:
        return True
    return text.endswith("…") and len(text) >= 4 and any(c.startswith(text[:-1]) for c in FASHION)


def _apart(drawn, lo: int, hi: int) -> None:
    drawn = sorted(drawn, key=lambda r: r[lo])
    for a, b in zip(drawn, drawn[1:]):
        assert b[lo] - a[hi] >= 2, (a, b)  # apart, not touching or over one another


@pytest.mark.parametrize("size", SIZES)
def test_the_per_class_bars_name_their_classes_readably(qtbot, probe_page, fe_home, no_data, size):  # noqa: F811
    ws = show_stored(qtbot, probe_page, fe_home, fashion_run(), size)
    bars = ws.results.per_class
    axis = bars.getAxis("bottom")
    drawn = _drawn_tick_texts(axis)
    texts = [t for *_r, t in sorted(drawn)]
    assert len(texts) >= 3, texts  # enough names to tell the bars apart
    assert all(_legible(t) for t in texts), texts  # whole, or elided with "…" (never "T-shirt/" or "Pullover" cut)
    _apart(drawn, 0, 2)
    width = bars.width()
    for left, _top, right, _bottom, text in drawn:  # each one within the plot, on the window
        a, b = axis.mapToScene(QPointF(left, 0)).x(), axis.mapToScene(QPointF(right, 0)).x()
        assert 0 <= a and b <= width, (text, a, b, width)
    assert texts[0].rstrip("…") and FASHION[0].startswith(texts[0].rstrip("…"))  # the first class is named
    # the mouse over a bar: its class whole, with its accuracy
    vb = bars.getViewBox()
    for i, said in ((0, "T-shirt/top: 90.0% right (90 of 100 test images)"),
                    (9, "Ankle boot: 100.0% right (90 of 90 test images)")):
        qtbot.wait(60)  # pyqtgraph's scene drops moves closer together than its rate limit
        hover(bars, vb.mapViewToScene(QPointF(i, 0.5)))
        assert bars.toolTip() == said


@pytest.mark.parametrize("size", SIZES)
def test_the_confusion_thumbnail_names_are_whole_or_elided_never_cut(qtbot, probe_page, fe_home,
                                                                     no_data, size):  # noqa: F811
    ws = show_stored(qtbot, probe_page, fe_home, fashion_run(), size)
    thumb = ws.results.confusion
    for name, lo, hi in (("bottom", 0, 2), ("left", 1, 3)):
        drawn = _drawn_tick_texts(thumb.getAxis(name))
        texts = [t for *_r, t in drawn]
        assert texts, name  # it names some (the enlarged window names them all)
        assert all(_legible(t) for t in texts), (name, texts)  # not "T-shir", "Pullov"
        _apart(drawn, lo, hi)
    big = ws.results.enlarge_confusion()
    qtbot.waitExposed(big)

    def left_names():
        return [t for *_r, t in sorted(_drawn_tick_texts(big.plot.getAxis("left")), key=lambda r: r[1])]

    # laid out at its final size after a turn or more of the event loop (a fixed 50 ms wait read the ticks of a
    # smaller first layout on a loaded machine: three names of ten, 2026-12-04)
    try:
        qtbot.waitUntil(lambda: left_names() == FASHION, timeout=5000)
    except AssertionError:
        pass  # the assertion below says what was drawn
    left = left_names()
    assert left == FASHION  # the enlarged matrix names every true class whole
    bottom = [t for *_r, t in sorted(_drawn_tick_texts(big.plot.getAxis("bottom")))]
    assert len(bottom) == 10 and all(_legible(t) for t in bottom), bottom
    big.close()
