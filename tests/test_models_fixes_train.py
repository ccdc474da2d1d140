"""Models workspace fixes (audit D): the Train dialog asks before Close stops a run, never overwrites an earlier run's
files, trains what the builder shows at Start and says on how many images (and which seed) its figures are; loading
weights does not let a remembered per-layer initialisation replace a trained layer unseen; a model that does not
build is neither added to the session nor trained, and a panel showing one says why instead of "Building …"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from app.session import Session

pytestmark = pytest.mark.gui

SIMPLE = '{"widths": [4, 8], "in_channels": 1}'


@pytest.fixture
def settings(fe_home, tmp_path):
    from widgets.application import make_app

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("models/backbone", "simple")
    s.setValue("models/options/simple", SIMPLE)
    s.setValue("models/panel_b", "builder")
    return s


def _workspace(qtbot, settings):
    from widgets.models.workspace import ModelsWorkspace

    w = ModelsWorkspace(Session(), settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(w.builder_ready, timeout=30000)
    return w


@pytest.fixture
def ws(qtbot, settings):
    w = _workspace(qtbot, settings)
    yield w
    w.shutdown()


def _dialog(qtbot, ws, *, epochs=1, limit=100, test_limit=50, batch=32):
    ws.open_train()
    dlg = ws.train_dialog
    qtbot.addWidget(dlg)
    dlg.dataset.setCurrentIndex(dlg.dataset.findData("digits"))
    dlg.epochs.setValue(epochs)
    dlg.optimizer.setCurrentIndex(dlg.optimizer.findData("sgd"))
    dlg.lr.setValue(0.05)
    dlg.batch.setValue(batch)
    dlg.limit.setValue(limit)
    dlg.test_limit.setValue(test_limit)
    return dlg


def _train(qtbot, dlg) -> str:
    with qtbot.waitSignal(dlg.trained, timeout=180000) as blocker:
        dlg.start_btn.click()
    qtbot.waitUntil(dlg.start_btn.isEnabled, timeout=30000)
    return blocker.args[0]


def _answer(monkeypatch, answer):
    """QMessageBox.question answered ``answer``; returns the list of (title, text) asked."""
    asked = []

    def question(_parent, title, text, *_a, **_k):
        asked.append((title, text))
        return answer

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


# ============================================================================================ 1: Close asks
def test_close_while_training_asks_and_no_keeps_it_running(qtbot, ws, monkeypatch):
    """Close (or the window's close box) used to cancel a running training at once; now it asks, "No" keeps the run
    and the window, "Yes" stops it and closes. The workspace says what runs (``busy_text``, for the main window)."""
    dlg = _dialog(qtbot, ws, epochs=500, limit=0)  # far longer than the test: only Yes ends it
    assert ws.busy_text() == ""
    dlg.start_btn.click()
    assert dlg.is_running()
    assert "training simple" in ws.busy_text() and "digits" in ws.busy_text()

    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)
    dlg.close_btn.click()
    assert len(asked) == 1 and "Training is running: stop it and close?" in asked[0][1]
    assert dlg.isVisible() and dlg.is_running() and dlg.worker.token.cancelled is False
    dlg.close()  # the window's close box: the same question
    assert len(asked) == 2 and dlg.isVisible() and dlg.is_running()

    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    dlg.close_btn.click()
    assert len(asked) == 1 and not dlg.isVisible()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=60000)
    assert "Cancelled" in dlg.status.text() and ws.session.models == {}
    assert ws.busy_text() == ""

    asked = _answer(monkeypatch, QMessageBox.StandardButton.No)  # nothing runs: Close closes without a question
    ws.open_train()
    dlg.close_btn.click()
    assert asked == [] and not dlg.isVisible()


# ============================================================================================ 2: unique files
def test_two_runs_in_the_same_second_keep_both_results(qtbot, ws, monkeypatch, fe_home):
    """The output was named by the model and a timestamp to the second: a second run within that second overwrote
    the first's files, and both session entries pointed at the second's weights."""
    from safetensors.numpy import load_file

    from widgets.models import train_dialog

    monkeypatch.setattr(train_dialog.time, "strftime", lambda *_a: "20260101-120000")  # the same second, always
    dlg = _dialog(qtbot, ws, limit=100, test_limit=50)
    runs = []
    for epochs in (1, 2):
        dlg.epochs.setValue(epochs)
        name = _train(qtbot, dlg)
        runs.append((name, dlg.last_checkpoint, load_file(dlg.last_checkpoint)["blocks.1.conv.weight"].copy()))
    (n1, ck1, w1), (n2, ck2, w2) = runs
    assert ck1 != ck2 and Path(ck2).name.endswith("-20260101-120000-2.safetensors")
    assert ws.session.models[n1].weights == ck1 and ws.session.models[n2].weights == ck2
    assert json.loads(Path(ck1).with_suffix(".json").read_text())["epoch"] == 1  # the first run's, intact
    assert json.loads(Path(ck2).with_suffix(".json").read_text())["epoch"] == 2
    assert np.array_equal(load_file(ck1)["blocks.1.conv.weight"], w1) and not np.array_equal(w1, w2)


@pytest.mark.parametrize("left", [".safetensors", ".json", ".state.pt", ".manifest.json"])
def test_any_file_of_an_earlier_set_keeps_its_name(tmp_path, left):
    """A set's four files (app.models.checkpoint): any one left there (a run cancelled while saving) takes the
    name."""
    from widgets.models.train_dialog import unique_out

    assert unique_out(tmp_path, "m-1") == tmp_path / "m-1"
    (tmp_path / f"m-1{left}").write_text("x")
    assert unique_out(tmp_path, "m-1") == tmp_path / "m-1-2"
    (tmp_path / f"m-1-2{left}").write_text("x")
    assert unique_out(tmp_path, "m-1") == tmp_path / "m-1-3"


# ============================================================================================ 3: the spec of now
def test_start_trains_what_the_builder_shows_now(qtbot, ws):
    """The dialog kept the model of the moment it opened: a layer frozen and a seed changed in the builder meanwhile
    were not trained (the stale spec went out under the builder's name)."""
    dlg = _dialog(qtbot, ws, limit=200)
    assert "nothing frozen" in dlg.model_label.text() and "seed 0" in dlg.model_label.text()
    ws.set_layer_frozen("blocks.0.conv", True)
    ws.seed.setValue(5)
    qtbot.waitUntil(lambda: ws.builder_ready() and ws._builder_spec.seed == 5, timeout=30000)
    # the dialog's summary follows the builder while it is open
    assert "frozen: blocks.0.conv" in dlg.model_label.text() and "seed 5" in dlg.model_label.text()
    _train(qtbot, dlg)
    assert dlg.result.spec.seed == 5 and dlg.result.spec.freeze == ("blocks.0.conv",)
    assert dlg.result.frozen == 4 * 9 + 4 and dlg.result.config.seed == 5


def test_start_reads_the_builder_even_before_its_rebuild(qtbot, ws):
    """Start right after a change (the builder's rebuild still pending): the model of the form, not the last one."""
    dlg = _dialog(qtbot, ws, limit=200)
    ws.seed.setValue(7)  # no wait: the rebuild timer has not fired
    _train(qtbot, dlg)
    assert dlg.result.spec.seed == 7 and "seed 7" in dlg.model_label.text()


# ============================================================================================ 4: weights + init
def _checkpoints(tmp_path):
    import torch

    from app.models import create
    from app.models.weights import save_checkpoint

    torch.manual_seed(5)
    good = create("simple", widths=(4, 8), in_channels=1)
    save_checkpoint(good, tmp_path / "good")
    save_checkpoint(create("simple", widths=(4, 16), in_channels=1), tmp_path / "wrong")
    return {k: v.detach().numpy().copy() for k, v in good.state_dict().items()}


def _conv1_choice(ws) -> str:
    """What conv1's initialisation cell shows now (the table's own widget: a replaced combo may linger until
    deleted)."""
    from widgets.models.layer_table import COL_BANK

    ws.layers._add_combos()
    return ws.table.cellWidget(0, COL_BANK).currentText()


def test_loading_weights_clears_a_remembered_layer_initialisation(qtbot, settings, tmp_path):
    """conv1: orthogonal was remembered; loading a checkpoint replaced conv1's trained weights by an orthogonal draw
    while the label said "trained". Now the checkpoint's weights are used, the choice is cleared, and the status
    says so; a file that does not fit leaves the choice as it was."""
    from app.models.build import build

    settings.setValue("models/layers/simple", '{"freeze": {}, "init": {"conv1": "init:orthogonal"}}')
    ck = _checkpoints(tmp_path)
    ws = _workspace(qtbot, settings)
    try:
        assert _conv1_choice(ws) == "orthogonal"
        ws.load_weights(str(tmp_path / "wrong.safetensors"))  # refused: the initialisation stays
        qtbot.waitUntil(lambda: "Could not load wrong.safetensors" in ws.banner.text(), timeout=20000)
        qtbot.waitUntil(ws.builder_ready, timeout=20000)
        assert ws.choices.inits() == (("conv1", "orthogonal"),) and _conv1_choice(ws) == "orthogonal"

        ws.load_weights(str(tmp_path / "good.safetensors"))
        qtbot.waitUntil(lambda: ws.weights_label.text() == "good.safetensors", timeout=20000)
        qtbot.waitUntil(ws.builder_ready, timeout=20000)
        assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], ck["blocks.0.conv.weight"])
        assert np.array_equal(ws._builder_view.kernels["blocks.1.conv"], ck["blocks.1.conv.weight"])
        assert ws.choices.inits() == () and _conv1_choice(ws) == "(model init)"
        assert "initialisation of conv1 (orthogonal) was cleared" in ws.status.text()
        assert "orthogonal" not in json.loads(settings.value("models/layers/simple"))["init"].get("conv1", "")
        name = ws.add_to_session()
        spec = ws.session.models[name]
        assert spec.weight_state == "trained" and "orthogonal" not in name
        assert np.array_equal(build(spec, device="cpu").state_dict()["blocks.0.conv.weight"].numpy(),
                              ck["blocks.0.conv.weight"])

        # chosen again after loading (the user's explicit choice): the name says that layer is not the checkpoint's
        ws._on_layer_init("conv1", "init:orthogonal")
        qtbot.waitUntil(ws.builder_ready, timeout=20000)
        assert ws.current_spec().label.endswith("(good; conv1: orthogonal)")
        assert not np.array_equal(ws._builder_view.kernels["blocks.0.conv"], ck["blocks.0.conv.weight"])
    finally:
        ws.shutdown()


def test_the_name_keeps_a_layer_initialisation_beside_a_bank():
    from widgets.models.words import auto_name

    bank = object()
    assert auto_name("simple", {}, "default", None, [("conv2", bank)], (("conv1", "orthogonal"),)) == \
        "simple (hand-designed; conv1: orthogonal)"
    assert auto_name("simple", {}, "default", None, [("conv2", bank)]) == "simple (hand-designed)"
    assert auto_name("simple", {}, "default", "/x/run.safetensors", ()) == "simple (run)"


# ============================================================================================ 5: the result line
def test_result_line_says_on_how_many_images_with_which_seed_and_its_spread(qtbot, ws):
    """"test accuracy 0.00%" on 3 test images, with no count, seed or interval: now the count, the seed that drew
    the subset, the validation images held out and the sampling error (Wilson 95% where an s.e. says nothing)."""
    from app.metrics import spread_text

    ws.seed.setValue(3)
    qtbot.waitUntil(lambda: ws.builder_ready() and ws._builder_spec.seed == 3, timeout=30000)
    dlg = _dialog(qtbot, ws, limit=12, test_limit=3)
    _train(qtbot, dlg)
    r, text = dlg.result, dlg.status.text()
    assert dlg.n_test == 3 and r.config.seed == 3
    assert f"top-1 {r.test_acc:.2%} ({spread_text(r.test_acc, 3)}) on 3 test images (seed 3)" in text, text
    assert "95% CI" in spread_text(r.test_acc, 3)  # 3 images: the interval, not an s.e.
    assert f"validation {r.val_acc:.2%} ({spread_text(r.val_acc, r.n_val)}) on {r.n_val} training images held " \
           f"out (seed 3)" in text, text
    assert "test accuracy" in text
    assert "seed 3" in dlg.model_label.text()


def test_result_line_with_the_whole_test_split(qtbot, ws):
    from app.data import load

    n = len(load("digits", "test"))
    dlg = _dialog(qtbot, ws, limit=60, test_limit=0)
    _train(qtbot, dlg)
    assert dlg.n_test == n and f"on all {n:,} test images" in dlg.status.text()


# ============================================================================================ 6: broken model
def _break(qtbot, ws):
    ks = ws.option_widget("kernel_size")
    ks.setText("3, 3, 3")
    ks.textEdited.emit(ks.text())
    qtbot.waitUntil(lambda: "kernel_size" in ws.banner.text() and ws.banner.isVisible(), timeout=20000)
    qtbot.waitUntil(lambda: not ws.busy(), timeout=20000)


def test_a_model_that_does_not_build_is_neither_added_nor_trained(qtbot, ws):
    _break(qtbot, ws)
    assert ws.build_error() and "kernel_size" in ws.build_error()
    assert ws.add_to_session() is None
    assert ws.session.models == {}
    assert "Not added" in ws.banner.text() and "kernel_size" in ws.banner.text()
    ws.open_train()
    assert ws.train_dialog is None
    assert "Cannot train" in ws.banner.text() and "kernel_size" in ws.banner.text()
    ws.retry()  # Ctrl+R tries again: still the same error (said again, not "Building …")
    qtbot.waitUntil(lambda: not ws.busy(), timeout=20000)
    assert "kernel_size" in ws.banner.text() and ws.add_to_session() is None


def test_an_open_train_dialog_refuses_a_model_that_stopped_building(qtbot, ws):
    dlg = _dialog(qtbot, ws)
    _break(qtbot, ws)
    assert "does not build" in dlg.model_label.text()
    dlg.start_btn.click()
    assert dlg.worker is None and not dlg.is_running()
    assert "Not started" in dlg.status.text() and "kernel_size" in dlg.status.text()
    assert ws.session.models == {}


def test_a_panel_showing_a_model_that_does_not_build_says_why(qtbot, ws):
    """A session model that cannot be built (put there by another way than Add) waited on "Building …" forever:
    the builder's delivery removed the error the panel was waiting for."""
    _break(qtbot, ws)
    broken = ws.current_spec()
    ws.session.put_model(broken.label, broken)  # as "Add to session" did before
    qtbot.waitUntil(lambda: ws.panel_b.select_source(f"session:{broken.label}"), timeout=10000)
    qtbot.waitUntil(lambda: "Could not build" in ws.panel_b.info.text(), timeout=30000)
    assert "kernel_size" in ws.panel_b.info.text()


# ============================================================================================ cosmetic
def test_a_state_dict_file_is_answered_with_what_to_do_in_the_gui(qtbot, ws, tmp_path):
    import torch

    from app.models.inputs import declared

    torch.save({"a.weight": torch.zeros(2, 2)}, tmp_path / "state.pth")
    ws.own.ask_input = lambda *a: declared(1, (8, 8), preset="unit")
    ws.own.open_source(str(tmp_path / "state.pth"))
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    text = ws.own.banner.text()
    assert "holds only weights" in text and "Load weights…" in text and "--backbone" not in text, text


def test_closing_the_main_window_while_training_asks_first(qtbot, fe_home, monkeypatch):
    """The main window's close stopped a running training without a word (its workspace's shutdown cancels it)."""
    from PySide6.QtWidgets import QMessageBox

    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="models")
    qtbot.addWidget(win)
    win.show()
    models = win.workspace("models")
    monkeypatch.setattr(type(models), "busy_text", lambda self: "training simple (random) on digits")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    win.close()
    assert asked and asked[0].startswith("Training simple (random) on digits is running: closing stops it")
    assert win.isVisible()  # "No": the window and the run stay
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    win.close()
    assert not win.isVisible()
