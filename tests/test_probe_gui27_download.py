"""Issue 27, items 2-4: a dataset that is not on this machine, at a 1024 px window and at the default size.

2. The dataset box read "fashion-mnist (download 29." (cut): it is elided ("…") and its tooltip and list say the whole
   entry.
3. A failed download's message with a word wider than the column (a Windows path) widened its labels: the Probe's
   columns became tabs at 1,400 px, and at 1,024 px the workspace grew wider than the window. It wraps (and elides)
   within the columns now; their widths do not change, and the run box grows by 3 lines at most.
4. While a download runs, its progress shows beside the run box's Download (the browser's bar is on the other tab
   of a narrow window), the Dataset tab's title says how far it is, and the browser's own bar says its message on
   one line (it wrapped onto two cut lines).

Downloads are faked (``app.data.remote.download``): no network."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import SIZES, probe_page  # noqa: F401

# the offscreen platform cannot raise a tooltip or a list's popup, nor grab the keyboard for it: it says so
pytestmark = [pytest.mark.gui, pytest.mark.qt_log_ignore("This plugin does not support raise",
                                                         "This plugin does not support grabbing the keyboard")]

ENTRY = "fashion-mnist (download 29.4 MB)"
LONG = (r"fashion-mnist: cannot write C:\Users\someone\AppData\Local\FilterExplorer\data\FashionMNIST\raw"
        r"\train-images-idx3-ubyte.gz.part (No space left on device)")
STEP = "[1/4] downloading train-images-idx3-ubyte.gz: 13.2 MB of 26.4 MB"


def _fake_download(monkeypatch, outcome: str, gate: threading.Event | None = None):
    """``remote.download`` replaced: it reports half of a file, waits for ``gate`` (or a cancel), then fails with
    ``LONG`` (``outcome`` "failed") or stops."""
    from app.data import remote
    from app.tasks import Progress, check

    calls = []

    def download(name, root, cancel=None, **kw):
        calls.append(name)
        yield Progress(13.2, 26.4, STEP)
        while gate is not None and not gate.wait(0.02):
            check(cancel)
        check(cancel)
        raise remote.DatasetError(LONG)

    monkeypatch.setattr(remote, "download", download)
    return calls


def _choose(qtbot, ws, name: str) -> None:
    """The dataset chosen in the browser's box, as a user does."""
    if ws.reflow.narrow:
        ws.reflow.tabs.setCurrentIndex(0)
    combo = ws.browser.combo
    combo.setCurrentIndex(combo.findData(name))
    assert ws.dataset_name() == name
    qtbot.wait(50)


def _tooltip(widget) -> str:
    """What the mouse resting on ``widget`` shows."""
    QToolTip.hideText()
    at = QPoint(widget.width() // 2, widget.height() // 2)
    QApplication.sendEvent(widget, QHelpEvent(QEvent.Type.ToolTip, at, widget.mapToGlobal(at)))
    return QToolTip.text() if QToolTip.isVisible() else widget.toolTip()


def _in_window(ws, widget) -> bool:
    """``widget`` shown and wholly inside the page (nothing of it scrolled or cut off)."""
    top_left = widget.mapTo(ws.holder, QPoint(0, 0))
    return widget.isVisible() and ws.holder.viewport().rect().contains(
        widget.rect().translated(top_left).adjusted(0, 0, -1, -1))


@pytest.mark.parametrize("size", SIZES)
def test_the_dataset_box_elides_its_entry_and_says_it_whole(qtbot, probe_page, no_data, size):  # noqa: F811
    from widgets.common.elided_combo import ElidedCombo

    ws = probe_page(size)
    _choose(qtbot, ws, "fashion-mnist")
    combo = ws.browser.combo
    assert combo.currentText() == ENTRY
    fm = combo.fontMetrics()
    drawn = combo
    assert isinstance(drawn, ElidedCombo)  # the box draws its own text
    room = drawn.text_room()
    assert fm.horizontalAdvance(ENTRY) > room  # the box is narrower than its entry here
    shown = drawn.shown_text()
    assert shown.endswith("…") and ENTRY.startswith(shown[:-1]) and fm.horizontalAdvance(shown) <= room
    assert _tooltip(combo).startswith(f"{ENTRY}\n\n")  # the mouse on it: the whole entry first
    # the list of choices shows every entry whole
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=3000)
    need = max(view.fontMetrics().horizontalAdvance(combo.itemText(i)) for i in range(combo.count()))
    assert view.viewport().width() >= need, (view.viewport().width(), need)
    combo.hidePopup()


@pytest.mark.parametrize("size", SIZES)
def test_a_failed_download_keeps_the_columns_and_wraps_its_message(qtbot, probe_page, no_data,  # noqa: F811
                                                                   monkeypatch, size):
    _fake_download(monkeypatch, "failed")
    ws = probe_page(size)
    _choose(qtbot, ws, "fashion-mnist")
    if ws.reflow.narrow:
        ws.reflow.tabs.setCurrentWidget(ws.middle_column)
    qtbot.wait(50)
    before = (ws.reflow.narrow, ws.splitter.count(), ws.splitter.sizes(), ws.middle_column.width(),
              ws.run_panel.width(), ws.stage.width())
    stage_h = ws.stage.height()
    btn = ws.data_download.button
    assert _in_window(ws, btn)
    qtbot.mouseClick(btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ws.data_download.note is not None, timeout=10_000)
    qtbot.wait(100)
    stage = ws.stage.text()
    assert stage.startswith(f"The download of fashion-mnist failed: {LONG}\nNot ready:"), stage
    # the columns as they were: no tabs instead of columns (1400), no workspace wider than the window (1024)
    assert (ws.reflow.narrow, ws.splitter.count(), ws.splitter.sizes(), ws.middle_column.width(),
            ws.run_panel.width(), ws.stage.width()) == before
    assert ws.holder.horizontalScrollBar().maximum() == 0
    # the run box in view, its stage line no more than 3 lines taller, each drawn line within the column
    assert _in_window(ws, ws.run_panel) and _in_window(ws, ws.stage)
    fm = ws.stage.fontMetrics()
    assert ws.stage.height() <= stage_h + 3 * fm.lineSpacing()
    lines = ws.stage.shown_text().split("\n")
    room = ws.stage.contentsRect().width()
    assert all(fm.horizontalAdvance(line) <= room for line in lines), (room, lines)
    assert len(lines) * fm.lineSpacing() <= ws.stage.contentsRect().height()
    assert lines[0].startswith("The download of fashion-mnist failed")
    assert lines[-1].endswith("…") if ws.stage.elided() else lines[-1].endswith("load its images).")
    assert _tooltip(ws.stage) == stage  # the whole message on the mouse
    # the Training tab says it whole, wrapped in its own column
    ws.tabs.setCurrentWidget(ws.curves)
    qtbot.wait(50)
    hint = ws.curves.hint
    assert hint.isVisible() and hint.width() <= ws.curves.width() and _in_window(ws, ws.curves)
    assert ws.splitter.sizes() == before[2]
    # the Dataset panel's message too: it wraps in its column (which keeps its width)
    if ws.reflow.narrow:
        ws.reflow.tabs.setCurrentIndex(0)
        qtbot.wait(50)
    status = ws.browser.status
    assert "failed" in status.text() and status.isVisible() and status.width() <= ws.browser.width()
    assert ws.splitter.sizes() == before[2] and ws.holder.horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("size", SIZES)
def test_a_running_download_shows_its_progress_on_either_tab(qtbot, probe_page, no_data, monkeypatch,  # noqa: F811
                                                             size):
    from widgets.probe.bar_text import BarText

    gate = threading.Event()  # never set: a cancel ends it
    calls = _fake_download(monkeypatch, "failed", gate)
    ws = probe_page(size)
    _choose(qtbot, ws, "fashion-mnist")
    if ws.reflow.narrow:
        ws.reflow.tabs.setCurrentWidget(ws.middle_column)
    qtbot.mouseClick(ws.data_download.button, Qt.MouseButton.LeftButton)  # the Download under Train
    qtbot.waitUntil(lambda: calls == ["fashion-mnist"], timeout=10_000)
    bar = ws.run_panel.download_bar
    qtbot.waitUntil(lambda: "50%" in bar.text(), timeout=10_000)
    # on the models tab (narrow) or beside the others (wide): the bar beside the Download, its text on one line
    assert _in_window(ws, bar) and _in_window(ws, ws.data_download.button)
    shown = bar.findChild(BarText).shown_text()
    assert shown.startswith("50% · ") and STEP.startswith(shown[6:].rstrip("…"))
    assert bar.fontMetrics().horizontalAdvance(shown) < bar.width()
    assert _tooltip(bar).endswith(STEP)  # the whole message on the mouse
    assert "bar under Train" in ws.stage.text()
    # the other side: the results tabs change nothing of it
    ws.tabs.setCurrentWidget(ws.results)
    qtbot.wait(20)
    assert _in_window(ws, bar)
    if ws.reflow.narrow:  # the tabs: each says how far it is
        tabs = ws.reflow.tabs
        assert tabs.tabText(tabs.indexOf(ws.data_box)) == "1 · Dataset · 50%"
        tabs.setCurrentIndex(0)
        qtbot.wait(50)
        assert not bar.isVisible() and tabs.tabText(0) == "1 · Dataset · 50%"
    work = ws.browser.work.progress_bar  # the Dataset panel's own bar: its message on one line, elided
    assert _in_window(ws, work)
    said = work.findChild(BarText).shown_text()
    assert STEP.startswith(said.rstrip("…")) and "\n" not in said
    assert work.fontMetrics().horizontalAdvance(said) <= work.width() - 8
    # cancelled: the bar goes, the tab says its name again
    ws.cancel()
    qtbot.waitUntil(lambda: not ws.data_download.running(), timeout=10_000)
    assert not bar.isVisibleTo(ws.run_panel)
    if ws.reflow.narrow:
        assert ws.reflow.tabs.tabText(0) == "1 · Dataset"
