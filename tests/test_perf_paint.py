"""Issue 14: the main window paints its frame (six tabs with placeholders) before the workspaces are built, then
builds them one per event-loop turn, the current one first. No timing assertions (scripts/first_paint.py times it)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_window_painted_before_workspaces_are_built(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import WORKSPACES, MainWindow

    make_app()
    win = MainWindow(workspace="probe")
    qtbot.addWidget(win)
    assert win.built() == []  # the constructor builds nothing heavy
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == [
        "Kernels", "Models", "Live", "Probe", "Experiments", "Insight"]
    with qtbot.waitSignal(win.all_built, timeout=120_000):
        win.show()
        qtbot.waitUntil(lambda: win.painted, timeout=10_000)
        assert win.built_at_first_paint == []
    order = win.built()
    assert order[0] == "probe" and sorted(order) == sorted(WORKSPACES)  # the current one first, then every one
    assert win.tabs.currentIndex() == WORKSPACES.index("probe") and win.current_workspace() == "probe"
    assert win.probe.isVisible() and not win.live.isVisible()
    win.close()


def test_workspace_built_on_first_access_and_skipped_on_close(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="kernels")
    qtbot.addWidget(win)
    ws = win.workspaces["experiments"]  # built on demand, once
    assert win.built() == ["experiments"] and win.experiments is ws and win.workspace("experiments") is ws
    with pytest.raises(KeyError):
        win.workspaces["nope"]
    win.close()  # only the built workspace is asked to keep changes / shut down
    assert win.built() == ["experiments"]


def test_live_head_request_reaches_a_live_workspace_not_yet_built(qtbot, fe_home, monkeypatch):
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import WORKSPACES, MainWindow

    seen = []
    monkeypatch.setattr(LiveWorkspace, "attach_head", lambda self, name: seen.append(name))
    make_app()
    win = MainWindow(workspace="kernels")
    qtbot.addWidget(win)
    win.session.request("live-head", "some/head.json")
    assert seen == ["some/head.json"] and "live" in win.built()
    assert win.tabs.currentIndex() == WORKSPACES.index("live")
    win.close()
