"""Audit 32 of the Probe workspace, as a user meets it (digits, a few hundred images, ridge heads):

1. a run's feature projection or gallery, asked for before another run of the batch finished, came afterwards under
   that other run's header (the projector showed run 1's PCA below run 2's results);
2. during a batch's last run Cancel was off while Train and Rerun looked on;
3. the gallery said "loading the misclassified examples…" for ever after a cancelled batch (or a run that could not
   be stored), and a finished run's gallery stayed empty until the whole batch ended;
5. the history's Model column kept its width when a run with a longer name was inserted ("simpl…ndom)").

(4, the confusion thumbnail's title at 1280 px: ``test_probe_confusion_title27``.)

The runs are held where the test needs them by gates in the patched tasks (events the test sets), never by sleeps.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt

from test_probe_gui import choose_dataset, click_check, make_ws, set_subset, uncheck_all  # noqa: F401

pytestmark = pytest.mark.gui

MODELS = ("rdsn (random)", "simple (random)", "resnet20 (random)")


def gated_runs(monkeypatch, gates: dict[int, threading.Event]) -> list[str]:
    """``run_probe`` patched: the n-th run (1-based) waits for ``gates[n]`` (cancellable) before it runs; returns the
    labels of the runs started."""
    from app.probe import run as run_mod
    from app.tasks import Progress, check

    real = run_mod.run_probe
    started: list[str] = []

    def run_probe(cfg, cancel=None):
        started.append(cfg.model.label)
        gate = gates.get(len(started))
        while gate is not None and not gate.is_set():
            check(cancel)
            yield Progress(0, None, "waiting for the test")
            time.sleep(0.005)
        return (yield from real(cfg, cancel=cancel))

    monkeypatch.setattr(run_mod, "run_probe", run_probe)
    return started


def start_batch(qtbot, ws, models, size=(1280, 720)) -> None:
    """digits, 200 training images, 100 test images, a ridge head, ``models`` checked; Train clicked."""
    ws.resize(*size)
    choose_dataset(ws, "digits")
    set_subset(ws, 200)
    uncheck_all(qtbot, ws)
    for label in models:
        click_check(qtbot, ws, label)
    ws.probe_settings.head.setCurrentIndex(ws.probe_settings.head.findData("ridge"))
    ws.probe_settings.test_limit.setValue(100)
    qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)


def shown_note(run) -> str:
    """The start of the gallery's note when ``run``'s misclassified examples are shown."""
    n = run.n_misclassified
    return "the 1 misclassified test example shown" if n == 1 else f"{min(40, n)} of {n} misclassified test examples"


def loading_honest(ws) -> bool:
    """The gallery's note says "loading" only while a gallery is being made."""
    return "loading" not in ws.results.gallery_note.text() or ws.gallery.busy()


# --- 1 ----------------------------------------------------------------------------------------------------------
def test_a_runs_projection_and_gallery_never_show_under_another_runs_results(qtbot, make_ws, monkeypatch):  # noqa: F811
    """Run 1 selected in the history, its gallery and its projection asked for; run 2 finishes meanwhile and the
    results show it. Run 1's pictures, when they come, are dropped: the projector shows nothing and is not busy (it
    showed run 1's PCA under run 2's header), the gallery shows run 2's examples (it showed run 1's); projecting
    again projects run 2's features."""
    from app.analysis import projector_jobs as jobs
    from app.probe import gallery as gallery_mod

    gates = {2: threading.Event(), 3: threading.Event()}
    gated_runs(monkeypatch, gates)
    real_project, real_gallery = jobs.projector_job, gallery_mod.misclassified_gallery
    release = threading.Event()  # run 1's projection and gallery, once asked for again, wait for it
    hold: list[int] = []  # the run whose pictures are held
    held: list[int] = []

    def projector_job(stored, method="pca", cancel=None):
        out = yield from real_project(stored, method, cancel=cancel)
        if stored.get("id") in hold:
            held.append(stored["id"])
            release.wait(30)
        return out

    def misclassified_gallery(run, limit=40, cols=10, cancel=None):
        if run.get("id") not in hold:
            return (yield from real_gallery(run, limit=limit, cols=cols, cancel=cancel))
        out = yield from real_gallery(run, limit=1, cols=cols, cancel=cancel)  # "1 of N": told from run 2's
        held.append(run["id"])
        release.wait(30)
        return out

    monkeypatch.setattr(jobs, "projector_job", projector_job)
    monkeypatch.setattr(gallery_mod, "misclassified_gallery", misclassified_gallery)
    ws = make_ws()
    start_batch(qtbot, ws, MODELS)
    try:
        qtbot.waitUntil(lambda: ws.history_table.table.rowCount() == 1, timeout=60_000)
        qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=30_000)
        rid1 = ws.history_table.ids()[0]
        hold.append(rid1)
        ws.history_table.table.selectRow(0)  # run 1 opened again: its gallery is asked for (and held)
        run1 = ws.results.run
        assert run1.run_id == rid1
        ws.results.lower.setCurrentIndex(1)
        qtbot.mouseClick(ws.results.projector.run_btn, Qt.MouseButton.LeftButton)
        assert ws.gallery.busy()
        stale = [w for w in (ws.gallery.worker, ws.gallery.projector_worker) if w is not None]
        assert len(stale) == 2
        qtbot.waitUntil(lambda: sorted(held) == [rid1, rid1], timeout=30_000)  # both made, both held
        gates[2].set()
        qtbot.waitUntil(lambda: ws.results.run is not None and ws.results.run.run_id not in (None, rid1),
                        timeout=60_000)
        run2 = ws.results.run
        assert run2.label == MODELS[1] and run2.label in ws.results.header.text()
        assert ws.results.projector.status.text() == ""  # not "projecting…" for run 1 under run 2's header
        with qtbot.waitSignals([w.done for w in stale], timeout=30_000):
            release.set()
        qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=30_000)  # run 2's gallery
        proj = ws.results.projector
        assert ws.results.run is run2
        assert proj.data is None and not proj.scatter.points().size and proj.status.text() == "", \
            proj.status.text()
        assert ws.results.gallery_note.text().startswith(shown_note(run2)), ws.results.gallery_note.text()
        assert len(ws.results.captions.texts()) == min(40, run2.n_misclassified)
        # projecting now projects the run shown
        qtbot.mouseClick(proj.run_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: proj.data is not None, timeout=30_000)
        assert f"{run2.n_features:,} features" in proj.status.text(), proj.status.text()
    finally:
        release.set()
        with qtbot.waitSignal(ws.batchDone, timeout=60_000):
            ws.cancel()
            gates[3].set()


# --- 2 ----------------------------------------------------------------------------------------------------------
def test_cancel_is_on_and_train_and_rerun_off_during_a_batchs_last_run(qtbot, make_ws, monkeypatch):  # noqa: F811
    """Two models: while the second, last, run runs, Cancel is on and Train, the baseline and Rerun (a stored run
    selected) are off; Cancel stops it."""
    gate = threading.Event()
    started = gated_runs(monkeypatch, {2: gate})
    ws = make_ws()
    start_batch(qtbot, ws, MODELS[:2])
    try:
        assert ws.cancel_btn.isEnabled() and not ws.train_btn.isEnabled()  # the first run
        qtbot.waitUntil(lambda: len(started) == 2, timeout=60_000)
        qtbot.waitUntil(lambda: ws.history_table.table.rowCount() == 1, timeout=30_000)
        assert ws.queue.is_running()
        ws.history_table.table.selectRow(0)
        assert ws.history_table.selected_ids() == ws.history_table.ids()
        assert ws.cancel_btn.isEnabled(), "Cancel is off during the batch's last run"
        assert not ws.train_btn.isEnabled() and not ws.baseline_btn.isEnabled()
        assert not ws.history_table.rerun_btn.isEnabled()
        with qtbot.waitSignal(ws.batchDone, timeout=30_000):
            qtbot.mouseClick(ws.cancel_btn, Qt.MouseButton.LeftButton)
        assert ws.stage.text().startswith("Cancelled")
        assert ws.train_btn.isEnabled() and not ws.cancel_btn.isEnabled() and ws.history_table.rerun_btn.isEnabled()
    finally:
        gate.set()
        if ws.queue.is_running():
            with qtbot.waitSignal(ws.batchDone, timeout=60_000):
                ws.cancel()


# --- 3 ----------------------------------------------------------------------------------------------------------
def test_a_finished_runs_gallery_comes_during_the_batch_and_after_a_cancel(qtbot, make_ws, monkeypatch):  # noqa: F811
    """Two models, the second held: the first run's gallery is on show while the second runs (it said "loading…"
    until the batch's end); Cancel: the first run is selected in the history, its gallery still on show, and the
    note never says "loading" when nothing loads (it said so for ever)."""
    gate = threading.Event()
    started = gated_runs(monkeypatch, {2: gate})
    ws = make_ws()
    start_batch(qtbot, ws, MODELS[:2])
    try:
        qtbot.waitUntil(lambda: len(started) == 2, timeout=60_000)
        run1 = ws.results.run
        assert run1 is not None and run1.label == MODELS[0] and run1.run_id is not None
        assert loading_honest(ws)
        qtbot.waitUntil(lambda: ws.results.gallery_note.text().startswith(shown_note(run1)), timeout=15_000)
        assert len(ws.results.captions.texts()) == min(40, run1.n_misclassified)
        assert ws.queue.is_running()  # during the batch
        with qtbot.waitSignal(ws.batchDone, timeout=30_000):
            ws.tabs.setCurrentWidget(ws.results)
            qtbot.mouseClick(ws.cancel_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=15_000)
        assert ws.stage.text().startswith("Cancelled")
        assert ws.history_table.selected_ids() == [run1.run_id]  # as at a batch's normal end
        assert ws.results.run.run_id == run1.run_id
        assert ws.results.gallery_note.text().startswith(shown_note(run1)), ws.results.gallery_note.text()
        assert loading_honest(ws)
    finally:
        gate.set()
        if ws.queue.is_running():
            with qtbot.waitSignal(ws.batchDone, timeout=60_000):
                ws.cancel()


def test_an_unstored_runs_gallery_is_shown(qtbot, make_ws, monkeypatch):  # noqa: F811
    """A run that finished but could not be stored: its results and its gallery are on show (the gallery said
    "loading the misclassified examples…" for ever), the banner says why it is not in the history."""
    from app.errors import AppError
    from widgets.probe import runner

    def record(*_a, **_k):
        raise AppError("the history is read-only (test)")

    monkeypatch.setattr(runner, "record", record)
    ws = make_ws()
    with qtbot.waitSignal(ws.batchDone, timeout=60_000):
        start_batch(qtbot, ws, MODELS[1:2])
    qtbot.waitUntil(lambda: not ws.gallery.busy(), timeout=15_000)
    run = ws.results.run
    assert run is not None and run.run_id is None and run.label == MODELS[1]
    assert "could not be stored" in ws.banner.text()
    assert ws.history_table.table.rowCount() == 0
    assert ws.results.gallery_note.text().startswith(shown_note(run)), ws.results.gallery_note.text()
    assert loading_honest(ws)


# --- 5 ----------------------------------------------------------------------------------------------------------
def test_the_model_column_fits_its_longest_name_after_a_run_is_inserted(qtbot):
    """The history shows "rdsn (random)"; a run of "simple (random)" ends and is inserted on top: the Model column
    widens to show both names whole (it read "simpl…ndom)"), the last column still takes the rest; a deleted run
    narrows it again."""
    from PySide6.QtWidgets import QStyle

    from test_probe_history_refresh import _summary
    from widgets.probe.history_table import HistoryTable

    h = HistoryTable()
    qtbot.addWidget(h)
    h.resize(1100, 260)
    h.show()
    qtbot.waitExposed(h)
    table = h.table
    col = h.COLUMNS.index("Model")
    margin = 2 * (table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1)
    fm = table.fontMetrics()

    def drawn(row: int) -> str:  # the text as the delegate draws it in its column's width
        return fm.elidedText(h.text(row, col), Qt.TextElideMode.ElideMiddle, table.columnWidth(col) - margin)

    def fills() -> bool:  # the last column reaches the table's right edge
        hh = table.horizontalHeader()
        return hh.sectionViewportPosition(hh.count() - 1) + hh.sectionSize(hh.count() - 1) == \
            table.viewport().width()

    first, second = _summary(1, "rdsn (random)"), _summary(2, "simple (random)")
    h.set_runs([first])
    qtbot.wait(20)
    assert drawn(0) == "rdsn (random)" and fills()
    h.set_runs([second, first], select=2)  # a run finished: its row inserted on top
    qtbot.wait(20)
    assert [drawn(r) for r in range(2)] == ["simple (random)", "rdsn (random)"], table.columnWidth(col)
    assert fills()
    wide = table.columnWidth(col)
    longer = _summary(3, "resnet20 (trained, CIFAR-10)")
    h.set_runs([longer, second, first])
    qtbot.wait(20)
    assert drawn(0) == "resnet20 (trained, CIFAR-10)" and table.columnWidth(col) > wide and fills()
    h.set_runs([second, first])  # the longest deleted
    qtbot.wait(20)
    assert table.columnWidth(col) == wide and fills()
