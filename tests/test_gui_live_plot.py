"""Issue 14: live training curves repaint the curves, not the axes (``widgets.common.live_plot``), and Qt paints on
the GUI thread alone on small machines (``widgets.application.paint_on_gui_thread_only``)."""

from __future__ import annotations

import types

import pytest

from widgets.application import paint_on_gui_thread_only
from widgets.common.live_plot import fitted, grown, nice_ceil


@pytest.mark.parametrize("v, want", [(1, 1), (1.2, 2), (2, 2), (2.01, 5), (7, 10), (0.03, 0.05), (120, 200),
                                     (1e-4, 1e-4), (0, 1), (float("nan"), 1)])
def test_nice_ceil_is_the_next_1_2_5_step(v, want):
    assert nice_ceil(v) == pytest.approx(want)


def test_grown_keeps_its_range_while_the_steps_fit_then_steps_out_to_a_round_number():
    r = grown(7, None)
    assert r == (0.0, 10.0)  # 7 * 1.2 = 8.4 -> 10
    assert grown(10, r) is r  # still inside: the same range (no re-layout of the axis)
    assert grown(11, r) == (0.0, 20.0)
    assert grown(0, None) == (0.0, 2.0)  # no step yet: a small range, not an empty one


def test_fitted_holds_the_data_with_round_ends_and_moves_only_when_it_must():
    r = fitted(0.52, 2.31, None)
    assert r[0] <= 0.52 and r[1] >= 2.31
    assert r == pytest.approx((0.4, 2.4))  # span 1.79 -> unit 0.2; [0.43, 2.40] with 5% margins, rounded outwards
    assert fitted(0.6, 2.31, r) is r  # inside and filling enough: kept
    lower = fitted(0.3, 2.31, r)  # the loss went below the range: a new one that holds it
    assert lower[0] <= 0.3 and lower[1] >= 2.31
    assert fitted(2.0, 2.1, r) != r  # the data fill less than 40% of it: fitted again, tighter
    assert fitted(0.001, 0.01, None)[0] == 0.0  # never below zero for data that are not


def test_the_decision_to_paint_on_the_gui_thread_alone():
    assert paint_on_gui_thread_only(2, {}) is True
    assert paint_on_gui_thread_only(4, {}) is True
    assert paint_on_gui_thread_only(16, {}) is False
    assert paint_on_gui_thread_only(None, {}) is True
    assert paint_on_gui_thread_only(2, {"QT_NO_GUI_THREADPOOL": "0"}) is False  # the user's own setting stays


@pytest.mark.gui
def test_make_app_turns_the_pool_off_on_a_small_machine_only(qapp, monkeypatch):
    from widgets import application

    monkeypatch.delenv("QT_NO_GUI_THREADPOOL", raising=False)
    monkeypatch.setattr(application.os, "cpu_count", lambda: 16)
    application.make_app()
    assert "QT_NO_GUI_THREADPOOL" not in application.os.environ
    monkeypatch.setattr(application.os, "cpu_count", lambda: 2)
    application.make_app()
    assert application.os.environ["QT_NO_GUI_THREADPOOL"] == "1"


def _points(view, start: int, stop: int, loss=lambda i: 2.3 / (1 + 0.1 * i)):
    for i in range(start, stop):
        view.add_point(0, types.SimpleNamespace(step=i, loss=loss(i), train_acc=0.5 + i / 1000, val_acc=0.5))


@pytest.mark.gui
def test_probe_curves_keep_their_axes_cached_and_their_range_around_every_point(qtbot):
    from PySide6.QtWidgets import QGraphicsItem

    from widgets.probe.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    view.add_run(0, "run")
    for plot in (view.loss_plot, view.acc_plot):
        for name in ("left", "bottom"):
            assert plot.getAxis(name).cacheMode() == QGraphicsItem.CacheMode.DeviceCoordinateCache
    _points(view, 1, 30)
    view._redraw()
    (x0, x1), (y0, y1) = view.loss_plot.getViewBox().viewRange()
    assert x0 <= 1 and x1 >= 29 and y0 <= 2.3 / 3.9 and y1 >= 2.3 / 1.1  # every point in view
    assert view.acc_plot.getViewBox().viewRange()[0] == pytest.approx([x0, x1])  # the x axes linked
    moves = view.loss_range.changes
    _points(view, 30, 33)  # a few more steps inside the range: the axes stay as they are
    view._redraw()
    assert view.loss_range.changes == moves
    _points(view, 33, 80)  # out of the x range: it steps out and holds every point again
    view._redraw()
    (x0, x1), (y0, y1) = view.loss_plot.getViewBox().viewRange()
    assert x1 >= 79 and y0 <= 2.3 / 8.9 and view.loss_range.changes > moves
    view.stop()  # the run ended: the x range fits the last step (head-room only while it ran)
    (x0, x1), _ = view.loss_plot.getViewBox().viewRange()
    assert x0 <= 0 and 79 <= x1 <= 79 * 1.1


@pytest.mark.gui
def test_a_users_zoom_is_kept_until_the_next_run(qtbot):
    from widgets.probe.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.add_run(0, "run")
    _points(view, 1, 20)
    view._redraw()
    vb = view.loss_plot.getViewBox()
    vb.sigRangeChangedManually.emit([True, True])  # what a mouse zoom emits
    vb.setRange(xRange=(5, 8), padding=0)
    _points(view, 20, 200)
    view._redraw()
    assert vb.viewRange()[0] == pytest.approx([5, 8])  # not moved away from what the user chose
    view.clear()
    view.add_run(0, "again")
    _points(view, 1, 50)
    view._redraw()
    assert vb.viewRange()[0][1] >= 49  # a new run: stepping again


@pytest.mark.gui
def test_the_training_dialogs_loss_range_follows_its_points(qtbot, fe_home, tmp_path):
    from PySide6.QtCore import QSettings

    from app.session import Session
    from app.tasks import Progress
    from widgets.models.train_dialog import TrainDialog

    dlg = TrainDialog(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(dlg)
    dlg._steps, dlg._loss, dlg._acc, dlg._ep_x, dlg._ep_acc = [], [], [], [], []
    for i in range(40):
        rec = types.SimpleNamespace(kind="step", step=i, loss=3.0 / (1 + i), train_acc=0.1 + i / 50)
        dlg._on_progress(Progress(done=i, total=40, message="", payload=rec))
    dlg._redraw()
    y0, y1 = dlg.loss_plot.getViewBox().viewRange()[1]
    assert y0 <= 3.0 / 40 and y1 >= 3.0


@pytest.mark.gui
def test_probe_curves_show_a_validation_sweeps_fit_in_progress_from_its_start(qtbot):
    """A sweep fits each grid value from step 1 again: the live curves start over with each fit (they drew a line
    back to step 1 over the previous fit); two runs keep their own curves; the run's end shows what it stored."""
    from widgets.probe.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.add_run(0, "run")
    view.add_run(1, "other")
    _points(view, 1, 14)  # the first grid value's fit: steps 1..13
    view.add_point(1, types.SimpleNamespace(step=5, loss=1.0, train_acc=None, val_acc=None))
    _points(view, 1, 6, loss=lambda i: 0.5 / i)  # the second value's fit, from its warm start
    view._redraw()
    x, y = view.series[0]["loss"].item.getData()
    assert x.tolist() == [1, 2, 3, 4, 5] and y.tolist() == pytest.approx([0.5 / i for i in range(1, 6)])
    assert view.series[0]["val"].n == 5 and view.series[1]["loss"].n == 1
    view.set_curves(0, [{"step": 1, "loss": 0.4, "train_acc": 1.0, "val_acc": 0.9}])  # the selected fit, stored
    assert view.series[0]["loss"].item.getData()[0].tolist() == [1]
