"""The time left of the Train… dialog and the finish time of an Experiments run (session 33): both showed a bar and
a message, never how long the rest would take (the Probe's run panel did)."""

from __future__ import annotations

import time
import types

import pytest

from app.tasks import Progress
from app.eta import Rate


def test_rate_without_a_unit_gives_the_time_left_alone():
    r = Rate(min_seconds=0.5)
    assert r.update(10, 100, 0.0, None) == "10%" and r.left() is None
    assert r.update(30, 100, 2.0, None) == "30% · 7 s left"  # 20 in 2 s: 70 more in 7 s
    assert r.left() == pytest.approx(7.0)
    assert r.update(100, 100, 3.0, None) == "100%" and r.left() is None
    assert r.update(5, None, 4.0, None) == "" and r.left() is None


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.mark.gui
def test_the_training_dialog_says_the_time_left(qtbot, fe_home, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.models.train_dialog import TrainDialog

    dlg = TrainDialog(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(dlg)
    dlg._steps, dlg._loss, dlg._acc, dlg._ep_x, dlg._ep_acc = [], [], [], [], []
    clock = _Clock(1000.0)
    monkeypatch.setattr(time, "monotonic", clock)

    def step(i: int, t: float) -> str:
        clock.t = t
        rec = types.SimpleNamespace(kind="step", step=i, loss=1.0, train_acc=0.5)
        dlg._on_progress(Progress(done=i, total=200, message=f"epoch 1/2 step {i}/100", payload=rec))
        return dlg.status.text()

    assert step(0, 1000.0) == "epoch 1/2 step 0/100"  # no rate yet
    assert step(20, 1010.0) == "epoch 1/2 step 20/100 · about 1 min 30 s left"  # 2 steps/s, 180 to go
    dlg._on_progress(Progress(0, None, "loading mnist"))  # a stage of unknown length: no claim
    assert dlg.status.text() == "loading mnist"


@pytest.mark.gui
def test_an_experiment_run_says_when_it_will_be_done(qtbot, tmp_path, monkeypatch):
    from tests.test_experiments_gui import _tiny_opened

    ws = _tiny_opened(qtbot, tmp_path)
    ws._rate = Rate(min_seconds=0.0)  # as Run sets it
    clock = _Clock(500.0)
    monkeypatch.setattr(time, "monotonic", clock)
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)

    class Done:
        def __init__(self, cell, acc):
            self.cell, self.result = cell, {"test_top1": acc, "seconds": 0.1}

    ws._on_progress(Progress(0, 2, "2 cells to run"))
    assert ws.status.text() == "2 cells to run"
    clock.t = 560.0  # the first cell took a minute: the second ends a minute later
    ws._on_progress(Progress(1, 2, "cell 1 of 2 done", Done(ws._cells[0], 0.5)))
    finish = time.strftime("%H:%M", time.localtime(1_800_000_000.0 + 60.0))
    assert ws.status.text() == f"cell 1 of 2 done · done by about {finish}"
    ws._on_progress(Progress(2, 2, "cell 2 of 2 done", Done(ws._cells[1], 0.6)))
    assert ws.status.text() == "cell 2 of 2 done"


@pytest.mark.gui
def test_an_insight_task_bar_says_the_time_left(qtbot, monkeypatch):
    from widgets.analysis.common import TaskBar
    from widgets.common.worker import WorkerPool

    pool = WorkerPool()
    bar = TaskBar(pool)
    qtbot.addWidget(bar)
    w = object()
    bar.worker = w  # the bar's own worker's reports are shown, another's are not
    clock = _Clock(10.0)
    monkeypatch.setattr(time, "monotonic", clock)
    bar._on_progress(w, Progress(0, 400, "extracting features"))
    assert bar.status.text() == "extracting features"
    clock.t = 14.0
    bar._on_progress(w, Progress(100, 400, "extracting features"))  # 25 images/s: 300 more in 12 s
    assert bar.status.text() == "extracting features · about 12 s left"
    bar._on_progress(w, Progress(0, None, "fitting"))
    assert bar.status.text() == "fitting"
    bar.worker = None
    pool.shutdown()
