"""What users tripped over (issue 12): shortcuts right after switching workspace, the Probe sample grid when Probe is
not the first workspace shown, nothing clipped at 1280x720, small truths in the Models and Probe views."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    made = []

    def make(workspace="kernels", size=(1400, 900)):
        win = MainWindow(workspace=workspace, persist=False)
        qtbot.addWidget(win)
        win.resize(*size)
        win.show()
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()


def _blocking_probe(monkeypatch):
    """run_probe replaced by a run that waits until cancelled (the test decides when it ends)."""
    import time

    from app.probe import run as run_mod
    from app.tasks import Progress, check

    started = []

    def run_probe(cfg, cancel=None):
        started.append(cfg.model.label)
        while True:
            check(cancel)
            yield Progress(0, None, "waiting")
            time.sleep(0.01)

    monkeypatch.setattr(run_mod, "run_probe", run_probe)
    return started


def test_shortcuts_work_right_after_switching_workspace(qtbot, window, monkeypatch):
    from widgets.main_window import WORKSPACES

    started = _blocking_probe(monkeypatch)
    win = window("kernels")
    # once the start-up has built every workspace (a tab opened before that shows "Loading ..." until its turn:
    # test_a_tab_opened_during_start_up_is_built_in_the_background)
    qtbot.waitUntil(lambda: len(win.built()) == len(WORKSPACES), timeout=60_000)
    focus = win.kernels  # the keyboard focus stays in the Kernels workspace: nothing is clicked
    qtbot.keyClick(focus, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert win.current_workspace() == "probe"
    qtbot.keyClick(win.focusWidget() or win, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert win.probe.is_running(), "Ctrl+Enter did not start the probe right after Ctrl+4"
    qtbot.waitUntil(lambda: bool(started), timeout=30_000)
    with qtbot.waitSignal(win.probe.batchDone, timeout=30_000):
        qtbot.keyClick(win.focusWidget() or win, Qt.Key.Key_Escape)
    assert win.probe.stage.text().startswith("Cancelled")
    # Models: Ctrl+T opens the training dialog at once; Ctrl+Return there adds to the session, not a probe
    qtbot.keyClick(win.focusWidget() or win, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert win.current_workspace() == "models"
    qtbot.keyClick(win.focusWidget() or win, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)
    assert win.models.train_dialog is not None and win.models.train_dialog.isVisible()
    win.models.train_dialog.close()
    win.activateWindow()  # back in the main window (the dialog was a window of its own)
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    win.models.wait_ready(20_000)
    n = len(win.session.models)
    qtbot.keyClick(win.focusWidget() or win, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert len(win.session.models) == n + 1 and not win.probe.is_running()


def test_probe_sample_grid_fills_its_panel_when_shown_second(qtbot, window):
    win = window("kernels")
    qtbot.wait(300)  # the dataset browser's first load happens while Probe is hidden
    win.tabs.setCurrentIndex(3)
    browser = win.probe.browser

    def grid_shape():
        view = browser.current_view()
        if view is None or browser.is_busy():
            return None
        return len({c.y for c in view.cells}), len({c.x for c in view.cells})

    qtbot.waitUntil(lambda: grid_shape() is not None and grid_shape()[0] >= grid_shape()[1], timeout=30_000)
    rows, cols = grid_shape()
    assert rows >= cols, f"the sample grid is a {rows}x{cols} strip in a tall, narrow panel"


def _clipped(widget) -> list[str]:
    """Labels and buttons narrower than their text needs (word-wrapped labels wrap instead)."""
    out = []
    for w in [*widget.findChildren(QLabel), *widget.findChildren(QPushButton)]:
        if not w.isVisible() or (isinstance(w, QLabel) and w.wordWrap()) or not w.text().strip():
            continue
        if w.width() < w.minimumSizeHint().width():
            out.append(f"{type(w).__name__} {w.text()!r}: {w.width()} < {w.minimumSizeHint().width()}")
    return out


def test_nothing_clipped_at_1280x720(qtbot, window, fe_home):
    from app.probe.history import History
    from tests.test_history import fake_result

    long_label = "simple [widths=32/64/64, in_channels=1] (trained, MNIST)"
    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        h.add(fake_result(label=long_label, state="trained", top1=0.9))
    win = window("models", size=(1280, 720))
    win.models.wait_ready(20_000)
    qtbot.wait(100)
    assert _clipped(win.models.form) == []
    assert win.models.form.width() >= win.models.form.minimumSizeHint().width()
    win.tabs.setCurrentIndex(3)
    qtbot.wait(200)
    table = win.probe.history_table.table
    col = win.probe.history_table.COLUMNS.index("Model")
    need = table.fontMetrics().horizontalAdvance(long_label)
    assert win.probe.history_table.text(0, col) == long_label
    assert table.columnWidth(col) >= need, f"History 'Model' column {table.columnWidth(col)} px < text {need} px"
    assert _clipped(win.probe.run_panel) == []


def test_the_window_fits_a_small_screen_whatever_a_workspace_holds(qtbot, window):
    """Four Live panes side by side need ~1,570 px: the tab scrolls its workspace instead of widening the window
    (which then no longer fit a 1366 or 1024 px screen, on every tab)."""
    from widgets.live.workspace import MAX_PANES

    win = window("live", size=(1024, 700))
    live = win.live
    while len(live.panes) < MAX_PANES:
        live.add_pane()
    qtbot.wait(100)
    assert live.minimumSizeHint().width() > 1024  # what the panes need
    for i in range(win.tabs.count()):
        win.tabs.setCurrentIndex(i)
        qtbot.wait(50)
        assert win.minimumSizeHint().width() <= 1024 and win.minimumSizeHint().height() <= 700
        assert win.width() == 1024, (i, win.width())
    win.tabs.setCurrentIndex(2)
    qtbot.wait(50)
    holder = win.tabs.currentWidget()
    assert holder.horizontalScrollBar().maximum() > 0  # the rest of the panes is a scroll away


@pytest.mark.parametrize("name", ["kernels", "models", "live", "probe", "experiments", "insight"])
def test_a_1024_px_window_shows_the_whole_workspace_without_a_sideways_scroll(qtbot, window, name):
    """Kernels needed 1,090 px (three one-line labels: "Bank view: ...", the cell readout, "Frequency response ..."),
    Models 1,213 (each kernel panel's two combos held 18 and 16 characters, its colour bar 220 px), Live 1,217 with its
    three first panes (a one-row tool bar of 1,167 px; each pane's combos and spin boxes): their right columns were
    cut at 1024 px. Nor does a workspace scroll up and down at 700 px: the tab sized Live to its preferred height for
    the width (the wrapping tool bar), 716 px on a 647 px viewport."""
    win = window(name, size=(1024, 700))
    ws = win.workspaces[name]
    win.wait_ready(20_000)
    holder = win.tabs.currentWidget()
    qtbot.wait(300)
    assert ws.minimumSizeHint().width() <= holder.viewport().width(), (ws.minimumSizeHint(), holder.viewport().width())
    assert holder.horizontalScrollBar().maximum() == 0
    assert holder.verticalScrollBar().maximum() == 0 and ws.height() == holder.viewport().height()


def test_the_probe_reflows_its_columns_into_tabs_on_a_narrow_window(qtbot, window, monkeypatch):
    """Its three columns need ~1,240 px: at 1024 px the results column was a sideways scroll away and the dataset's
    buttons were cut ("Da...r..."). Narrow, the dataset and the models/settings columns are two tabs beside the
    results; wide again, three columns as they were, and the run and the remembered layout unharmed."""
    started = _blocking_probe(monkeypatch)
    win = window("probe", size=(1024, 700))
    qtbot.waitUntil(lambda: hasattr(win.probe, "reflow"), timeout=20_000)
    ws = win.probe
    qtbot.waitUntil(lambda: ws.reflow.narrow, timeout=5000)
    holder = win.tabs.currentWidget()
    qtbot.wait(50)
    assert holder.horizontalScrollBar().maximum() == 0  # nothing a sideways scroll away
    assert ws.splitter.count() == 2 and ws.reflow.tabs.count() == 2
    assert ws.reflow.tabs.tabText(1) == "2 · Models and probe"
    assert _clipped(ws.browser) == []  # the dataset's row fits its tab
    right = ws.splitter.widget(1)
    assert right.width() >= right.minimumSizeHint().width()
    saved = ws.settings.value("probe/splitter")
    ws.reflow.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    assert ws.train_btn.isVisible() and _clipped(ws.run_panel) == []  # the run box below the scrolled settings
    ws.models.set_checked(["simple (random)"])
    qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: started == ["simple (random)"], timeout=5000)
    ws.cancel()
    qtbot.waitUntil(lambda: ws.train_btn.isEnabled(), timeout=5000)
    ws._save_settings()
    assert ws.settings.value("probe/splitter") == saved  # the wide layout is what is remembered
    win.resize(1600, 1000)
    qtbot.waitUntil(lambda: not ws.reflow.narrow, timeout=5000)
    assert ws.splitter.count() == 3 and not ws.reflow.tabs.isVisible()
    assert [ws.splitter.widget(i) for i in range(2)] == list(ws.reflow.columns)
    assert all(w.isVisible() and w.width() >= w.minimumSizeHint().width() for w in ws.reflow.columns)
    assert holder.horizontalScrollBar().maximum() == 0
    win.resize(1250, 800)  # between the limit and the limit + margin: stays as it is (no flicker at the edge)
    qtbot.wait(50)
    assert not ws.reflow.narrow


def test_small_truths_in_models_and_probe(qtbot, window):
    import numpy as np

    from tests.test_history import fake_result
    from widgets.probe.model import RunView

    win = window("models")
    ws = win.models
    ws.backbone.setCurrentIndex(ws.backbone.findData("simple"))
    ws.wait_ready(20_000)
    nc = ws.option_widget("num_classes")
    nc.setValue(0)
    assert nc.text() == "none (probe heads)"  # never a bare "num classes 0"
    header = [ws.table.horizontalHeaderItem(c).text() for c in range(ws.table.columnCount())]
    assert "Freeze" in header
    col = header.index("Freeze")
    assert all(ws.table.item(r, col).text() == "" for r in range(ws.table.rowCount()))  # no unlabelled "0"
    ws.set_layer_frozen(ws._builder_view.rows[0].path, True)
    ws.wait_ready(20_000)
    qtbot.waitUntil(ws.builder_ready, timeout=20_000)
    assert ws.table.item(0, col).text() == "all frozen"
    # the confusion matrix: colour row-normalised, numbers are counts, and the hover says both
    results = win.probe.results
    d = fake_result()
    d["confusion"] = (np.eye(10, dtype=int) * 8 + 1).tolist()
    results.show_run(RunView.from_dict(d))
    title = results.confusion.plotItem.titleLabel.text
    assert "counts" in title and "row %" in title and "row-normalised" not in title
    assert results.confusion_text(2, 2) == "true 2 → predicted 2: 9 of 18 (50.0%)"


def test_first_launch_pairs_like_with_like(qtbot, window):
    ws = window("models").models
    ws.wait_ready(30_000)
    qtbot.waitUntil(lambda: ws.panel_b.view() is not None and ws.panel_a.view() is not None, timeout=30_000)
    spec_b = ws.kernels._specs.get(ws.panel_b.source_id())
    assert spec_b is not None and spec_b.weight_state == "trained" and spec_b.backbone == ws.backbone.currentData()
    a, b = ws.panel_a.view(), ws.panel_b.view()
    first = a.rows[0].path
    assert a.kernels[first].shape == b.kernels[first].shape  # same input channels: the two can be compared
    assert "CKA" in ws.compare.text()


def test_esc_cancels_the_probe_wherever_the_focus_is(qtbot, window, monkeypatch):
    """Esc with the focus in the dataset browser (which has an Esc of its own) still cancels the run."""
    started = _blocking_probe(monkeypatch)
    win = window("probe")
    win.probe.train()
    qtbot.waitUntil(lambda: bool(started), timeout=30_000)
    win.probe.browser.combo.setFocus()
    with qtbot.waitSignal(win.probe.batchDone, timeout=10_000):
        qtbot.keyClick(win.probe.browser.combo, Qt.Key.Key_Escape)
    assert win.probe.stage.text().startswith("Cancelled")


def test_workspaces_implement_the_protocol(window):
    from widgets.common.workspace import Workspace

    win = window("probe")
    for key in ("models", "live", "probe"):
        assert isinstance(win.workspaces[key], Workspace), key


def test_preview_shows_one_panel_alone(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "settings.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "FILTER_EXPLORER_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "widgets.preview", "probe.settings", "--size", "400x500",
                        "--screenshot", str(out)], cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (400, 500)


def test_preview_time_is_for_the_probe(capsys):
    from widgets.preview import main

    with pytest.raises(SystemExit) as exc:
        main(["models", "--time"])
    assert exc.value.code == 2 and "--time measures the probe workspace" in capsys.readouterr().err


def test_builder_form_fits_every_backbone(qtbot):
    """The Models left column at the width the window gives it at 1280x720: no option clipped, for every backbone."""
    from app.models import names
    from widgets.application import make_app
    from widgets.models.builder_form import BuilderForm

    make_app()
    form = BuilderForm()
    qtbot.addWidget(form)
    form.resize(form.minimumWidth(), 700)
    form.show()
    for name in names():
        form.fill_options(name)
        form.resize(form.minimumWidth(), 700)
        qtbot.wait(20)
        assert form.minimumWidth() <= form.maximumWidth()
        assert _clipped(form) == [], name


def test_a_tab_opened_during_start_up_is_built_in_the_background(qtbot, window):
    """A tab opened while the start-up still builds the workspaces in the background is not built at once on the GUI
    thread (that held the window 1.2-1.6 s when opened 0.3 s after the first paint: its imports were not done): its
    placeholder says it is loading, its imports come next, and it is built a step per turn, then shown."""
    from PySide6.QtWidgets import QLabel

    from widgets.main_window import WORKSPACES

    win = window("kernels")
    qtbot.waitUntil(lambda: win.painted, timeout=10_000)
    late = [k for k in reversed(WORKSPACES) if k not in win.built()]
    if not late:
        pytest.skip("every workspace was built before the tab could be opened")
    key = late[0]
    win.tabs.setCurrentIndex(WORKSPACES.index(key))
    assert key not in win.built()  # not built in the click's slot
    holder = win.tabs.currentWidget()
    assert any(lab.isVisible() and lab.text().startswith("Loading") for lab in holder.findChildren(QLabel))
    if win._preloader is not None:  # (under load the click can come before the preloader exists: then it is
        # created with this workspace first, which the wait below covers)
        todo = list(win._preloader._todo)  # the workspaces whose imports have not begun: this one is next, if there
        assert key not in todo or todo[0] == key
    # a shortcut pressed meanwhile is not lost without a word (its workspace's actions do not exist yet)
    qtbot.keyClick(holder, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    if key not in win.built():
        said = win.statusBar().currentMessage()
        assert said.startswith(f"{key.capitalize()} is still loading:") and "did nothing" in said, said
    qtbot.waitUntil(lambda: key in win.built(), timeout=60_000)
    assert win.current_workspace() == key and win.workspace(key).isVisible()


def test_the_preloader_takes_a_preferred_workspace_next():
    from widgets.startup import Preloader

    p = Preloader(["kernels", "models", "live", "probe"], lambda step: None)
    assert p._next() == "kernels"
    p.prefer("probe")
    p.prefer("kernels")  # begun already: nothing changes
    p.prefer("nothing")
    assert p.order == ["kernels", "probe", "models", "live"]
    assert [p._next(), p._next(), p._next(), p._next()] == ["probe", "models", "live", None]


def test_a_flow_layout_wraps_its_groups_onto_a_second_row_only_when_the_first_is_full(qtbot):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    from widgets.common.flow import FlowLayout, flow_group

    host = QWidget()
    qtbot.addWidget(host)
    flow = FlowLayout(host, spacing=10)
    groups = [flow_group(QPushButton(f"button {i}")) for i in range(3)]
    for g in groups:
        g.setFixedSize(100, 20)
        flow.addWidget(g)
    flow.setGeometry(QRect(0, 0, 320, 100))  # 100 + 10 + 100 + 10 + 100 = 320: one row
    assert [g.geometry().topLeft().toTuple() for g in groups] == [(0, 0), (110, 0), (220, 0)]
    assert flow.heightForWidth(320) == 20 and flow.sizeHint().toTuple() == (320, 20)
    flow.setGeometry(QRect(0, 0, 319, 100))  # a pixel short: the third group on the next row
    assert [g.geometry().topLeft().toTuple() for g in groups] == [(0, 0), (110, 0), (0, 30)]
    assert flow.heightForWidth(319) == 50 and flow.heightForWidth(100) == 80
    assert flow.minimumSize().toTuple() == (100, 20)  # the widest group: never narrower than that
    groups[1].hide()
    flow.setGeometry(QRect(0, 0, 210, 100))
    assert groups[2].geometry().topLeft().toTuple() == (110, 0)  # a hidden group takes no room


def test_a_tab_opened_between_the_first_paint_and_the_start_ups_first_turn_waits_its_turn(qtbot, fe_home):
    """The window painted, the start-up's first turn (which starts the preloader) not yet run: a tab opened then was
    built at once in the click's slot (the preloader to prefer it did not exist yet); seen once under load. Now it
    waits for the start-up, which builds the shown tab first."""
    from widgets.application import make_app
    from widgets.main_window import WORKSPACES, MainWindow

    make_app()
    win = MainWindow(workspace="kernels", persist=False)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    # the window's first paint, before any event-loop turn (what ``MainWindow.event`` records at its first Paint;
    # a paint event sent by hand makes Qt warn that painting began outside the paint system)
    win.painted, win.built_at_first_paint = True, []
    assert win.painted and win._preloader is None and not win.built()
    win.tabs.setCurrentIndex(WORKSPACES.index("insight"))
    assert win.built() == []  # not built in the click's slot
    qtbot.waitUntil(lambda: "insight" in win.built(), timeout=60_000)
    assert win.built()[0] == "insight" and win.workspace("insight").isVisible()  # the shown one first
    qtbot.waitUntil(lambda: len(win.built()) == len(WORKSPACES), timeout=120_000)  # the start-up ends as always
    win.close()
