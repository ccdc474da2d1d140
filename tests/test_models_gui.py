"""Models workspace GUI: builder, layer table, freezing, weights loading, kernel panels, session, settings."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.session import Session

pytestmark = pytest.mark.gui


@pytest.fixture
def settings(fe_home, tmp_path):
    from widgets.application import make_app

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("models/backbone", "simple")
    s.setValue("models/options/simple", '{"widths": [4, 8], "in_channels": 1}')
    s.setValue("models/panel_b", "builder")
    return s


@pytest.fixture
def ws(qtbot, settings):
    from widgets.models.workspace import ModelsWorkspace

    w = ModelsWorkspace(Session(), settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    settle(qtbot, w)
    yield w
    w.shutdown()


def settle(qtbot, w) -> None:
    qtbot.waitUntil(w.builder_ready, timeout=20000)


def test_builder_shows_layers_and_totals(ws):
    assert ws.backbone.currentData() == "simple"
    assert ws.option_widget("widths").text() == "4, 8"
    assert ws.table.rowCount() == 2
    assert ws.table.item(0, 0).text() == "conv1  (blocks.0.conv)"
    assert ws.table.item(0, 2).text() == "1 -> 4"
    total = 4 * 9 + 4 + 8 * 4 * 9 + 8
    assert ws.totals.text() == f"{total} parameters: {total} trainable, 0 frozen"
    # the builder's kernels are drawn in panel A, one mosaic image through the diverging map
    m = ws.panel_a.mosaic()
    assert m is not None and not m.colour and m.shown == 4
    assert np.array_equal(ws.panel_a.image.image, m.rgb)
    ws._trim_cache(keep=0)  # the snapshot cache never drops what is on screen
    assert any(v is ws._builder_view for v in ws._views.values())


def test_patches_filters_are_drawn_as_patches(qtbot, ws):
    """The patches backbone's encoder (a 1x1 convolution over whitened patch values) is drawn as its k filters,
    each a 6x6 colour patch, and the line under it says they are random until the Probe fits them."""
    ws.backbone.setCurrentIndex(ws.backbone.findData("patches"))
    qtbot.waitUntil(lambda: ws.builder_ready() and ws.backbone.currentData() == "patches"
                    and ws.panel_a.mosaic() is not None and ws.panel_a.layer_path() == "encoder", timeout=20000)
    m = ws.panel_a.mosaic()
    assert m.colour and m.shown == 256 and m.cell == 6 + m.pad
    text = ws.panel_a.info.text()
    assert "256 RGB filters (6x6 patches in whitened space, not fitted: random until the Probe fits them" in text, text
    assert ws.table.item(0, 3).text() == "1x1"  # the layer table keeps the module's shape


def test_option_change_rebuilds_and_bad_input_keeps_last_model(qtbot, ws):
    w = ws.option_widget("widths")
    w.setText("4, 8, 16")
    w.textEdited.emit(w.text())
    settle(qtbot, ws)
    assert ws.table.rowCount() == 3 and not ws.banner.isVisible()
    w.setText("4, x")
    w.textEdited.emit(w.text())
    qtbot.waitUntil(ws.banner.isVisible, timeout=5000)
    assert "widths: '4, x' is not whole numbers" in ws.banner.text()
    assert ws.table.rowCount() == 3  # the last good model is still shown
    # an option the constructor refuses: a clear message, nothing lost
    w.setText("4, 8")
    w.textEdited.emit(w.text())
    ks = ws.option_widget("kernel_size")
    ks.setText("3, 3, 3")
    ks.textEdited.emit(ks.text())
    qtbot.waitUntil(lambda: "kernel_size: 3 values given for 2 layers" in ws.banner.text(), timeout=10000)
    assert ws.table.rowCount() == 3


def test_freeze_toggle_and_preset_change_counts(qtbot, ws):
    item = ws.table.item(0, 7)
    item.setCheckState(Qt.CheckState.Checked)
    settle(qtbot, ws)
    conv1 = 4 * 9 + 4
    assert ws._builder_view.frozen == conv1
    assert ws.table.item(0, 7).checkState() == Qt.CheckState.Checked
    assert "blocks.0.conv" in ws.current_spec().freeze
    ws.freeze.setCurrentIndex(ws.freeze.findData("Freeze everything"))
    settle(qtbot, ws)
    assert ws._builder_view.trainable == 0
    assert ws.table.item(1, 7).checkState() == Qt.CheckState.Checked


def test_load_weights_refused_with_reason_then_accepted(qtbot, ws, tmp_path):
    import torch

    from app.models import create
    from app.models.weights import save_checkpoint

    before = ws._builder_view.kernels["blocks.0.conv"].copy()
    wrong = create("simple", widths=(4, 16), in_channels=1)
    save_checkpoint(wrong, tmp_path / "wrong")
    ws.load_weights(str(tmp_path / "wrong.safetensors"))
    qtbot.waitUntil(ws.banner.isVisible, timeout=10000)
    assert "Could not load wrong.safetensors" in ws.banner.text() and "wrong shape" in ws.banner.text()
    assert "this file is for" not in ws.banner.text()
    assert ws.weights_label.text() == "none (random)" and ws.current_spec().weights is None
    assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], before)

    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    ws.load_weights(str(tmp_path / "junk.pt"))
    qtbot.waitUntil(lambda: "Could not load junk.pt" in ws.banner.text(), timeout=10000)

    torch.manual_seed(5)
    good = create("simple", widths=(4, 8), in_channels=1)
    save_checkpoint(good, tmp_path / "good")
    ws.load_weights(str(tmp_path / "good.safetensors"))
    qtbot.waitUntil(lambda: ws.weights_label.text() == "good.safetensors", timeout=10000)
    settle(qtbot, ws)
    assert not ws.banner.isVisible()
    got = ws._builder_view.kernels["blocks.0.conv"]
    assert np.array_equal(got, good.blocks[0].conv.weight.detach().numpy())
    assert ws.current_spec().weight_state == "trained"


def test_weights_for_another_backbone_name_it(qtbot, ws, shared):
    path = shared("weights", "resnet20_cifar10-12fca82f.th")
    ws.load_weights(str(path))
    qtbot.waitUntil(ws.banner.isVisible, timeout=10000)
    text = ws.banner.text()
    assert "Could not load resnet20_cifar10-12fca82f.th" in text and "this file is for resnet20" in text
    assert ws.backbone.currentData() == "simple" and ws.current_spec().weights is None


def test_add_to_session_with_editable_name(qtbot, ws):
    ws.name_edit.setText("tiny net")
    assert ws.add_to_session() == "tiny net"
    spec = ws.session.models["tiny net"]
    assert spec.backbone == "simple" and spec.kwargs["widths"] == (4, 8) and spec.label == "tiny net"
    assert ws.add_to_session() == "tiny net (2)"
    # the session's models become kernel sources
    assert ws.panel_b.source.findData("session:tiny net") >= 0
    ws.panel_b.select_source("session:tiny net")
    qtbot.waitUntil(lambda: ws.panel_b.mosaic() is not None, timeout=10000)
    ws.session.remove_model("tiny net")
    qtbot.waitUntil(lambda: ws.panel_b.source.findData("session:tiny net") < 0, timeout=5000)
    assert ws.panel_b.source_id() == "builder" and ws.panel_b.view() is ws._builder_view


def test_compare_two_models_side_by_side(qtbot, ws, shared):
    shared("weights", "resnet20_cifar10-12fca82f.th")
    ws.backbone.setCurrentIndex(ws.backbone.findData("resnet20"))
    settle(qtbot, ws)
    sid = next(ws.panel_b.source.itemData(i) for i in range(ws.panel_b.source.count())
               if ws.panel_b.source.itemText(i) == "resnet20 (trained, CIFAR-10)")
    ws.panel_b.select_source(sid)
    qtbot.waitUntil(lambda: ws.panel_b.mosaic() is not None and not ws.busy(), timeout=20000)
    a, b = ws.panel_a.mosaic(), ws.panel_b.mosaic()
    assert a.colour and b.colour and a.shown == b.shown == 16  # conv1: RGB filters in colour
    assert ws.panel_b.layer_path() == ws.panel_a.layer_path() == "conv1"
    assert not np.array_equal(a.rgb, b.rgb)
    assert "CKA" in ws.compare.text()
    assert ws.panel_b.describe_point(1.5, 1.5).startswith("filter 0: min ")
    # choosing a deeper layer on one side follows on the other
    ws.panel_a.select_layer("layer2.0.conv1")
    assert ws.panel_b.layer_path() == "layer2.0.conv1"
    assert ws.panel_b.mosaic().rgb.shape == ws.panel_a.mosaic().rgb.shape


def test_settings_remembered(qtbot, ws, settings):
    from widgets.models.workspace import ModelsWorkspace

    ws.backbone.setCurrentIndex(ws.backbone.findData("lc-resnet20"))
    settle(qtbot, ws)
    e = ws.option_widget("expansion")
    e.setValue(2)
    settle(qtbot, ws)
    ws.seed.setValue(7)
    settle(qtbot, ws)
    ws.set_layer_frozen("linear", True)
    settle(qtbot, ws)
    ws.shutdown()
    again = ModelsWorkspace(Session(), settings)
    qtbot.addWidget(again)
    settle(qtbot, again)
    assert again.backbone.currentData() == "lc-resnet20"
    assert again.option_widget("expansion").value() == 2 and again.seed.value() == 7
    assert again.current_spec().freeze == ("linear",)
    # lc blocks: frozen random 3x3 convs, learned 1x1 convs
    assert again._builder_view.frozen > 0 and again._builder_view.trainable > 0
    again.shutdown()


def test_workbench_bank_into_a_layer(qtbot, ws):
    from PySide6.QtWidgets import QComboBox

    from app.kernels.bank import KernelBank
    from widgets.models.workspace import COL_BANK

    w = np.random.default_rng(1).standard_normal((4, 1, 3, 3)).astype(np.float32)
    ws.session.put_bank("edges", KernelBank(w, np.array([True, False, False, False]), name="edges"))
    ws.session.put_bank("too big", KernelBank(np.zeros((8, 1, 5, 5), np.float32), None, name="too big"))
    qtbot.waitUntil(lambda: ws.table.cellWidget(0, COL_BANK).findData("bank:edges") >= 0, timeout=5000)
    combo = ws.table.cellWidget(0, COL_BANK)
    assert combo.itemText(combo.findData("bank:too big")).startswith("bank: too big (shape")
    combo.setCurrentIndex(combo.findData("bank:edges"))
    settle(qtbot, ws)
    spec = ws.current_spec()
    assert [name for name, _ in spec.banks] == ["conv1"] and spec.weight_state == "hand-designed"
    assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], w)
    assert ws._builder_view.rows[0].frozen == 9  # one frozen kernel of 3x3
    assert ws.table.item(0, 7).checkState() == Qt.CheckState.PartiallyChecked
    # a bank that does not fit: a clear error, the last good model stays
    combo = ws.table.cellWidget(0, COL_BANK)
    combo.setCurrentIndex(combo.findData("bank:too big"))
    qtbot.waitUntil(ws.banner.isVisible, timeout=10000)
    assert "has shape (8, 1, 5, 5)" in ws.banner.text()
    assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], w)
    # the bank leaves the session: the layer goes back to the model's init, with a note
    combo = ws.table.cellWidget(0, COL_BANK)
    combo.setCurrentIndex(combo.findData("bank:edges"))
    settle(qtbot, ws)
    ws.session.remove_bank("edges")
    qtbot.waitUntil(lambda: "'edges' was removed" in ws.banner.text(), timeout=5000)
    settle(qtbot, ws)
    assert ws.current_spec().banks == () and not np.array_equal(ws._builder_view.kernels["blocks.0.conv"], w)


def test_per_layer_initialisation(qtbot, ws):
    from app.models.build import build

    combo = ws.layer_init_combo("conv2")
    combo.setCurrentIndex(combo.findData("init:signed-constant"))
    settle(qtbot, ws)
    w2 = ws._builder_view.kernels["blocks.1.conv"]
    mag = np.sqrt(2.0 / (4 * 9))
    assert np.allclose(np.abs(w2), mag)  # every weight +-sqrt(2/fan_in)
    assert not np.allclose(np.abs(ws._builder_view.kernels["blocks.0.conv"]), np.sqrt(2.0 / 9))
    spec = ws.final_spec()
    assert [n for n, _ in spec.banks] == ["conv2"] and "conv2: signed-constant" in spec.label
    # the session gets the complete spec: it rebuilds to the same kernels
    name = ws.add_to_session()
    rebuilt = build(ws.session.models[name], device="cpu")
    assert np.array_equal(rebuilt.blocks[1].conv.weight.detach().numpy(), w2)
    # changing the depth keeps the choice where the layer still exists
    w = ws.option_widget("widths")
    w.setText("4, 8, 8")
    w.textEdited.emit(w.text())
    settle(qtbot, ws)
    assert np.allclose(np.abs(ws._builder_view.kernels["blocks.1.conv"]), mag)
    assert ws.layer_init_combo("conv2").currentData() == "init:signed-constant"
    # toggles of layers an option change removed are skipped (with a note), not an error
    ws.set_layer_frozen("blocks.2.conv", True)
    settle(qtbot, ws)
    w.setText("4, 8")
    w.textEdited.emit(w.text())
    settle(qtbot, ws)
    assert not ws.banner.isVisible() and ws.table.rowCount() == 2
    assert "blocks.2.conv: no such layer any more" in ws.status.text()
    assert "blocks.2.conv" not in ws.final_spec().freeze


def test_a_long_bank_name_does_not_push_the_initialisation_column_out_of_view(qtbot):
    """The column was as wide as the longest bank entry ("bank: gabor bank (shape (16, 3, 11, 11))"), wider than the
    table's room: the combos showed "(model ini" cut by the edge. Now it fits "(model init)" whatever the banks."""
    from app.kernels.bank import KernelBank
    from app.models import viz
    from app.models.spec import ModelSpec
    from widgets.models.layer_table import COL_BANK, LayerTable

    spec = ModelSpec.make("resnet20", seed=0)
    table = LayerTable()
    qtbot.addWidget(table)
    table.resize(1000, 400)
    table.show()
    long_bank = KernelBank(np.zeros((16, 3, 11, 11), np.float32), None, name="gabor bank")
    table.fill(viz.snapshot(viz.build_model(spec), spec), {"gabor bank": long_bank}, {})
    combo = table.table.cellWidget(0, COL_BANK)
    entry = combo.itemText(combo.findData("bank:gabor bank"))
    assert entry == "bank: gabor bank (shape (16, 3, 11, 11))"
    width = table.table.columnWidth(COL_BANK)
    metrics = combo.fontMetrics()
    assert metrics.horizontalAdvance("(model init)") < width < metrics.horizontalAdvance(entry)
    assert width >= combo.sizeHint().width() and combo.currentText() == "(model init)"


def test_a_backbone_without_weights_is_named_for_what_it_holds():
    """scattering's wavelets are fixed, patches' filters are fitted to the data: neither is "random"."""
    from widgets.models.words import auto_name, unweighted

    assert auto_name("rdsn", {}, "default", None, ()) == "rdsn (random)"
    assert auto_name("scattering", {}, "default", None, ()) == "scattering (hand-designed)"
    assert auto_name("patches", {}, "default", None, ()) == "patches (fitted to the data)"
    assert unweighted("resnet20") == "random"


def test_load_weights_keeps_the_checkpoints_frozen_kernels_and_its_input(qtbot, ws, tmp_path, fe_home):
    """A checkpoint trained with a Workbench bank frozen (its sidecar names the bank and flags): Load weights built it
    with nothing frozen (training further here would change kernels the user froze) and without the input it was
    trained on, where the CLI's eval keeps both."""
    from app.kernels import generate, io
    from app.models.build import spec_from_checkpoint
    from tests.cli_inprocess import run_cli

    bank = generate("dct", 4, 3, 1, name="dct4").with_frozen(None, True)
    io.save(bank, tmp_path / "bank.json")
    r = run_cli("train", "--backbone", "simple", "--options", "widths=4,8", "in_channels=1", "--dataset", "digits",
                "--bank", f"conv1={tmp_path / 'bank.json'}", "--train-limit", "200", "--test-limit", "50",
                "--epochs", "1", "--out", str(tmp_path / "run"), home=fe_home)
    assert r.returncode == 0, r.stderr
    ck = spec_from_checkpoint(tmp_path / "run.safetensors")
    assert [(layer, b.frozen_count()) for layer, b in ck.banks] == [("conv1", 4)] and ck.input is not None
    ws.load_weights(str(tmp_path / "run.safetensors"))
    qtbot.waitUntil(lambda: ws.weights_label.text() == "run.safetensors", timeout=10000)
    settle(qtbot, ws)
    spec = ws.final_spec()
    assert [(layer, b.frozen_count()) for layer, b in spec.banks] == [("conv1", 4)]
    assert spec.input == ck.input
    assert ws.totals.text() == "426 parameters: 390 trainable, 36 frozen"  # the 4 frozen 3x3 kernels
