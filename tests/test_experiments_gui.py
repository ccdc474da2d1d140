"""The Experiments workspace driven as a user would: pick a tiny recipe, Run, watch the cells fill in."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pytest

from app.experiments.store import Store
from widgets.experiments.panels import CHANGE

pytestmark = pytest.mark.gui

TINY = """
name = "tiny-gui"
title = "tiny grid for the GUI"
claim = "k matters"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "gap"
train_limit = 200
test_limit = 80
options = { k = 8, blocks = 1 }
[grid]
"options.k" = [8, 16]
[plot]
x = "options.k"
y = "test_top1"
"""


def _tiny_opened(qtbot, tmp_path, text: str = TINY):
    """The Experiments workspace with a recipe (by default TINY) loaded at its full size."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(text)
    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(recipe))
    ws.quick.setChecked(False)
    return ws


def test_run_a_tiny_recipe_and_see_cells_and_plot(qtbot, tmp_path):
    ws = _tiny_opened(qtbot, tmp_path)
    assert "2 probe cell(s)" in ws.plan.text() and "0 of 2" in ws.plan.text()
    assert ws.table.rowCount() == 2 and ws.table.status_of(ws._cells[0]["key"]) == "waiting"
    # before any cell: an empty 0-100 % frame, no numbers along the x axis that no cell gave; the series is laid
    # out from the plan (its legend entry), with no point
    assert ws.plot.series_count == 1 and ws.plot.point_count() == 0
    assert ws.plot.plot.getAxis("bottom")._tickLevels == [[]]
    y0, y1 = ws.plot.plot.viewRange()[1]
    assert y0 <= 0 and y1 >= 100
    ws.executor.setCurrentText("local")
    assert ws.workers.isEnabled() and "at once" in ws.workers.toolTip()
    ws.executor.setCurrentText("inline")
    assert not ws.workers.isEnabled()  # inline runs one cell at a time
    ws.run()
    qtbot.waitUntil(lambda: not ws.is_running(), timeout=120_000)
    assert ws.result is not None and ws.result.failed == 0
    assert all(ws.table.status_of(c["key"]) == "done" for c in ws._cells)
    assert ws.plot.series_count == 1 and ws.plot.point_count() == 2
    # the finished cells' own x values, whole numbers as ticks (no 12.5 between k = 8 and k = 16)
    assert ws.plot.plot.getAxis("bottom")._tickLevels == [[(8, "8"), (16, "16")]]
    points = ws.plot._items[0][0].scatter.points()
    assert [pt.data().split(":")[0] for pt in points] == ["ours · options.k 8", "ours · options.k 16"]
    assert points[0].data().split(": ", 1)[1].startswith(  # (then its test-set standard error: one seed)
        f"{100 * ws.result.results[ws._cells[0]['key']]['test_top1']:.2f}% ± ")
    assert Path(ws.result.report["html"]).is_file() and ws.report_btn.isEnabled()
    assert ws.history.count() >= 1
    import re

    assert re.search(r", \d{4}-\d\d-\d\d \d\d:\d\d$", ws.history.item(0).text())  # a date as people read it
    assert "2 of 2 cell(s) already stored" in ws.plan.text()  # the plan line says so at the run's end
    # a second look reuses both cells
    ws._show_plan()
    assert "2 of 2" in ws.plan.text()
    ws.shutdown()


def test_a_broken_recipe_file_says_why(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from widgets.experiments.workspace import ExperimentsWorkspace

    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\nkind = "probe"\n[base]\nbakbone = "rdsn"\n')
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    assert not ws.load_file(str(bad))
    assert shown and "bakbone" in shown[0]


@pytest.mark.parametrize("which", [0, 1])
def test_the_remembered_recipe_is_loaded_once_at_start(qtbot, tmp_path, monkeypatch, which):
    """The start-up selects the remembered recipe and loads it once (it used to load it twice when the remembered one
    was not the first of the list: once on the selection, once more on the next build step: issue 14's steps)."""
    from PySide6.QtCore import QSettings

    import widgets.experiments.workspace as wsmod

    loads: list[str] = []
    real = wsmod.load_recipe
    monkeypatch.setattr(wsmod, "load_recipe", lambda path: (loads.append(str(path)), real(path))[1])
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    probe = wsmod.ExperimentsWorkspace(settings=QSettings(str(tmp_path / "t.ini"), QSettings.Format.IniFormat),
                                       store=Store(tmp_path / "exp0.sqlite"))
    qtbot.addWidget(probe)
    name = probe.recipe_combo.itemText(which)
    settings.setValue("experiments/recipe", name)
    loads.clear()
    ws = wsmod.ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    assert ws.recipe_combo.currentText() == name and ws.recipe is not None and ws.recipe.name == name
    assert loads == [ws.recipe_combo.itemData(which)], loads
    assert ws.plan.text()  # its plan is shown


def test_the_plot_takes_new_points_in_place_and_a_burst_of_cells_replots_once(qtbot, tmp_path):
    """A finished cell updates the curves in place (the same series, axes and references: no clear and rebuild,
    which cost 20-60 ms of the GUI thread per cell); several cells finishing close together redraw the plot once;
    the table's rows are not built again at the run's end."""
    import numpy as np

    from app.tasks import Progress
    from widgets.experiments.plot import ExperimentPlot

    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    spec = {"x": "options.k", "y": "test_top1"}
    plot.set_series({"ours": [(8, 0.5, 0.0)]}, [], spec)
    built = plot.rebuilds
    plot.set_series({"ours": [(16, 0.7, 0.02), (8, 0.5, 0.0)]}, [], spec)  # a cell more, a spread over seeds
    assert plot.rebuilds == built
    curve, bars = plot._items[0]
    assert list(curve.getData()[0]) == [8.0, 16.0] and list(curve.getData()[1]) == [50.0, 70.0]
    assert np.allclose(bars.opts["height"], [0.0, 4.0])
    plot.set_series({"ours": [(8, 0.5, 0.0)], "theirs": [(8, 0.4, 0.0)]}, [], spec)  # a new series: built again
    assert plot.rebuilds == built + 1 and plot.series_count == 2

    ws = _tiny_opened(qtbot, tmp_path)
    laid_out = ws.plot.rebuilds  # the plan's layout: the finished cells below only move points
    assert ws.plot.series_count == 1 and ws.plot.point_count() == 0
    x0, x1 = ws.plot.plot.viewRange()[0]
    assert x0 < 8 and x1 > 16  # the x range of every planned cell, before any finished
    assert not ws.plot.plot.plotItem.legend.isVisible()  # an empty frame until a point exists
    calls = []
    real = ws.plot.set_series
    ws.plot.set_series = lambda *a, **k: (calls.append(1), real(*a, **k))

    class Done:
        def __init__(self, cell, acc):
            self.cell, self.result = cell, {"test_top1": acc, "seconds": 0.1}

    for i, c in enumerate(ws._cells):  # both cells finish within a few ms
        ws._on_progress(Progress(i + 1, 2, "cell done", Done(c, 0.5 + 0.1 * i)))
    assert [ws.table.status_of(c["key"]) for c in ws._cells] == ["done", "done"] and calls == []
    qtbot.waitUntil(lambda: len(calls) == 1, timeout=2000)
    qtbot.wait(400)
    assert len(calls) == 1 and ws.plot.series_count == 1 and ws.plot.point_count() == 2
    assert ws.plot.rebuilds == laid_out and ws.plot.plot.plotItem.legend.isVisible()
    assert ws.plot.plot.viewRange()[0] == [x0, x1]  # the x axis did not move
    y0, y1 = ws.plot.plot.viewRange()[1]
    assert y0 <= 50 and 60 <= y1 < 100  # the y range stepped to the points (50% and 60%), not 0-100
    first = ws.table.item(0, 3)
    ws.table.set_cells(list(ws._cells), dict(ws._results))  # a run's end: the same cells and results
    assert ws.table.item(0, 3) is first  # the row was not built again
    ws.shutdown()


ARMS = TINY.split("[grid]")[0].replace('name = "tiny-gui"', 'name = "tiny-arms"') + """
[[variants]]
label = "full"
[[variants]]
label = "a much longer arm name that would not fit under an axis"
options = { k = 4, blocks = 1 }
[[variants]]
label = "third"
pooling = "grid2"
[plot]
kind = "ablation"
baseline = ["full"]
x = "variant"
y = "test_top1"
"""


def test_an_ablation_is_drawn_one_row_per_arm_and_other_recipes_get_their_axes_back(qtbot, tmp_path):
    """An ablation recipe's plot: one row per arm in the recipe's order from the top, the names on the left axis,
    the baseline as a square; a finished cell moves its point in place. Loading another recipe gives the lines'
    axes back."""
    from app.tasks import Progress

    ws = _tiny_opened(qtbot, tmp_path, ARMS)
    assert ws.plot.view_row.isVisibleTo(ws) and ws.plot.shows_change(ws.recipe.plot)  # the default: the change
    ws.plot.set_view("value")  # here: each arm's accuracy
    names = ["full", "a much longer arm name that would not fit under an axis", "third"]
    left = ws.plot.plot.getAxis("left")
    assert left._tickLevels == [list(enumerate(names))] and ws.plot.plot.getViewBox().yInverted()
    assert ws.plot.point_count() == 0 and not ws.plot.plot.plotItem.legend.isVisible()
    laid_out = ws.plot.rebuilds

    class Done:
        def __init__(self, cell, acc):
            self.cell, self.result = cell, {"test_top1": acc, "seconds": 0.1}

    by_arm = {c["variant"]: c for c in ws._cells}
    ws._on_progress(Progress(1, 3, "cell done", Done(by_arm["third"], 0.6)))
    ws._on_progress(Progress(2, 3, "cell done", Done(by_arm["full"], 0.8)))
    qtbot.waitUntil(lambda: ws.plot.point_count() == 2, timeout=2000)
    curve, _ = ws.plot._items[0]
    xs, ys = curve.getData()
    assert sorted(zip(ys.tolist(), xs.tolist())) == [(0.0, 80.0), (2.0, 60.0)]  # rows: full, third
    symbols = curve.opts["symbol"]
    assert [symbols[list(ys).index(0.0)], symbols[list(ys).index(2.0)]] == ["s", "o"]  # the baseline: a square
    x0, x1 = ws.plot.plot.viewRange()[0]
    assert x0 <= 60 and 80 <= x1 < 100 and ws.plot.rebuilds == laid_out

    tiny = tmp_path / "tiny.toml"
    tiny.write_text(TINY)
    assert ws.load_file(str(tiny))
    assert left._tickLevels is None and not ws.plot.plot.getViewBox().yInverted()
    assert not ws.plot.view_row.isVisibleTo(ws) and ws.table.isColumnHidden(CHANGE)
    ws.shutdown()


def _done(cell, acc):
    class Done:  # what the runner reports for a finished cell
        def __init__(self):
            self.cell, self.result = cell, {"test_top1": acc, "val_top1": acc, "seconds": 0.1}
    return Done()


SEEDED_ARMS = ARMS.replace("[plot]", "[seeds]\nmodel = [0, 1]\n[plot]") + """
[[paper]]
source = "Somebody"
setting = "full"
value = 0.9
"""


def test_an_ablation_shows_each_arms_change_against_its_baseline_in_the_plot_and_the_table(qtbot, tmp_path):
    """The default view of an ablation is the report's: each arm's change against its baseline, paired by seed
    (mean and spread of the per-seed differences), around a line at zero; the baseline at zero; an arm whose
    baseline has not finished has no point; the paper's accuracy is not drawn on a scale of changes. The table's
    change column gives each cell's own difference. The other view gives the accuracies back; the view is
    remembered."""
    from PySide6.QtCore import QSettings

    from app.tasks import Progress
    from widgets.experiments.workspace import ExperimentsWorkspace

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    recipe = tmp_path / "arms.toml"
    recipe.write_text(SEEDED_ARMS)
    ws = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(recipe))
    ws.quick.setChecked(False)
    assert ws.plot.shows_change(ws.recipe.plot) and not ws.table.isColumnHidden(CHANGE)
    assert "change of test top-1" in ws.plot.plot.getAxis("bottom").labelText
    cells = {(c["variant"], c["settings"]["model_seed"]): c for c in ws._cells}
    third = "third"
    ws._on_progress(Progress(1, 6, "cell done", _done(cells[(third, 0)], 0.60)))
    ws._on_progress(Progress(2, 6, "cell done", _done(cells[(third, 1)], 0.70)))
    ws._replot()
    assert ws.plot.point_count() == 0  # no baseline yet: no change to show
    assert ws.table.change_of(cells[(third, 0)]["key"]) == ""
    ws._on_progress(Progress(3, 6, "cell done", _done(cells[("full", 0)], 0.80)))
    ws._on_progress(Progress(4, 6, "cell done", _done(cells[("full", 1)], 0.76)))
    ws._replot()
    curve, bars = ws.plot._items[0]
    xs, ys = curve.getData()
    # by hand: third - full per seed: 0.60 - 0.80 = -20 points, 0.70 - 0.76 = -6 points; mean -13, sample std
    # |(-20) - (-6)| / sqrt(2) = 9.8995 points
    got = dict(zip(ys.tolist(), xs.tolist()))
    assert got[0.0] == pytest.approx(0.0) and got[2.0] == pytest.approx(-13.0)
    assert bars.opts["width"][list(ys).index(2.0)] == pytest.approx(2 * 14 / 2 ** 0.5)
    # resting the mouse on a point says what it is (the scatter's tool tip; pyqtgraph shows the tip of the point)
    scatter = curve.scatter
    assert scatter.opts["hoverable"]
    tips = {scatter.opts["tip"](x=pt.pos().x(), y=pt.pos().y(), data=pt.data()) for pt in scatter.points()}
    assert tips == {"full: the baseline the arms below it are compared with",
                    "third: -13.00 points against its baseline ± 9.90"}
    assert ws.table.change_of(cells[(third, 0)]["key"]) == "-20.00 pts"
    assert ws.table.change_of(cells[(third, 1)]["key"]) == "-6.00 pts"
    assert ws.table.change_of(cells[("full", 0)]["key"]) == "baseline"
    assert ws.table.change_of(cells[("a much longer arm name that would not fit under an axis", 0)]["key"]) == ""
    x0, x1 = ws.plot.plot.viewRange()[0]
    assert x0 <= -13 - 9.9 and 0 < x1 < 50  # the changes and the zero line in view, not the paper's 90 %
    lines = [i for i in ws.plot.plot.getPlotItem().items if isinstance(i, pg.InfiniteLine)]
    assert [ln.value() for ln in lines] == [0.0]
    ws.plot.view.setCurrentIndex(ws.plot.view.findData("value"))  # the user picks the accuracies
    curve, _ = ws.plot._items[0]
    xs, ys = curve.getData()
    assert dict(zip(ys.tolist(), xs.tolist())) == pytest.approx({0.0: 78.0, 2.0: 65.0})
    assert {pt.data() for pt in curve.scatter.points()} == {"full: 78.00% ± 2.83 (spread over seeds)",
                                                            "third: 65.00% ± 7.07 (spread over seeds)"}
    assert sorted(ln.value() for ln in ws.plot.plot.getPlotItem().items if isinstance(ln, pg.InfiniteLine)) == [
        pytest.approx(90.0)]
    assert "change" not in ws.plot.plot.getAxis("bottom").labelText
    ws.shutdown()
    again = ExperimentsWorkspace(settings=settings, store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(again)
    assert again.plot.view.currentData() == "value"
    again.shutdown()


def test_the_settings_column_shows_what_tells_each_cell_apart(qtbot, tmp_path):
    """Every cell of a recipe shares most of its settings (head, grid, layer...): the column shows only what
    differs (here the grid's k), the whole settings in the tooltip, so that no two rows read alike."""
    ws = _tiny_opened(qtbot, tmp_path)
    texts = [ws.table.item(i, 1).text() for i in range(ws.table.rowCount())]
    assert texts == ["options.k = 8", "options.k = 16"]
    tip = ws.table.item(0, 1).toolTip()
    assert '"head": "ridge"' in tip and '"train_limit": 200' in tip
    assert "apart" in ws.table.horizontalHeaderItem(1).toolTip()
