"""Probe workspace GUI (qtbot): the user's path with the real run_probe, failures, cancel on close, history."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QMessageBox, QSpinBox

pytestmark = pytest.mark.gui


@pytest.fixture
def make_ws(qtbot, fe_home, tmp_path):
    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    made = []
    ini = str(tmp_path / "settings.ini")

    def make(session=None):
        ws = ProbeWorkspace(session or Session(), QSettings(ini, QSettings.Format.IniFormat))
        qtbot.addWidget(ws)
        ws.resize(1400, 860)
        ws.show()
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.shutdown()


def choose_dataset(ws, name: str) -> None:
    """Pick a dataset the way a user does: in the dataset browser's combo box."""
    for combo in ws.browser.findChildren(QComboBox):
        i = combo.findData(name)  # the item's text may say more ("mnist (not downloaded)")
        if i < 0:
            i = combo.findText(name)
        if i >= 0:
            combo.setCurrentIndex(i)
            assert ws.dataset_name() == name
            return
    raise AssertionError(f"no combo offers {name!r}")


def set_subset(ws, n: int) -> None:
    try:
        ws.browser.subset_size = n
    except AttributeError:
        spins = ws.browser.findChildren(QSpinBox)
        spins[0].setValue(n)
    assert (ws.train_limit() or 0) == n


def click_check(qtbot, ws, label: str) -> None:
    tree = ws.models
    item = tree.item_for(label)
    assert item is not None, f"{label!r} is not in the model list: {tree.labels()}"
    before = item.checkState(0)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 10, rect.center().y()))
    assert item.checkState(0) != before, "clicking the check box did not toggle it"


def uncheck_all(qtbot, ws) -> None:
    for label in ws.models.checked_labels():
        click_check(qtbot, ws, label)


def press(qtbot, ws, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press in the workspace's active window (shortcuts need an active window and focus inside)."""
    ws.activateWindow()
    qtbot.waitUntil(ws.isActiveWindow, timeout=5000)
    ws.models.setFocus()
    qtbot.keyClick(ws.models, key, modifier)


def trained_label(ws) -> str:
    for label in ("lenet5 (trained, MNIST)", "simple (trained, MNIST)"):
        if label in ws.models.labels():
            return label
    pytest.skip("no MNIST-trained model here (resources/models or ../shared/weights)")


@pytest.mark.slow
def test_train_random_and_trained_on_digits(qtbot, make_ws):
    """The issue's path: digits, a random and a trained backbone, Train, curves, two bars above chance."""
    ws = make_ws()
    assert "Pick models and press Train" in ws.curves.hint.text()
    choose_dataset(ws, "digits")
    set_subset(ws, 400)
    uncheck_all(qtbot, ws)
    trained = trained_label(ws)
    click_check(qtbot, ws, "simple (random)")
    click_check(qtbot, ws, trained)
    ws.probe_settings.editor("logistic", "epochs").setValue(10)
    ws.probe_settings.test_limit.setValue(200)
    with qtbot.waitSignal(ws.batchDone, timeout=120_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert ws.cancel_btn.isEnabled() and not ws.train_btn.isEnabled()
    assert not ws.banner.isVisible(), ws.banner.text()
    # the comparison: two rows and two bars, both above chance (10 classes)
    assert ws.tabs.currentWidget() is ws.compare
    assert ws.compare.table.rowCount() == 2
    labels = {ws.compare.table.item(r, 0).text() for r in range(2)}
    assert labels == {"simple (random)", trained}
    widths = list(ws.compare.bars.opts["width"])
    assert len(widths) == 2 and all(w > 0.3 for w in widths), widths
    assert all(g.top1_mean > g.chance for g in ws.compare.groups)
    # the accuracy axis is labelled up to 100%, with room for that label (a 99% bar no longer passes the last one)
    major = ws.compare.chart.getAxis("bottom")._tickLevels[0]
    assert major[-1] == (1.0, "100%") and ws.compare.chart.viewRange()[0][1] >= 1.04
    # history: two stored rows; curves: points from both runs
    assert ws.history_table.table.rowCount() == 2
    assert len(ws.history.list()) == 2
    assert ws.curves.point_count() > 0 and len(ws.curves.series) == 2
    assert all(s["loss"].n > 0 and s["val"].n > 0 for s in ws.curves.series.values())
    # under the curves: each run whose sweep selected a value after the first, and where its fit started
    runs = [ws.history_panel.load(r.id) for r in ws.history.list()]
    notes = [f"{r.label}: {r.curve_text()}" for r in runs if r.curve_text()]
    assert all(n in ws.curves.caption.toolTip() for n in notes)
    assert (ws.curves.caption.text() == " ") == (not notes)
    # the two curve plots are painted on turns of their own (widgets.common.turns.Stagger): none is left held
    qtbot.waitUntil(lambda: ws.curves._stagger.held() == 0, timeout=2_000)
    assert ws.curves.loss_plot.updatesEnabled() and ws.curves.acc_plot.updatesEnabled()
    assert ws.stage.text().startswith("Done: 2 runs finished")
    # the last run's results and its misclassified gallery are on show
    qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=20_000)
    assert ws.results.run is not None and "top-1" in ws.results.header.text()
    assert ws.results.gallery_image.image is not None or "no misclassified" in ws.results.gallery_note.text()


def test_failing_run_shows_message_and_workspace_keeps_working(qtbot, make_ws, tmp_path):
    from app.data.formats import IDX_STEMS

    ws = make_ws()
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "simple (random)")
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("ridge"))
    # a damaged MNIST (a missing one cannot be started: Train is off, tests/test_probe_download_gui.py)
    raw = tmp_path / "damaged-data-root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in IDX_STEMS:
        (raw / stem).write_bytes(b"not an IDX file")
    choose_dataset(ws, "mnist")
    ws.browser.data_root = str(tmp_path / "damaged-data-root")
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        press(qtbot, ws, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter
    assert ws.banner.isVisible()
    assert "failed" in ws.banner.text() and "mnist" in ws.banner.text().lower()
    assert "train-images-idx3-ubyte" in ws.banner.text()  # the damaged file
    assert ws.history_table.table.rowCount() == 0 and ws.train_btn.isEnabled()
    # still works: the same model on digits
    ws.browser.data_root = None
    choose_dataset(ws, "digits")
    set_subset(ws, 300)
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    assert not ws.banner.isVisible()
    assert ws.history_table.table.rowCount() == 1 and ws.compare.table.rowCount() == 1


def test_closing_during_a_run_cancels_and_joins(qtbot, make_ws):
    ws = make_ws()
    choose_dataset(ws, "digits")
    set_subset(ws, 0)
    ws.probe_settings.editor("logistic", "epochs").setValue(2000)
    seen = []
    ws.curves.series.clear()
    qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    worker = ws.queue.worker
    assert worker is not None and worker.is_running()
    worker.progress.connect(seen.append)
    qtbot.waitUntil(lambda: bool(seen), timeout=30_000)
    ws.shutdown()
    assert not worker.is_running() and not worker._thread.isRunning()
    assert ws.pool.running() == []


def test_escape_cancels_and_keeps_finished_runs(qtbot, make_ws, monkeypatch):
    """Two runs: the first finishes and is stored; the second blocks (by construction, until cancelled) and Esc
    cancels it. No race: Esc is pressed only once the second run is known to be waiting."""
    import threading
    import time

    from app.probe import run as run_mod
    from app.tasks import Progress, check

    real = run_mod.run_probe
    calls = []
    waiting = threading.Event()

    def run_probe(cfg, cancel=None):
        calls.append(cfg.model.label)
        if len(calls) == 1:
            return (yield from real(cfg, cancel=cancel))
        waiting.set()
        while True:  # a run that only ends when cancelled
            check(cancel)
            yield Progress(0, None, "waiting for Esc")
            time.sleep(0.01)

    monkeypatch.setattr(run_mod, "run_probe", run_probe)
    ws = make_ws()
    choose_dataset(ws, "digits")
    set_subset(ws, 200)
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "rdsn (random)")
    click_check(qtbot, ws, "simple (random)")
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("ridge"))
    ws.probe_settings.test_limit.setValue(100)
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert ws.cancel_btn.isEnabled()
        qtbot.waitUntil(waiting.is_set, timeout=60_000)
        press(qtbot, ws, Qt.Key.Key_Escape)
    assert calls == ["rdsn (random)", "simple (random)"]
    assert ws.stage.text().startswith("Cancelled")
    assert ws.train_btn.isEnabled() and not ws.cancel_btn.isEnabled()
    runs = ws.history.list()  # the finished run was kept, the cancelled one not stored
    assert [r.label for r in runs] == ["rdsn (random)"]
    assert ws.history_table.ids() == [runs[0].id]


def _stored_run(dataset="digits", label="simple (random)", top1=0.75):
    from tests.test_history import fake_result

    d = fake_result(label=label, top1=top1, dataset=dataset)
    d["config"]["test_limit"] = 100
    d["misclassified"] = [1, 5, 9]
    d["mis_predicted"] = [0, 0, 0]
    return d


def test_history_reopen_delete_export(qtbot, make_ws, fe_home, tmp_path, monkeypatch):
    from app.probe.history import History

    head_file = tmp_path / "head.safetensors"
    head_file.write_bytes(b"a head")  # only its existence matters here: "Use in Live" is offered for the run
    with History(fe_home / "history.sqlite") as h:
        a = h.add(_stored_run(top1=0.5))
        run_b = _stored_run(label="lenet5 (trained, MNIST)", top1=0.9)
        run_b.setdefault("settings", {})["head_file"] = str(head_file)
        b = h.add(run_b)
    ws = make_ws()
    choose_dataset(ws, "digits")
    assert ws.history_table.ids() == [b, a]
    qtbot.waitUntil(lambda: ws.compare.table.rowCount() == 2)  # previous runs are compared at launch (next turn)
    ws.history_table.table.selectRow(1)  # run a
    assert ws.results.run.run_id == a and "simple (random)" in ws.results.header.text()
    assert "50.0%" in ws.results.header.text()
    qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=20_000)
    assert len(ws.results.captions.texts()) == 3, ws.results.gallery_note.text()
    # export all as CSV and the selection as JSON (file dialogs answered)
    out = tmp_path / "runs.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    ws.history_table.table.clearSelection()
    qtbot.mouseClick(ws.history_table.csv_btn, Qt.MouseButton.LeftButton)
    assert len(list(csv.DictReader(open(out, encoding="utf-8")))) == 2
    ws.history_table.table.selectRow(0)
    out = tmp_path / "one.json"
    qtbot.mouseClick(ws.history_table.json_btn, Qt.MouseButton.LeftButton)
    assert [r["id"] for r in json.loads(out.read_text())["runs"]] == [b]
    # a filter and nothing selected: the runs shown
    said = []
    ws.history_panel.message.connect(lambda text, level: said.append(text))
    ws.history_table.table.clearSelection()
    qtbot.keyClicks(ws.history_table.filter, "lenet")
    out = tmp_path / "shown.csv"
    qtbot.mouseClick(ws.history_table.csv_btn, Qt.MouseButton.LeftButton)
    assert [int(r["id"]) for r in csv.DictReader(open(out, encoding="utf-8"))] == [b]
    assert said[-1] == f"Exported the 1 run shown to {out}"
    ws.history_table.filter.clear()
    ws.history_table.table.selectRow(0)
    assert ws.results.run.run_id == b and ws.run_panel.live_btn.isEnabled()
    # delete asks first: "No" keeps the run, "Yes" deletes it
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    qtbot.mouseClick(ws.history_table.delete_btn, Qt.MouseButton.LeftButton)
    assert asked and ws.history_table.ids() == [b, a]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(ws.history_table.delete_btn, Qt.MouseButton.LeftButton)
    assert ws.history_table.ids() == [a] and ws.compare.table.rowCount() == 1
    assert not ws.run_panel.live_btn.isEnabled() and ws.live_head is None  # not the deleted run's head


def test_corrupt_history_is_kept_aside_with_a_message(qtbot, make_ws, fe_home):
    fe_home.mkdir(parents=True, exist_ok=True)
    (fe_home / "history.sqlite").write_bytes(b"garbage" * 500)
    ws = make_ws()
    assert ws.banner.isVisible() and "was kept as" in ws.banner.text()
    assert [p for p in fe_home.iterdir() if "unreadable" in p.name]
    assert ws.history is not None and ws.history_table.ids() == []


def test_settings_and_session_models_are_remembered(qtbot, make_ws):
    from app.models.spec import ModelSpec
    from app.session import Session

    session = Session()
    ws = make_ws(session)
    session.put_model("my net", ModelSpec.make("simple", label="my net", weight_state="hand-designed"))
    assert "my net" in ws.models.labels()
    item = ws.models.item_for("my net")
    assert item.text(1) == "hand-designed"
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "rdsn (random)")
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("knn"))
    ws.probe_settings.editor("knn", "k").setValue(7)
    ws.probe_settings.seeds.setValue(3)
    choose_dataset(ws, "digits")
    ws.shutdown()
    again = make_ws()
    assert again.models.checked_labels() == ["rdsn (random)"]
    assert again.probe_settings.head_name() == "knn"
    assert again.probe_settings.head_options() == {"k": 7}
    assert again.probe_settings.seeds.value() == 3
    assert again.dataset_name() == "digits"


def _digits_checkpoint(tmp_path):
    """A ``simple`` classifier whose sidecar says it was trained on digits (its weights need not be good)."""
    import torch

    from app.models import create
    from app.models.spec import ModelSpec
    from app.models.weights import save_checkpoint

    spec = ModelSpec.make("simple", options={"in_channels": 1, "num_classes": 10})
    torch.manual_seed(0)
    st, _ = save_checkpoint(create("simple", **spec.kwargs), tmp_path / "simple_digits", spec, dataset="digits")
    return ModelSpec.make("simple", label="simple (trained, digits)", options=dict(spec.options),
                          init="checkpoint", weights=str(st), weight_state="trained")


def test_add_trained_baseline(qtbot, make_ws, tmp_path):
    """The fully trained reference: a trained model's own classifier, stored and compared like a probe, and only
    on the dataset it was trained on."""
    from app.session import Session

    session = Session()
    ws = make_ws(session)
    session.put_model("simple (trained, digits)", _digits_checkpoint(tmp_path))
    choose_dataset(ws, "digits")
    uncheck_all(qtbot, ws)
    assert not ws.baseline_btn.isEnabled()  # needs a checked trained model
    # an MNIST classifier is refused on digits, with the reason, and nothing runs
    click_check(qtbot, ws, "simple (trained, MNIST)")
    qtbot.mouseClick(ws.baseline_btn, Qt.MouseButton.LeftButton)
    assert not ws.is_running() and ws.history.list() == []
    assert ws.banner.isVisible() and "trained on mnist" in ws.banner.text() and "digits" in ws.banner.text()
    click_check(qtbot, ws, "simple (trained, MNIST)")
    click_check(qtbot, ws, "simple (trained, digits)")
    ws.probe_settings.test_limit.setValue(150)
    assert ws.baseline_btn.isEnabled()
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.baseline_btn, Qt.MouseButton.LeftButton)
    assert not ws.banner.isVisible(), ws.banner.text()
    runs = ws.history.list()
    assert len(runs) == 1 and runs[0].head == "own" and runs[0].n_test == 150
    assert runs[0].label == "simple (trained, digits)"
    assert ws.compare.table.rowCount() == 1 and ws.compare.cell(0, "Head") == "own classifier"
    assert "its own trained classifier" in ws.results.header.text()


def test_several_seeds_give_mean_and_std(qtbot, make_ws):
    ws = make_ws()
    choose_dataset(ws, "digits")
    set_subset(ws, 200)
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "simple (random)")
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("ridge"))
    ws.probe_settings.test_limit.setValue(150)
    ws.probe_settings.seeds.setValue(2)
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    assert not ws.banner.isVisible(), ws.banner.text()
    runs = ws.history.list()
    assert sorted(r.seed for r in runs) == [0, 1]
    (group,) = ws.compare.groups
    assert group.n_runs == 2 and ws.compare.cell(0, "Runs") == "2"
    assert "±" in ws.compare.cell(0, "Test top-1")
    if group.top1_std > 0:  # two seeds with the same accuracy are possible; then there is no error bar to draw
        assert ws.compare.error_bars is not None
    assert ws.compare.cell(0, "Test n") == "150"
    # the same model on a smaller test subset: a setting, so a group of its own, not a third "seed"
    ws.probe_settings.test_limit.setValue(100)
    ws.probe_settings.seeds.setValue(1)
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    assert [g.n_runs for g in ws.compare.groups] == [2, 1]
    assert [ws.compare.cell(i, "Test n") for i in range(2)] == ["150", "100"]
    # the same run again with its seed (a reproducibility check): a second run of its group, not a second seed
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
    assert [g.n_runs for g in ws.compare.groups] == [2, 2]
    # ... and the table says whether the rerun reproduced its seed's run, image by image (app.probe.paired)
    assert ws.compare.cell(1, "Runs") == "2 (1 distinct seed; reproduced)" and ws.compare.cell(0, "Runs") == "2"
    tip = ws.compare.table.item(1, ws.compare.column("Runs")).toolTip().split("\n")
    first, again = ws.compare.groups[1].ids
    assert tip[1].startswith(f"Run {again}, against run {first}") and "reproduced (the same selection" in tip[1]
    assert ws.compare._tips[1].endswith("\n2 runs, 1 distinct seed (reproduced)")  # the bar under the mouse
    assert "±" not in ws.compare.cell(1, "Test top-1") and "±" in ws.compare.cell(0, "Test top-1")  # as the bars
    import pyqtgraph as pg

    labels = [t.toPlainText() for t in ws.compare._items if isinstance(t, pg.TextItem)]  # the bars' own, in order
    assert len(labels) == 2 and "±" in labels[0] and "±" not in labels[1]  # no spread claimed for one seed


def test_the_dataset_count_is_not_clipped_at_the_default_size(make_ws, qtbot):
    """In the workspace at its default size, "of 1,347 training images" shows whole (it was cut to "training im")."""
    ws = make_ws()
    b = ws.browser
    qtbot.waitUntil(lambda: "1,347" in b.of_label.text(), timeout=20000)
    qtbot.wait(50)
    label = b.of_label
    assert label.width() >= label.fontMetrics().horizontalAdvance(label.text()), (label.width(), label.text())


def test_the_compare_bars_name_the_layer_as_the_table_does_and_read_in_percent(qtbot):
    """The bars said "layer 2" beside a table that said "conv3" (the same tap), over an axis in fractions (0.2 ...
    0.8) under labels in percent; now the bar names the tapped layer as the runs recorded it and the axis reads %."""
    from app.probe.compare import GroupStat
    from widgets.probe.compare import CompareView
    from widgets.probe.model import CompareRow

    def group(label, state, top1, layer=2):
        return GroupStat(key=(label,), label=label, weight_state=state, dataset="digits", head="logistic",
                         layer=layer, pooling="grid2", n_train=1078, n_runs=1, top1_mean=top1, top1_std=0.0,
                         top5_mean=None, ids=(1,), chance=0.1, backbone="simple", n_features=256)

    def row(label, state, layer_text):
        return CompareRow(label=label, weight_state=state, backbone="simple", weights="none", layer=layer_text,
                          pooling="grid2", n_features="256", head="logistic", hyper="weight_decay=1e-05",
                          n_train="1078", n_runs=1, val="95.0%", test="95.1%", seeds="model 0")

    view = CompareView()
    qtbot.addWidget(view)
    view.set_groups([group("simple (random)", "random", 0.951), group("old run", "random", 0.9)],
                    [row("simple (random)", "random", "conv3"), row("old run", "random", "not recorded")], "digits")
    names = [t for _, t in view.chart.getAxis("left")._tickLevels[0]]
    assert names[0].startswith("simple (random) [conv3, grid2") and "layer 2" not in names[0]
    assert "layer 2" in names[1]  # a run that did not record its layer's name keeps the index
    assert view.table.item(0, view.COLUMNS.index("Layer")).text() == "conv3"
    assert view.chart.getAxis("bottom").tickStrings([0.2, 0.5, 1.0], 1, 0.1) == ["20%", "50%", "100%"]


def test_the_mouse_over_a_compare_bar_says_its_whole_name_and_figures(qtbot):
    """A bar's name is cut on the axis to a share of the chart's width; the mouse over the bar or its name says the
    whole name, test (and validation) top-1 with the spread over seeds and how many runs and seeds it averages."""
    from PySide6.QtCore import QPointF

    from app.probe.compare import GroupStat
    from widgets.probe.compare import CompareView
    from widgets.probe.model import CompareRow

    long = "my own network trained on digits with a long name (seed 3)"
    groups = [GroupStat(key=(long,), label=long, weight_state="trained", dataset="digits", head="logistic", layer=1,
                        pooling="grid2", n_train=1078, n_runs=2, top1_mean=0.9512, top1_std=0.0042, top5_mean=None,
                        ids=(1, 2), chance=0.1, val_mean=0.94, val_std=0.01, seeds=((0, 0, 0), (1, 0, 0)), n_val=2),
              GroupStat(key=("b",), label="b", weight_state="random", dataset="digits", head="logistic", layer=1,
                        pooling="grid2", n_train=1078, n_runs=1, top1_mean=0.5, top1_std=0.0, top5_mean=None,
                        ids=(3,), chance=0.1)]
    rows = [CompareRow(label=g.label, weight_state=g.weight_state, backbone="simple", weights="none", layer="conv1",
                       pooling="grid2", n_features="256", head="logistic", hyper="weight_decay=1e-05",
                       n_train="1078", n_runs=g.n_runs, val="-", test="-", seeds="-") for g in groups]
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    view.set_groups(groups, rows, "digits")
    qtbot.wait(20)
    vb = view.chart.getViewBox()
    names = [t for _, t in view.chart.getAxis("left")._tickLevels[0]]
    assert names[0].endswith("…") and view._titles[0].startswith(names[0][:-1])
    assert view.chart.fontMetrics().horizontalAdvance(names[0]) <= view.name_room() < 700 / 2
    view._hover(vb.mapViewToScene(QPointF(0.4, 0.0)))  # over the first bar
    tip = view.chart.toolTip().split("\n")
    assert tip[0].startswith(long) and tip[1:] == ["test top-1 95.12% ± 0.42", "validation top-1 94.00% ± 1.00",
                                                  "2 runs, 2 distinct seeds"]
    view._hover(vb.mapViewToScene(QPointF(0.2, 1.0)))  # the second: one run, no spread, no validation recorded
    assert view.chart.toolTip().split("\n")[1:] == ["test top-1 50.00%", "1 run, 1 distinct seed"]
    view._hover(vb.mapViewToScene(QPointF(0.2, 0.5)))  # between the rows: nothing
    assert view.chart.toolTip() == ""


def test_a_short_window_scrolls_the_middle_column_instead_of_squeezing_its_rows(qtbot, make_ws):
    """At 1280x660 (a laptop screen's room) the Linear probe form's rows were squeezed into each other ("Weight decay"
    cut, "Max iterations" over it); the column now scrolls and every row keeps its height; wide and tall, no bar."""
    ws = make_ws()
    qtbot.waitUntil(lambda: ws.probe_settings.isVisible(), timeout=10_000)
    ws.resize(1280, 660)
    qtbot.wait(50)
    ed = ws.probe_settings.editor("logistic", "epochs")
    rows = [ed, ws.probe_settings.head, ws.probe_settings.seeds]
    assert all(w.height() >= w.minimumSizeHint().height() for w in rows), [(w.height(), w.minimumSizeHint()) for w in rows]
    assert ws.middle_scroll.verticalScrollBar().maximum() > 0  # the rest of the column is a scroll away
    assert ws.middle_scroll.widget().width() >= ws.middle_scroll.widget().minimumSizeHint().width()  # nothing cut
    ws.resize(1400, 1000)
    qtbot.wait(50)
    assert ws.middle_scroll.verticalScrollBar().maximum() == 0


def test_a_presets_layer_comes_back_after_a_restart(qtbot, make_ws):
    """The layer was saved as its place in the list: a preset's "layer 1" (an item the preset adds) came back as
    "default", and the next run used the backbone's default layer, recorded as the user's override of the preset."""
    ws = make_ws()
    choose_dataset(ws, "digits")
    ps = ws.probe_settings
    ps.preset.setCurrentIndex(ps.preset.findData("random-mnist"))
    assert ps.layer_value() == 1 and ps.layer.currentText() == "layer 1"
    jobs = ws._configs()
    assert jobs and all(j.config.layer == 1 and j.config.preset_overrides == () for j in jobs)
    ws._save_settings()
    ws.shutdown()
    again = make_ws()
    ps = again.probe_settings
    assert ps.preset_name() == "random-mnist" and ps.layer_value() == 1 and ps.layer.currentText() == "layer 1"
    assert all(j.config.layer == 1 and j.config.preset_overrides == () for j in again._configs())
    ps.layer.setCurrentIndex(ps.layer.findData(-2))  # a built-in item: by value too
    again._save_settings()
    again.shutdown()
    assert make_ws().probe_settings.layer_value() == -2


def test_batch_done_comes_after_the_comparison_is_read(qtbot, make_ws, monkeypatch):
    """On a busy machine the comparison reads the stored runs over several turns (its ~20 ms a turn ran out): the
    batch's end was announced before the comparison showed the new run (CI, two runs side by side: one group where
    the test expected two). The batch now ends after it. A read budget of zero makes every run a turn of its own."""
    import widgets.probe.history_panel as hp

    monkeypatch.setattr(hp, "READ_BUDGET_S", 0.0)
    test_several_seeds_give_mean_and_std(qtbot, make_ws)
