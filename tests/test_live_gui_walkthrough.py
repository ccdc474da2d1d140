"""The Live workspace as a user sees it at 1024 x 700 and 1400 x 900 (the walkthrough's findings): every pane's
model and layer names whole in their combo boxes, and the torch thread line said once (the status bar's)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QComboBox, QLabel, QStyle, QStyleOptionComboBox

from app.live.config import LiveStatus

pytestmark = pytest.mark.gui


def _room(combo: QComboBox) -> int:
    """The width a combo box draws its current text in (its edit field, less the label's 1 px margins)."""
    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    rect = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                        QStyle.SubControl.SC_ComboBoxEditField, combo)
    return rect.width() - 2


def _cut(combo: QComboBox) -> bool:
    return combo.fontMetrics().horizontalAdvance(combo.currentText()) > _room(combo)


@pytest.fixture
def live_window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="live", persist=False)
    qtbot.addWidget(win)
    win.resize(1024, 700)
    win.show()
    qtbot.waitExposed(win)
    live = win.live
    assert live.wait_ready(60_000)  # the default panes (rdsn, resnet20 random and trained) show their maps
    yield win
    win.close()


def test_the_panes_combo_boxes_show_their_names_whole(qtbot, live_window):
    live = live_window.live
    assert len(live.panes) == 3
    for size in ((1024, 700), (1400, 900)):
        live_window.resize(*size)
        qtbot.waitUntil(lambda: live_window.width() == size[0], timeout=3000)
        qtbot.wait(100)
        for pane in live.panes:
            assert "stride" in pane.layer_combo.currentText()  # the layers are listed: the longest texts
            for combo in (pane.model_combo, pane.layer_combo):
                assert combo.isVisible()
                assert not _cut(combo), (size, combo.currentText(), _room(combo))
        for combo in live_window.findChildren(QComboBox):  # the tool bar's too
            if combo.isVisible() and live.isAncestorOf(combo):
                assert not _cut(combo), (size, combo.currentText(), _room(combo))


def test_each_combo_s_tooltip_names_what_it_shows(qtbot, live_window):
    """The tooltips hold the names whole where a narrow pane elides them: the layer's too, whose list is filled with
    signals blocked (an audit: every pane's layer tooltip still read "(loading…)" after its maps were shown)."""
    for pane in live_window.live.panes:
        for combo in (pane.model_combo, pane.layer_combo):
            assert combo.toolTip().startswith(combo.currentText() + "\n\n"), (combo.currentText(), combo.toolTip())
        assert "loading" not in pane.layer_combo.toolTip()


def test_the_thread_line_is_shown_once(qtbot, live_window):
    """The loop's thread choice goes to the status bar; the workspace's own status line keeps the source and
    rates instead of saying it a second time."""
    live = live_window.live
    before = live.status.text()
    live.runner.statusChanged.emit(LiveStatus("Live: threads 1/2 (adapted to load)"))
    qtbot.wait(20)
    shown = [lab for lab in live_window.findChildren(QLabel)
             if lab.isVisible() and "threads 1/2 (adapted to load)" in lab.text()]
    assert len(shown) == 1 and shown[0] is live_window.threads_label
    assert "threads" not in live.status.text() and live.status.text() == before
