"""Audit N findings 1, 7, 10, 12, 16, 18 and 22 (the Probe's Results header, a failed batch, the Experiments plan and
table), driven through the widgets as a user meets them."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from test_experiments_dataset_gui import _workspace as experiments_workspace
from test_probe_gui import _stored_run, choose_dataset, click_check, make_ws, press, uncheck_all  # noqa: F401

pytestmark = pytest.mark.gui

LONG = ("validation per weight_decay: 0.1: 95.91%, 0.01: 98.14%, 0.001: 98.51%, 0.0001: 98.51%, 1e-05: 98.88%; the "
        "best is the grid's last value: a weaker one was not tried; 0.0001, 1e-05 moved only 5, 1 iteration(s) from "
        "the previous value's solution (warm start) and the last words are THE-END")


def _open_stored(qtbot, make_ws, fe_home, label="simple (random)"):  # noqa: F811
    from app.probe.history import History

    with History(fe_home / "history.sqlite") as h:
        run_id = h.add(_stored_run(label=label))
    ws = make_ws()
    choose_dataset(ws, "digits")
    qtbot.waitUntil(lambda: run_id in ws.history_table.ids(), timeout=10_000)
    ws.open_run(run_id)
    return ws


def test_finding1_the_results_header_shows_or_scrolls_to_every_line(qtbot, make_ws, fe_home, monkeypatch):  # noqa: F811
    from widgets.probe.model import RunView

    monkeypatch.setattr(RunView, "caveats", lambda self: [LONG] * 3)
    ws = _open_stored(qtbot, make_ws, fe_home)
    r = ws.results
    ws.tabs.setCurrentWidget(r)
    r.show_run(r.run)
    qtbot.waitUntil(lambda: "THE-END" in r.header.text())
    qtbot.wait(50)
    # a tall window: the header is as tall as its wrapped text, no line cut off
    assert not r.header_cut(), (r.header_scroll.height(), r.header.heightForWidth(r.header_scroll.viewport().width()))
    assert r.header_scroll.height() >= r.header.heightForWidth(r.header_scroll.viewport().width())
    # a short one: the header gets less, and then scrolls (its last line is a scroll away, not gone)
    ws.resize(1024, 560)
    bar = r.header_scroll.verticalScrollBar()
    qtbot.waitUntil(lambda: r.header_cut() and bar.isVisible() and bar.maximum() > 0, timeout=3000)
    # the workspace is not made taller than its window by the header
    assert ws.minimumSizeHint().height() <= ws.height()


def test_finding12_the_weight_state_is_said_once(qtbot):
    from widgets.probe.results import _named

    text = _named("simple (trained, MNIST)", "trained", "#16803d")
    assert text.count("trained") == 1 and "(trained)" not in text
    assert "(random)" in _named("flat28.pt", "random", "#000")  # a label without it still says it


def test_finding7_a_failed_batch_resets_the_panels_and_shows_the_reason(qtbot, make_ws, tmp_path):  # noqa: F811
    from app.data.formats import IDX_STEMS

    ws = make_ws()
    ws.reflow.fit(1000)  # as in a 1024-wide window (alone, the workspace is never narrower than the three columns)
    assert ws.reflow.narrow
    uncheck_all(qtbot, ws)
    ws.reflow.tabs.setCurrentWidget(ws.middle_column)
    click_check(qtbot, ws, "simple (random)")
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("ridge"))
    root = tmp_path / "empty-data-root"
    root.mkdir()
    ws.reflow.tabs.setCurrentIndex(0)  # the user is on "1 · Dataset"
    choose_dataset(ws, "mnist")
    ws.browser.data_root = str(root)  # no MNIST there
    ws._on_dataset("mnist")
    # before Train: Train is off (a run would only fail to load the images), the stage line and Train's tooltip say
    # why, and the Download under Train fetches it
    assert ws.stage.text().startswith("Not ready: mnist is not downloaded")
    assert "Not ready" in ws.train_btn.toolTip() and not ws.train_btn.isEnabled()
    assert ws.data_download.button.isVisibleTo(ws.run_panel)
    assert ws.data_download.button.text().startswith("Download mnist (")
    # its shortcut starts nothing and says why
    press(qtbot, ws, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not ws.is_running() and ws.queue.total == 0
    assert ws.banner.isVisibleTo(ws.run_panel) and ws.banner.label.text().startswith("Not started: mnist is not "
                                                                                     "downloaded")
    # a copy that is there but damaged: Train is on, and the run fails
    (root / "MNIST" / "raw").mkdir(parents=True)
    for stem in IDX_STEMS:
        (root / "MNIST" / "raw" / stem).write_bytes(b"not an IDX file")
    ws._on_dataset("mnist")
    assert ws.train_btn.isEnabled() and not ws.data_download.button.isVisibleTo(ws.run_panel)
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        press(qtbot, ws, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert ws.banner.isVisible() and "failed" in ws.banner.text()
    assert ws.stage.text().startswith("Failed: 0 of 1 run finished")
    assert not ws.progress.isVisible()  # no bar left at 50%
    assert "Extracting" not in ws.curves.waiting.text() and "Failed" in ws.curves.waiting.text()
    assert "mnist" in ws.curves.waiting.text()
    assert ws.reflow.tabs.currentWidget() is ws.middle_column  # the tab holding the red banner


def test_finding16_f1_lists_the_browsers_keys_and_one_name_for_train(qtbot, make_ws):  # noqa: F811
    from widgets.probe.run_panel import TRAIN_KEY

    ws = make_ws()
    lines = ws.shortcuts()
    assert any(line.startswith("Ctrl+O:") for line in lines), lines
    assert sum(line.startswith("Esc:") for line in lines) == 1
    assert TRAIN_KEY == QKeySequence("Ctrl+Return").toString() == "Ctrl+Return"
    texts = lines + [ws.train_btn.toolTip(), ws.curves.hint.text(), ws.stage.text()]
    assert not any("Ctrl+Enter" in t for t in texts), texts
    assert f"{TRAIN_KEY}: train" in lines[0] and TRAIN_KEY in ws.train_btn.toolTip()


def test_finding22_ridge_leaves_no_gap_for_the_hidden_max_iterations(qtbot):
    from app.probe.config import HEADS, POOLINGS
    from widgets.probe.settings_panel import ProbeSettings

    ps = ProbeSettings(HEADS, POOLINGS)
    qtbot.addWidget(ps)
    ps.show()
    ps.head.setCurrentIndex(ps.head.findData("logistic"))
    tall = ps.sizeHint().height()
    ps.head.setCurrentIndex(ps.head.findData("ridge"))
    page = ps.options.currentWidget()
    assert ps.options.sizeHint().height() <= page.sizeHint().height() + 1
    assert ps.sizeHint().height() < tall  # one option row fewer, one row's height less


def test_finding18_a_plan_that_cannot_run_offers_no_run(qtbot, tmp_path):
    from widgets.experiments.workspace import INVITATION

    ws, missing = experiments_workspace(qtbot, tmp_path)
    assert str(missing) in ws.dataset.problem()
    assert not ws.run_btn.isEnabled()
    assert ws.status.text() != INVITATION and ws.status.text().startswith("Cannot run yet")
    ws.dataset.combo.setEditText("digits")  # a dataset that is here: the invitation and Run come back
    assert ws.dataset.problem() == ""
    assert ws.run_btn.isEnabled() and ws.status.text() == INVITATION
    ws.shutdown()


def test_finding18_the_recipe_description_scrolls_instead_of_being_cut(qtbot, tmp_path):
    from widgets.experiments.workspace import ExperimentsWorkspace
    from app.experiments.store import Store

    ws = ExperimentsWorkspace(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                              store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.resize(1024, 560)
    ws.show()
    i = ws.recipe_combo.findText("ablation-cifar10")
    if i >= 0:
        ws.recipe_combo.setCurrentIndex(i)
    qtbot.wait(100)
    claim = ws.claim
    need = claim.heightForWidth(claim.width())
    assert claim.height() >= need - 1, (claim.height(), need)
    ws.shutdown()


def test_finding10_the_settings_column_keeps_a_readable_width(qtbot):
    from widgets.experiments.panels import CellTable

    t = CellTable()
    qtbot.addWidget(t)
    cells = [{"key": f"k{i}", "variant": "patches: no contrast norm.", "settings": {"backbone": "rdsn",
              "model_seed": i, "options": {"activation": "sign", "whiten": False}}} for i in range(4)]
    t.resize(520, 300)
    t.show()
    t.set_cells(cells, {})
    qtbot.wait(20)
    assert t.columnWidth(1) >= min(200, t.sizeHintForColumn(1)) > 60, (t.columnWidth(1), t.sizeHintForColumn(1))
    t.resize(1600, 300)  # wide: the settings take what the others leave
    qtbot.waitUntil(lambda: t.columnWidth(1) > 300, timeout=2000)
