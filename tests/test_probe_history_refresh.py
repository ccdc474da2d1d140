"""The Probe's history and comparison after each run: the rows already shown stay (stored runs never change), only
new or deleted runs' rows change; the comparison reads each stored run's record once. With 1,000 stored runs the
table's refill took ~0.3 s and the comparison's reads ~0.23 s of the GUI thread after every run."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui


def _summary(i: int, label: str = "simple (random)"):
    from app.probe.history import RunSummary

    fields = {f.name: None for f in dataclasses.fields(RunSummary)}
    fields.update(id=i, created=f"2026-12-02T08:{i:02d}:00", label=label, weight_state="random", dataset="digits",
                  head="logistic", pooling="grid2", top1=0.5 + i / 100, top5=1.0, n_train=1078, seed=i)
    return RunSummary(**fields)


def _texts(table) -> list[list[str]]:
    return [[table.text(r, c) for c in range(len(table.COLUMNS))] for r in range(table.table.rowCount())]


def test_new_and_deleted_runs_change_only_their_rows(qtbot):
    """The history is a table model: a finished run is one row inserted on top, a deleted run one row removed, the
    other rows untouched (no reset); a run that is not the one shown resets the model. Selecting from here never
    asks to open a run."""
    from widgets.probe.history_table import HistoryTable

    h = HistoryTable()
    qtbot.addWidget(h)
    events = []
    m = h.model
    m.rowsInserted.connect(lambda _p, a, b: events.append(("insert", a, b)))
    m.rowsRemoved.connect(lambda _p, a, b: events.append(("remove", a, b)))
    m.modelReset.connect(lambda: events.append(("reset",)))
    opened = []
    h.openRequested.connect(opened.append)
    a, b, c = _summary(1), _summary(2), _summary(3, "resnet20 (trained, CIFAR-10)")
    h.set_runs([b, a])
    assert events == [("reset",)]
    events.clear()
    h.set_runs([c, b, a], select=3)  # a run finished: it comes on top, selected
    assert events == [("insert", 0, 0)]  # the rows of b and a were not built again
    assert [row[2] for row in _texts(h)] == ["resnet20 (trained, CIFAR-10)", "simple (random)", "simple (random)"]
    assert h.ids() == [3, 2, 1] and h.selected_ids() == [3] and opened == []
    assert _texts(h)[0][:2] == ["3", "2026-12-02 08:03"] and _texts(h)[0][6:] == ["53.0%", "100.0%", "1078", "3"]
    events.clear()
    h.set_runs([c, a])  # b deleted
    assert events == [("remove", 1, 1)] and h.ids() == [3, 1] and h.table.rowCount() == 2
    fresh = HistoryTable()  # the same runs shown from scratch: the same texts
    qtbot.addWidget(fresh)
    fresh.set_runs([c, a])
    assert _texts(fresh) == _texts(h)
    events.clear()
    changed = dataclasses.replace(a, label="renamed")  # a row whose run is not the one shown: every row again
    h.set_runs([c, changed])
    assert events == [("reset",)] and _texts(h)[1][2] == "renamed"
    h.select_id(1, emit=False)
    assert h.selected_ids() == [1] and opened == [] and h.delete_btn.isEnabled()
    # the user's click on the top row, no key held (``selectRow`` would follow the application's last keyboard
    # modifiers: after a test that pressed Ctrl+Return it added the row to the selection instead of selecting it)
    from PySide6.QtTest import QTest

    h.show()
    QTest.mouseClick(h.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     h.table.visualRect(h.model.index(0, 0)).center())
    assert opened == [3]
    h.set_runs([])
    assert h.table.rowCount() == 0 and h.ids() == [] and not h.delete_btn.isEnabled()


def test_column_widths_measure_the_newest_rows_only(qtbot):
    """Column widths from the newest ``SIZE_ROWS`` runs: with 1,000 stored runs Qt's default measured 1,000 rows
    at the first paint (105-137 ms of the GUI thread). The model's name column still fits the newest long names."""
    from widgets.probe import history_table as ht

    h = ht.HistoryTable()
    qtbot.addWidget(h)
    asked = []
    real = ht.RunsModel.text
    runs = [_summary(i, "resnet20 (trained, a long name of a model)" if i == 999 else "s") for i in range(999, 0, -1)]
    h.set_runs(runs)
    h.model.text = lambda row, col: (asked.append(row), real(h.model, row, col))[1]
    h.resize(900, 300)
    h.show()
    qtbot.waitExposed(h)
    assert asked and max(asked) < ht.SIZE_ROWS + 5  # not every row: the newest ones (and what is visible)
    col = h.COLUMNS.index("Model")
    assert h.table.columnWidth(col) >= h.table.fontMetrics().horizontalAdvance(runs[0].label)


def test_the_comparison_reads_each_stored_run_once(qtbot, fe_home, monkeypatch):
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.models.spec import ModelSpec
    from app.tasks import run_to_end
    from widgets.probe.history_panel import HistoryPanel

    cfg = ProbeConfig(model=ModelSpec.make("simple", options={"widths": (4, 8), "in_channels": 1, "input_size": 8}),
                      dataset="digits", head="ridge", train_limit=200, test_limit=60, seed=0)
    record = run_to_end(run_probe(cfg)).to_dict()
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    first = panel.history.add(record)
    panel.history.add(dict(record, seeds={"model": 1, "split": 0, "head": 0}))
    loads = []
    real = panel.load
    monkeypatch.setattr(panel, "load", lambda i: (loads.append(i), real(i))[1])
    groups, rows = panel.comparison("digits")
    assert sorted(loads) == [first, first + 1] and len(rows) == 1
    loads.clear()
    again = panel.comparison("digits")
    assert loads == [] and again[1][0] == rows[0]  # read once: the same row
    third = panel.history.add(dict(record, seeds={"model": 2, "split": 0, "head": 0}))
    panel.comparison("digits")
    assert loads == [third]  # only the new run


def test_the_first_comparison_is_read_on_turns_of_its_own(qtbot, fe_home, monkeypatch):
    """The first comparison after start-up read every stored run's record in one go (1,000 runs: 125-390 ms of the
    GUI thread). It is read a slice per event-loop turn (here one run per turn), the comparison tab saying how many
    runs are left, and shown when done: the same rows as read at once. A refresh while one is reading replaces it."""
    from app.probe.history import History
    from tests.test_history import fake_result
    from widgets.application import make_app
    from widgets.probe import history_panel as hp

    from PySide6.QtCore import QSettings
    from app.session import Session
    from widgets.probe.workspace import ProbeWorkspace

    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        for seed in range(3):
            h.add(fake_result(label="simple (random)", state="random", top1=0.8 + seed / 100, seed=seed))
    monkeypatch.setattr(hp, "READ_BUDGET_S", -1.0)  # every run a turn of its own
    make_app()
    reading = []
    ws = ProbeWorkspace(Session(), QSettings(str(fe_home / "s.ini"), QSettings.Format.IniFormat), stepwise=True)
    qtbot.addWidget(ws)
    try:
        while not hasattr(ws, "compare"):  # the build, up to the comparison's view
            next(ws.build_steps)
        monkeypatch.setattr(ws.compare, "show_reading", lambda left, dataset="": reading.append(left))
        for _ in ws.build_steps:  # the rest of the build
            pass
        dataset = ws.dataset_name()
        assert reading == [] and ws.compare.rows == []  # not read in the build step
        qtbot.waitUntil(lambda: ws.turns.pending() == 0)
        assert reading == [3, 2, 1, 0] and len(ws.compare.rows) == 1 and ws.compare.rows[0].n_runs == 3
        assert ws.compare.rows == hp.HistoryPanel.comparison(ws.history_panel, dataset)[1]
        ws.history_panel._views.clear()
        reading.clear()
        ws.refresh_compare()
        ws.refresh_compare()  # replaces the first: its queued turn does nothing
        qtbot.waitUntil(lambda: ws.turns.pending() == 0)
        assert reading == [3, 3, 2, 1, 0] and len(ws.compare.rows) == 1
    finally:
        ws.shutdown()


def test_sort_by_a_column_and_filter_the_runs(qtbot):
    """A click on a column's header sorts the runs by it (again: the other way; ties newest first); typing in the
    filter box keeps the rows that contain the text, says how many of how many are shown, and the export buttons
    then save the runs shown when none is selected. Every stored run stays known (``ids``); back to newest first
    with no filter, a finished run is one row inserted again."""
    from PySide6.QtCore import QPoint

    from widgets.probe.history_table import HistoryTable

    h = HistoryTable()
    qtbot.addWidget(h)
    h.resize(900, 300)
    h.show()
    qtbot.waitExposed(h)
    runs = [_summary(4, "resnet20 (trained, CIFAR-10)"), _summary(3), _summary(2, "lenet5 (trained, MNIST)"),
            _summary(1)]
    runs[0] = dataclasses.replace(runs[0], top1=0.40)  # the newest run is the least accurate
    h.set_runs(runs)
    exported = []
    h.exportRequested.connect(lambda fmt, ids: exported.append(ids))
    hh = h.table.horizontalHeader()

    def click(col):
        x = hh.sectionViewportPosition(col) + hh.sectionSize(col) // 2
        qtbot.mouseClick(hh.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, hh.height() // 2))

    assert h.shown_ids() == [4, 3, 2, 1] and h.count.text() == "4 runs stored"
    top1 = h.COLUMNS.index("Top-1")
    click(top1)  # a number: highest first
    assert h.shown_ids() == [3, 2, 1, 4] and [h.text(r, top1) for r in range(4)] == ["53.0%", "52.0%", "51.0%",
                                                                                     "40.0%"]
    assert h.count.text() == "4 runs stored · by Top-1, highest first"
    click(top1)  # again: the other way
    assert h.shown_ids() == [4, 1, 2, 3] and h.count.text().endswith("by Top-1, lowest first")
    click(h.COLUMNS.index("Model"))  # text: A to Z, ties newest first
    assert h.shown_ids() == [2, 4, 3, 1] and h.count.text().endswith("by Model, A to Z")
    click(0)  # back to the run number: newest first
    assert h.shown_ids() == [4, 3, 2, 1] and h.model.plain() and h.count.text() == "4 runs stored"

    qtbot.keyClicks(h.filter, "TRAINED")
    assert h.shown_ids() == [4, 2] and h.count.text() == "2 of 4 runs shown" and h.ids() == [4, 3, 2, 1]
    qtbot.mouseClick(h.csv_btn, Qt.MouseButton.LeftButton)
    h.table.selectRow(1)
    qtbot.mouseClick(h.json_btn, Qt.MouseButton.LeftButton)
    assert exported == [[4, 2], [2]]
    h.set_runs([_summary(5, "resnet20 (trained, CIFAR-10)"), _summary(6)] + runs)  # runs ended while filtered
    assert h.shown_ids() == [5, 4, 2] and h.count.text() == "3 of 6 runs shown"
    h.filter.clear()
    assert h.count.text() == "6 runs stored" and h.shown_ids() == [5, 6, 4, 3, 2, 1]
    inserted = []
    h.model.rowsInserted.connect(lambda *a: inserted.append(a[1]))
    h.set_runs([_summary(7)] + h.model.stored)
    assert inserted == [0] and h.shown_ids()[0] == 7


def test_the_historys_order_is_remembered(qtbot, fe_home):
    """The order a header click chose comes back at the next launch; a broken remembered value gives newest first."""
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    ini = str(fe_home.parent / "remember.ini")

    def launch():
        ws = ProbeWorkspace(Session(), QSettings(ini, QSettings.Format.IniFormat))
        qtbot.addWidget(ws)
        return ws

    ws = launch()
    ws.history_table._on_header(ws.history_table.COLUMNS.index("Top-1"))  # as a click on its header
    ws.shutdown()
    again = launch()
    m = again.history_table.model
    assert (m.column, m.descending) == (6, True)
    again.history_table._on_header(6)
    again.shutdown()
    third = launch()
    assert (third.history_table.model.column, third.history_table.model.descending) == (6, False)
    third.shutdown()
    QSettings(ini, QSettings.Format.IniFormat).setValue("probe/history_sort", "99,sideways")
    fourth = launch()
    assert fourth.history_table.model.plain()
    fourth.shutdown()


def test_text_columns_sort_numbers_as_numbers():
    from widgets.probe.history_table import natural

    names = ["simple variant 10", "Simple variant 2", "simple variant 1", "resnet20 (trained, CIFAR-10)", "lenet5"]
    assert sorted(names, key=natural) == ["lenet5", "resnet20 (trained, CIFAR-10)", "simple variant 1",
                                          "Simple variant 2", "simple variant 10"]
