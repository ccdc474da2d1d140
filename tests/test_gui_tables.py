"""``widgets.common.tables.bulk_fill``: a table whose columns are sized to their contents is measured once after
a fill, not at every cell. Cell by cell, each ``setItem`` of a table on screen measured every ResizeToContents
column again over all its rows (``sizeHintForColumn``): the Models workspace's layer table took 0.6-0.9 s of the
GUI thread at each option change of lc-resnet20, the Experiments table 220-240 ms for the CIFAR-10 ablation's 40
cells. The tests count the measurements (no timing)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

pytestmark = pytest.mark.gui


class Counting(QTableWidget):
    measured = 0

    def sizeHintForColumn(self, column: int) -> int:  # noqa: N802 (Qt's name)
        Counting.measured += 1
        return super().sizeHintForColumn(column)


def _shown(qtbot, table):
    from PySide6.QtWidgets import QApplication

    qtbot.addWidget(table)
    table.resize(900, 400)
    table.show()
    QApplication.processEvents()
    return table


@pytest.mark.parametrize("bulk", [True, False])
def test_a_fill_in_bulk_measures_no_column_while_it_runs_and_gives_the_modes_back(qtbot, bulk):
    from PySide6.QtWidgets import QApplication

    from widgets.common.tables import bulk_fill

    t = _shown(qtbot, Counting(0, 3))
    hh = t.horizontalHeader()
    hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def fill():
        t.setRowCount(40)
        for i in range(40):
            for j in range(3):
                t.setItem(i, j, QTableWidgetItem("x" * (i % 7 + j)))

    fill()  # rows on screen: filling them again is what measured per cell (a new model, a new plan)
    QApplication.processEvents()
    Counting.measured = 0
    if bulk:
        with bulk_fill(t):
            fill()
    else:
        fill()
    assert (Counting.measured == 0) == bulk and (bulk or Counting.measured >= 40)  # the control measures per cell
    assert [hh.sectionResizeMode(c) for c in range(3)] == [QHeaderView.ResizeMode.Stretch] + [
        QHeaderView.ResizeMode.ResizeToContents] * 2


def _ablation_table(qtbot):
    """The CIFAR-10 ablation's 40 cells in an Experiments cell table on screen that counts its column measurements
    (``type(t).measured``)."""
    from PySide6.QtWidgets import QApplication

    from app.experiments.recipe import load_recipe
    from widgets.experiments.panels import CellTable

    class Cells(CellTable):  # a class of its own: PySide looks a Python override up once per class
        measured = 0

        def sizeHintForColumn(self, column: int) -> int:  # noqa: N802
            Cells.measured += 1
            return super().sizeHintForColumn(column)

    cells = [c.to_dict() for c in load_recipe("ablation-cifar10").cells(True)]
    t = _shown(qtbot, Cells())
    t.set_cells(cells, {})
    QApplication.processEvents()
    return t, Cells, cells


def test_the_experiments_table_is_filled_without_measuring_per_cell(qtbot):
    t, Cells, cells = _ablation_table(qtbot)
    Cells.measured = 0
    t.set_cells(cells[::-1], {})  # other cells (another order): the rows are built again
    assert t.rowCount() == 40 and Cells.measured <= 2 * t.columnCount(), Cells.measured


def test_the_layer_table_is_filled_without_measuring_per_cell(qtbot, monkeypatch):
    from app.models import viz
    from app.models.spec import ModelSpec
    from app.tasks import run_to_end
    from widgets.models import layer_table

    class CountingGrid(layer_table.LayerGrid):  # the layer table's own table (its columns: layer_columns)
        def sizeHintForColumn(self, column: int) -> int:  # noqa: N802
            Counting.measured += 1
            return super().sizeHintForColumn(column)

    monkeypatch.setattr(layer_table, "LayerGrid", CountingGrid)
    view = run_to_end(viz.inspect_task(ModelSpec.make("lc-resnet20"), "lc-resnet20"))
    lt = layer_table.LayerTable()
    _shown(qtbot, lt)
    lt.fill(view, {}, {})
    qtbot.waitUntil(lambda: not lt._combos, timeout=5000)  # every row's Initialisation combo is there
    Counting.measured = 0
    lt.fill(view, {}, {})
    assert lt.table.rowCount() == len(view.rows) > 40 and Counting.measured <= 2 * len(layer_table.COLUMNS)


def _configurations(qtbot, fe_home, n: int):
    """The comparison (groups, rows) of ``n`` stored runs of different models on digits."""
    from app.probe.history import History
    from tests.test_history import fake_result
    from widgets.probe.history_panel import HistoryPanel

    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        for i in range(n):
            h.add(fake_result(label=f"simple variant {i}", top1=0.5 + i / (2 * n)))
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    return panel.comparison("digits")


def test_the_probe_comparison_table_is_filled_without_measuring_per_cell(qtbot, fe_home, monkeypatch):
    """A researcher's comparison of many configurations, shown again after a run: cell by cell, 200 groups took
    29 s of the GUI thread (3,000 cells, each measuring its column over every row)."""
    from PySide6.QtWidgets import QApplication

    from widgets.probe import compare

    groups, rows = _configurations(qtbot, fe_home, 30)
    assert len(groups) == 30
    monkeypatch.setattr(compare, "QTableWidget", Counting)
    view = _shown(qtbot, compare.CompareView())
    view.set_groups(groups, rows, "digits")
    QApplication.processEvents()  # the table on screen
    Counting.measured = 0
    view.set_groups(groups, rows, "digits")  # after the next run: the rows built again
    assert view.table.rowCount() == 30 and Counting.measured <= 2 * len(view.COLUMNS), Counting.measured
    assert view.cell(29, "Model") == rows[29].label


def test_the_experiments_table_takes_results_without_measuring_per_cell(qtbot):
    """Results arriving for rows already shown (one per finished cell while a run goes, or a finished run's over its
    plan): each result's five cells set one by one measured every column over every row five times (the CIFAR-10
    ablation's 40 results: 108 ms of the GUI thread, 2.7 ms a cell)."""
    t, Cells, cells = _ablation_table(qtbot)
    keys = [c["key"] for c in cells]
    result = {"test_top1": 0.5, "val_top1": 0.5, "n_features": 1000, "seconds": 3.0}
    Cells.measured = 0
    t.update_cell(keys[0], result)  # one finished cell
    assert Cells.measured <= 2 * t.columnCount(), Cells.measured
    Cells.measured = 0
    t.set_cells(cells, {k: result for k in keys})  # a finished run shown over its plan: every row's result
    assert Cells.measured <= 2 * t.columnCount(), Cells.measured
    assert [t.item(i, 2).text() for i in range(40)] == ["done"] * 40


def test_many_compared_configurations_stay_readable(qtbot, fe_home):
    """Past what fits, the chart names every k-th bar (the mouse over a bar names any) and writes no figure on the
    bars (the table has them); a few configurations are all named, each with its figure. A taller chart names more."""
    import pyqtgraph as pg

    from widgets.probe import compare

    groups, rows = _configurations(qtbot, fe_home, 60)
    view = compare.CompareView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    qtbot.waitExposed(view)

    def texts():
        return [it for it in view.chart.getPlotItem().items if isinstance(it, pg.TextItem)]

    view.set_groups(groups, rows, "digits")
    named = len(view._ticks)
    assert 4 <= named < 60 and named * compare.TICK_PX <= view.chart.getViewBox().height() + compare.TICK_PX
    assert texts() == []
    assert view._ticks[0][0] == 0.0 and len(view._tips) == 60  # every bar still has its tip
    view.resize(700, 1400)
    qtbot.waitUntil(lambda: len(view._ticks) > named)
    view.set_groups(groups[:5], rows[:5], "digits")
    assert [y for y, _ in view._ticks] == [0.0, 1.0, 2.0, 3.0, 4.0] and len(texts()) == 5
    assert all(t.isVisible() for t in texts())
    view.set_groups(groups[:20], rows[:20], "digits")
    view.resize(700, 300)  # too low for 20 names: every other one, and no figures on bars that thin
    qtbot.waitUntil(lambda: len(view._ticks) < 20)
    assert len(texts()) == 20 and not any(t.isVisible() for t in texts())
