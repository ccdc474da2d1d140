"""Your own models in the GUI (#16): "Open model…" in the Models workspace opens TorchScript / state-dict files off
the GUI thread, asks for (and remembers) an input spec when the file has none, adds the model, its random twin
and its first conv to the session; Live and Probe run them; the architecture tree taps Live; bad files say so."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from torch import nn

from app.models.inputs import declared
from app.session import Session

pytestmark = pytest.mark.gui


def small_cnn(channels: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 10)).eval()


def save_script(m: nn.Module, path, meta: dict | None = None):
    extra = {"filter_explorer.json": json.dumps(meta)} if meta else {}
    torch.jit.save(torch.jit.script(m), str(path), _extra_files=extra)
    return str(path)


@pytest.fixture
def settings(fe_home, tmp_path):
    from widgets.application import make_app

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("models/backbone", "simple")
    s.setValue("models/options/simple", '{"widths": [4, 8], "in_channels": 1}')
    return s


@pytest.fixture
def ws(qtbot, settings):
    from widgets.models.workspace import ModelsWorkspace

    w = ModelsWorkspace(Session(), settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(w.builder_ready, timeout=20000)
    asked: list[tuple[str, int]] = []
    w.own.asked = asked

    def ask(_parent, name, channels):  # the input dialog, answered as a user would
        asked.append((name, channels))
        return w.own.answer

    w.own.ask_input = ask
    w.own.answer = declared(1, (28, 28), preset="mnist")
    yield w
    w.shutdown()


def open_and_wait(qtbot, ws, source: str, weights: str | None = None) -> None:
    ws.own.open_source(source, weights)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)


def live_mosaic(spec):
    from app.live.config import LiveConfig, PaneConfig
    from app.live.engine import LiveEngine

    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with torch.inference_mode():
        lf = LiveEngine("cpu").process(frame, LiveConfig(panes=(PaneConfig(spec, None, 0, 4),), size=(48, 64)))
    return lf.panes[0]


def probe(spec, train=150, test=80):
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end

    return run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="ridge", layer=-1, pooling="gap",
                                            train_limit=train, test_limit=test)))


def test_open_1ch_and_3ch_torchscript_add_to_session_run_in_live_and_probe(qtbot, ws, settings, tmp_path):
    grey = save_script(small_cnn(1), tmp_path / "grey.pt")  # no metadata: the input is asked once
    colour = save_script(small_cnn(3, 1), tmp_path / "colour.pt",
                         {"channels": 3, "size": [224, 224], "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225]})
    open_and_wait(qtbot, ws, grey)
    assert ws.own.asked == [("grey.pt", 1)]  # asked with the channels of the file's first conv
    assert not ws.own.banner.isVisibleTo(ws.own), ws.own.banner.text()
    spec = ws.session.models["grey.pt"]
    assert spec.backbone == "external" and spec.weight_state == "trained"
    assert spec.input == ws.own.answer and spec.input.size == (28, 28)
    assert "grey.pt: first conv" in ws.session.banks
    assert ws.session.banks["grey.pt: first conv"].weights.shape == (6, 1, 3, 3)
    # the architecture tree: one item per module, the shapes on the 28x28 input
    o, _ = ws.own.entries["grey.pt"]
    assert o.default_input == (1, 28, 28) and len(o.layers) == 7
    assert ws.own.tree.items[0].text(1) == "Conv2d" and ws.own.tree.items[0].text(2) == "6×28×28"
    assert ws.own.tree.items[4].text(2) == "8×14×14"
    assert ws.panel_b.source_id() == "session:grey.pt"  # its kernels in the right panel
    qtbot.waitUntil(lambda: ws.panel_b.mosaic() is not None, timeout=20000)
    assert ws.panel_b.mosaic().shown == 6
    # opened again while open and unchanged: that one is selected, nothing asked or added
    open_and_wait(qtbot, ws, grey)
    assert len(ws.own.asked) == 1 and "grey.pt (2)" not in ws.session.models and ws.own.current() == "grey.pt"
    # removed from the session and opened again: the remembered input, not asked a second time
    ws.session.remove_model("grey.pt")
    open_and_wait(qtbot, ws, grey)
    assert len(ws.own.asked) == 1 and ws.session.models["grey.pt"].input == spec.input
    # a changed file (new modification time) is asked again, and opened next to the older one
    st = os.stat(grey)
    os.utime(grey, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    open_and_wait(qtbot, ws, grey)
    assert len(ws.own.asked) == 2 and "grey.pt (2)" in ws.session.models
    open_and_wait(qtbot, ws, colour)
    assert len(ws.own.asked) == 2  # metadata: nothing asked
    cspec = ws.session.models["colour.pt"]
    assert cspec.input.size == (224, 224) and cspec.input.source.startswith("model metadata")
    assert ws.own.entries["colour.pt"][0].default_input == (3, 224, 224)

    for s in (spec, cspec):  # Live: a mosaic, no error (grey input for the 1-channel model)
        r = live_mosaic(s)
        assert r.error is None and r.mosaic is not None and r.mosaic.ndim == 3
        assert [name for name, _c, _s in r.layers] == [name for name, _c, _s in
                                                       ws.own.entries[s.label][0].layers]
    for s in (spec, cspec):  # Probe on digits: a run finishes with a top-1 in [0, 1]
        res = probe(s)
        assert 0.0 <= res.top1 <= 1.0 and res.config.model.label == s.label


def test_random_twin_one_click_seeded(qtbot, ws, tmp_path):
    # nothing opened yet: the list says so, the twin's controls wait for a model
    assert ws.own.model_combo.count() == 0 and "Open model" in ws.own.model_combo.placeholderText()
    assert not any(w.isEnabled() for w in (ws.own.twin_btn, ws.own.twin_init, ws.own.twin_seed))
    path = save_script(small_cnn(1), tmp_path / "net.pt")
    open_and_wait(qtbot, ws, path)
    assert all(w.isEnabled() for w in (ws.own.twin_btn, ws.own.twin_init, ws.own.twin_seed))
    ws.own.twin_seed.setValue(4)
    ws.own.twin_btn.click()
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    name = "net.pt (random twin, seed 4)"
    twin = ws.session.models[name]
    trained = ws.session.models["net.pt"]
    assert twin.weights is None and twin.weight_state == "random" and twin.seed == 4
    assert twin.input == trained.input  # the same input as the trained model
    assert ws.own.entries[name][0].layers == ws.own.entries["net.pt"][0].layers
    a = ws.session.banks["net.pt: first conv"].weights
    b = ws.session.banks[f"{name}: first conv"].weights
    assert a.shape == b.shape and not np.allclose(a, b)
    ws.own.twin_btn.click()  # the same twin again: not added twice
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    assert sum(n.startswith("net.pt (random twin") for n in ws.session.models) == 1
    from app.models.external import build

    again = build(twin, "cpu").first_conv_bank().weights  # seeded: the same weights every time
    assert np.array_equal(again, b)


def test_tree_click_taps_live(qtbot, ws, settings, tmp_path):
    from widgets.live.workspace import LiveWorkspace

    path = save_script(small_cnn(1), tmp_path / "tap.pt")
    live = LiveWorkspace(ws.session, settings)
    qtbot.addWidget(live)
    try:
        open_and_wait(qtbot, ws, path)
        item = ws.own.tree.items[4]
        ws.own.tree.itemClicked.emit(item, 0)
        assert ws.session.taps == {"tap.pt": 4}
        assert ws.own.tree.tapped == 4 and item.font(0).bold()
        pane = next(p for p in live.panes if p.spec.label == "tap.pt")
        assert pane.layer == 4 and pane.config().spec.label == "tap.pt"
    finally:
        live.shutdown()


def test_files_that_are_not_models_say_so_in_the_banner(qtbot, ws, tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("these are my notes, not a model\n")
    open_and_wait(qtbot, ws, str(text))
    msg = ws.own.banner.text()
    assert ws.own.banner.isVisibleTo(ws.own) and "notes.pt" in msg and "not a model file" in msg and "text file" in msg
    assert "Traceback" not in msg and ws.session.models == {}

    onnx = pytest.importorskip("onnx")  # noqa: F841
    good = tmp_path / "full.onnx"
    torch.onnx.export(small_cnn(1), torch.zeros(1, 1, 28, 28), str(good), input_names=["x"], dynamo=False)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    open_and_wait(qtbot, ws, str(cut))
    msg = ws.own.banner.text()
    assert ws.own.banner.isVisibleTo(ws.own) and "cut.onnx" in msg and "not a valid ONNX model" in msg
    assert "Traceback" not in msg and ws.session.models == {}
    # the dialog cancelled: nothing opened, a line says why
    ws.own.answer = None
    open_and_wait(qtbot, ws, save_script(small_cnn(1), tmp_path / "ask.pt"))
    assert ws.session.models == {} and "no input chosen" in ws.own.status.text()


def test_resnet18_state_dict_and_torchscript_same_probe_top1(qtbot, ws, tmp_path):
    from app.models.build import create_model

    torch.manual_seed(3)
    r18 = create_model("resnet18", {}).eval()
    sd = tmp_path / "resnet18-tv.pth"
    torch.save(r18.state_dict(), str(sd))
    ts = tmp_path / "resnet18.pt"
    torch.jit.save(torch.jit.trace(r18, torch.zeros(1, 3, 32, 32)), str(ts))
    ws.own.answer = declared(3, (32, 32), preset="imagenet")
    open_and_wait(qtbot, ws, str(sd))
    open_and_wait(qtbot, ws, str(ts))
    assert not ws.own.banner.isVisibleTo(ws.own), ws.own.banner.text()
    a, b = ws.session.models["resnet18-tv.pth"], ws.session.models["resnet18.pt"]
    assert a.kwargs["format"] == "state_dict" and b.kwargs["format"] == "torchscript"
    assert ws.own.entries["resnet18-tv.pth"][0].layers == ws.own.entries["resnet18.pt"][0].layers
    ra, rb = probe(a, 120, 60), probe(b, 120, 60)
    assert ra.top1 == rb.top1 and np.array_equal(ra.confusion, rb.confusion)
    assert ra.top1 > 0.2  # not a degenerate head (chance is 0.1)


@pytest.mark.parametrize("how", ["script", "trace"])
def test_layer_rows_of_torchscript_convs_have_kernels(tmp_path, how):
    from app.models import external as ext
    from app.models.viz import snapshot

    m = small_cnn(3)
    path = tmp_path / f"{how}.pt"
    net = torch.jit.script(m) if how == "script" else torch.jit.trace(m, torch.zeros(1, 3, 32, 32))
    torch.jit.save(net, str(path))
    spec = ext.spec_for(str(path))
    view = snapshot(ext.build(spec, "cpu"), spec)
    convs = [r for r in view.rows if r.has_kernels]
    assert [(r.path, r.kind, r.in_channels, r.out_channels, r.kernel) for r in convs] == [
        ("net.0", "conv", 3, 6, "3x3"), ("net.4", "conv", 6, 8, "3x3")]
    assert np.array_equal(view.kernels["net.0"], m[0].weight.detach().numpy())
    # a batch-norm row as an eager model's (audit 32: it was listed "BatchNorm2d", no channels)
    assert [(r.kind, r.in_channels) for r in view.rows if not r.has_kernels][:1] == [("batch-norm", 6)]


def test_probe_workspace_lists_and_runs_an_opened_model(qtbot, ws, tmp_path):
    from PySide6.QtWidgets import QComboBox, QSpinBox

    from widgets.probe.workspace import ProbeWorkspace

    open_and_wait(qtbot, ws, save_script(small_cnn(1), tmp_path / "probe_me.pt"))
    pw = ProbeWorkspace(ws.session, QSettings(str(tmp_path / "probe.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(pw)
    pw.resize(1400, 860)
    pw.show()
    try:
        assert "probe_me.pt" in pw.models.labels() and pw.models.spec("probe_me.pt").backbone == "external"
        pw.models.set_checked(["probe_me.pt"])
        pw.probe_settings.head.setCurrentIndex(pw.probe_settings.head.findData("ridge"))
        combo = next(c for c in pw.browser.findChildren(QComboBox) if c.findData("digits") >= 0)
        combo.setCurrentIndex(combo.findData("digits"))
        try:
            pw.browser.subset_size = 150
        except AttributeError:
            pw.browser.findChildren(QSpinBox)[0].setValue(150)
        with qtbot.waitSignal(pw.batchDone, timeout=120_000):
            pw.train_btn.click()
        assert not pw.banner.isVisible(), pw.banner.text()
        assert pw.history_table.table.rowCount() == 1
    finally:
        pw.shutdown()


def test_ctrl_shift_o_opens_the_file_dialog_and_the_model(qtbot, ws, tmp_path, monkeypatch):
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QFileDialog

    path = save_script(small_cnn(1), tmp_path / "key.pt")
    seen = []

    def dialog(_parent, title, _start, filters):
        seen.append((title, filters))
        return path, ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(dialog))
    act = next(a for a in ws.actions() if a.shortcut() == QKeySequence("Ctrl+Shift+O"))
    act.trigger()
    qtbot.waitUntil(lambda: not ws.own.busy() and "key.pt" in ws.session.models, timeout=60000)
    assert seen and seen[0][0] == "Open model" and "*.onnx" in seen[0][1]
    assert ws.left_tabs.currentWidget() is ws.own and ws.own.current() == "key.pt"


def test_timm_name_that_cannot_open_says_why(qtbot, ws):
    open_and_wait(qtbot, ws, "timm:no_such_architecture_xyz")
    msg = ws.own.banner.text()
    assert ws.own.banner.isVisibleTo(ws.own) and "timm" in msg and "Traceback" not in msg
    assert ws.session.models == {}


def test_input_dialog_presets_and_a_bad_size(settings):
    from widgets.models.input_dialog import InputDialog

    d = InputDialog("net.pt", 3)
    assert d.preset.currentData() == "imagenet" and d.size.text() == "224" and d.channels.currentData() == 3
    d.preset.setCurrentIndex(d.preset.findData("cifar10"))
    spec = d.spec()
    assert (spec.channels, spec.size, spec.mean) == (3, (32, 32), (0.4914, 0.4822, 0.4465))
    d.size.setText("")  # any size (fully convolutional)
    assert d.spec().size is None
    d.size.setText("big")
    d.accept()
    assert d.result_spec is None and d.error.text()  # refused with a message, the dialog stays open
    d.size.setText("64x48")
    d.accept()
    assert d.result_spec.size == (64, 48) and d.result() == d.DialogCode.Accepted
