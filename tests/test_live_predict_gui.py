"""Issue 12, Done when: a head trained in Probe on a random backbone predicts in a Live pane (qtbot, the whole
window: Probe -> "Use in Live" -> Live on dataset samples); the "Top-5" toggle of a trained model; the head menu."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from app.models.spec import ModelSpec
from tests.test_probe_gui import choose_dataset, click_check, set_subset, uncheck_all

pytestmark = pytest.mark.gui
DIGITS = [str(i) for i in range(10)]


def _window(fe_home, panes):
    from widgets.application import make_app
    from widgets.common.settings import settings
    from widgets.main_window import MainWindow

    make_app()
    s = settings()
    s.setValue("live/source", "dataset")
    s.setValue("live/dataset", "digits")
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps(panes))
    s.sync()
    return MainWindow(workspace="probe", persist=False)


def test_a_head_trained_in_probe_on_a_random_backbone_predicts_in_live(qtbot, fe_home):
    from app.session import Session

    win = _window(fe_home, [{"label": "simple (random)", "layer": 0, "page": 0, "per_page": 4}])
    qtbot.addWidget(win)
    win.resize(1300, 800)
    win.show()
    ws = win.probe
    try:
        choose_dataset(ws, "digits")
        set_subset(ws, 200)
        uncheck_all(qtbot, ws)
        click_check(qtbot, ws, "simple (random)")
        ws.probe_settings.test_limit.setValue(100)
        assert not ws.run_panel.live_btn.isEnabled()
        with qtbot.waitSignal(ws.batchDone, timeout=120_000):
            qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert not ws.banner.isVisible(), ws.banner.text()
        assert ws.results.run is not None and ws.results.run.head == "logistic"
        assert ws.run_panel.live_btn.isEnabled() and ws.live_head
        # one click: Live is shown, a pane on the run's backbone with its head attached
        qtbot.mouseClick(ws.run_panel.live_btn, Qt.MouseButton.LeftButton)
        assert win.current_workspace() == "live"
        live = win.live
        pane = next(p for p in live.panes if p.head == ws.live_head)
        assert pane.spec.backbone == "simple" and dict(pane.spec.options)["in_channels"] == 1
        qtbot.waitUntil(lambda: bool(pane.predictions.top_names()) and len(pane.predictions.top_names()[0]) == 5,
                        timeout=60_000)
        (names,) = pane.predictions.top_names()
        assert set(names) <= set(DIGITS) and len(set(names)) == 5
        assert pane.predictions.isVisible() and pane.predictions.predictions[0].kind == "head"
        assert "probe head" in pane.predictions.predictions[0].title
        # the attachment is remembered with the pane
        live._save()
        saved = json.loads(live.settings.value("live/panes"))
        assert any(p.get("head") == ws.live_head for p in saved)
        # the pane's menu lists the head (its backbone matches) and detaches it
        pane._fill_head_menu()
        texts = [a.text() for a in pane.head_menu.actions()]
        assert texts[0] == "Detach the probe head" and any("logistic" in t for t in texts)
        pane.head_menu.actions()[0].trigger()
        assert pane.head is None
        assert isinstance(win.session, Session)
        # every pane in use by another backbone: the head goes to the last pane, and the status says whose place
        from widgets.live.workspace import MAX_PANES

        while len(live.panes) < MAX_PANES:
            live.add_pane()
        rdsn = next(c for c in live._choices if c.backbone == "rdsn")
        for p in live.panes:
            p._set_spec(rdsn)
        replaced = live.panes[-1].spec.label
        assert live.attach_head(ws.live_head) is live.panes[-1]
        assert live.status_level == "warning" and f"in place of {replaced}" in live.status.text()
    finally:
        win.close()


def test_top5_toggle_of_a_trained_model(qtbot, fe_home):
    from app.models.zoo import shipped_specs
    from app.session import Session
    from widgets.application import make_app
    from widgets.common.settings import settings
    from widgets.live.workspace import LiveWorkspace

    make_app()
    trained = next(s for s in shipped_specs() if s.weights and "mnist" in s.weights)
    s = settings()
    s.setValue("live/source", "dataset")
    s.setValue("live/dataset", "digits")
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": trained.label, "layer": 0, "page": 0, "per_page": 4},
                                         {"label": "tiny", "layer": 0, "page": 0, "per_page": 4}]))
    session = Session()
    session.put_model("tiny", ModelSpec.make("simple", "tiny", options={"widths": (4,)}))
    ws = LiveWorkspace(session, s)
    qtbot.addWidget(ws)
    ws.resize(900, 600)
    ws.show()
    try:
        assert ws.wait_ready(60_000)
        mnist, tiny = ws.panes
        assert mnist.predict_btn.isEnabled() and not tiny.predict_btn.isEnabled()  # random: no classifier
        assert not mnist.predictions.isVisible()
        mnist.predict_btn.click()
        qtbot.waitUntil(lambda: bool(mnist.predictions.top_names()), timeout=30_000)
        assert set(mnist.predictions.top_names()[0]) <= set(DIGITS)
        assert mnist.predictions.predictions[0].kind == "model" and "28x28" in mnist.predictions.predictions[0].note
        mnist.predict_btn.click()
        assert not mnist.predictions.isVisible()
    finally:
        ws.shutdown()
