"""Kernel Workbench GUI: the whole path a person takes, driven through the real widgets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.kernels import generate, io, ops
from app.session import Session

pytestmark = pytest.mark.gui


@pytest.fixture
def make_ws(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    made = []

    def make(session=None):
        settings = QSettings(str(Path(fe_home) / "settings.ini"), QSettings.Format.IniFormat)
        ws = KernelWorkspace(session or Session(), settings)
        qtbot.addWidget(ws)
        ws.resize(1400, 860)
        ws.show()
        qtbot.waitExposed(ws)
        ws.wait_ready(10000)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        ws.shutdown()


def _click_tile(qtbot, view, lay, i):
    y, x = lay.origin(i)
    pos = view.widget_pos(x + lay.tile_w / 2, y + lay.tile_h / 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def _tile(rgb, lay, i):
    y, x = lay.origin(i)
    return rgb[y:y + lay.tile_h, x:x + lay.tile_w]


def _button(ws, action):
    return ws.toolbar.widgetForAction(action)


def test_generate_edit_freeze_see_save_reopen(make_ws, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    session = Session()
    ws = make_ws(session)
    # first launch: a useful default is already there (Gabor bank on the sample image)
    assert ws.bank.meta["generator"] == "gabor" and ws.responses.response_view.rgb() is not None
    assert session.banks[ws.bank.name] is ws.bank

    # generate a Gabor bank of 8 kernels 7x7, RGB
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("gabor"))
    ws.gen.count_spin.setValue(8)
    ws.gen.size_spin.setValue(7)
    ws.gen.in_spin.setValue(3)
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    ws.wait_ready(10000)
    assert ws.bank.shape == (8, 3, 7, 7) and ws.bank.meta["generator"] == "gabor"
    before = np.array(ws.responses.response_view.rgb(), copy=True)
    lay = ws.views.responses_layout
    assert lay.count == 8

    # select kernel 3 by clicking it in the bank view
    _click_tile(qtbot, ws.bank_panel.bank_view, ws.bank_panel.mosaic_layout, 2)
    assert ws.selected == 2 and "Kernel 3 of 8" in ws.editor.kernel_label.text()
    y, x = lay.origin(2)  # its response is framed
    hl = ws.responses.response_view.highlight
    assert hl.isVisible() and hl.rect().contains(x + 5, y + 5)

    # hand-edit it: paint a cell with the brush, and type an exact value into another one
    ws.editor.brush_spin.setValue(2.5)
    qtbot.mouseClick(ws.editor.grid, Qt.MouseButton.LeftButton, pos=ws.editor.grid.cell_center(3, 3))
    assert np.all(ws.bank.weights[2, :, 3, 3] == 2.5)  # channel "all"
    ws.editor.grid.setFocus()
    qtbot.keyClick(ws.editor.grid, Qt.Key.Key_Up)
    qtbot.keyClick(ws.editor.grid, "-")  # typing a number opens the cell editor, which then has the focus
    assert ws.editor.grid.editor().isVisible() and ws.editor.grid.editor().text() == "-"
    qtbot.keyClicks(ws.editor.grid.editor(), "1.25")
    qtbot.keyClick(ws.editor.grid.editor(), Qt.Key.Key_Return)
    assert np.all(ws.bank.weights[2, :, 2, 3] == -1.25)
    expected = np.array(ws.bank.weights, copy=True)

    # freeze it: the counts say so, and the bank view frames it dark
    qtbot.mouseClick(ws.bank_panel.freeze_button, Qt.MouseButton.LeftButton)
    assert ws.bank.frozen.tolist() == [False, False, True] + [False] * 5
    assert ws.bank_panel.counts_label.text() == "1 of 8 kernels frozen: 147 frozen / 1,029 trainable parameters"
    y, x = ws.bank_panel.mosaic_layout.origin(2)
    assert tuple(ws.bank_panel.bank_view.rgb()[y + 4, x + 4]) == ops.FROZEN_RGB

    # the responses on the sample image changed for the edited kernel only
    ws.wait_ready(10000)
    after = ws.responses.response_view.rgb()
    assert np.abs(_tile(after, lay, 2).astype(int) - _tile(before, lay, 2)).mean() > 5
    np.testing.assert_array_equal(_tile(after, lay, 0), _tile(before, lay, 0))

    # save (the dialog answers with a path), start a new bank, open the file again
    target = tmp_path / "mine.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    qtbot.mouseClick(_button(ws, ws.save_act), Qt.MouseButton.LeftButton)
    assert target.exists() and target.name in ws.title_label.text()
    qtbot.mouseClick(_button(ws, ws.new_act), Qt.MouseButton.LeftButton)
    assert not ws.bank.weights.any() and ws.bank.frozen_count() == 0
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(target), ""))
    qtbot.mouseClick(_button(ws, ws.open_act), Qt.MouseButton.LeftButton)
    assert ws.bank.weights.tobytes() == expected.tobytes()
    assert ws.bank.frozen.tolist() == [False, False, True] + [False] * 5
    assert ws.bank_panel.counts_label.text().startswith("1 of 8 kernels frozen")
    assert io.load(target).equals(ws.bank)
    assert ws.bank.name in session.banks


def test_symmetry_zero_sum_undo_copy_paste(make_ws, qtbot):
    ws = make_ws()
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("classic"))
    ws.gen.count_spin.setValue(4)
    ws.gen.size_spin.setValue(5)
    ws.gen.in_spin.setValue(1)
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    assert ws.bank.shape == (4, 1, 5, 5)
    ws.editor.symmetry_combo.setCurrentText("mirror x")
    ws.editor.zero_sum_check.setChecked(True)
    ws.editor.brush_spin.setValue(1.0)
    qtbot.mouseClick(ws.editor.grid, Qt.MouseButton.LeftButton, pos=ws.editor.grid.cell_center(0, 0))
    k = ws.bank.weights[0, 0]
    assert k[0, 0] == 1 and k[0, 4] == 1 and abs(float(k.sum())) < 1e-5
    # right button paints minus the brush
    qtbot.mouseClick(ws.editor.grid, Qt.MouseButton.RightButton, pos=ws.editor.grid.cell_center(4, 1))
    assert ws.bank.weights[0, 0, 4, 1] == -1 and ws.bank.weights[0, 0, 4, 3] == -1
    edited = np.array(ws.bank.weights[0], copy=True)
    ws.undo_act.trigger()
    assert ws.bank.weights[0, 0, 4, 1] != -1
    ws.redo_act.trigger()
    np.testing.assert_array_equal(ws.bank.weights[0], edited)
    # copy kernel 1, paste into kernel 3
    ws.copy_act.trigger()
    ws.select(3)
    ws.paste_act.trigger()
    np.testing.assert_array_equal(ws.bank.weights[3], edited)
    # an invalid typed value changes nothing
    snapshot = ws.bank
    ws.editor.grid.setFocus()
    qtbot.keyClicks(ws.editor.grid, "-")
    ws.editor.grid.editor().setText("abc")
    qtbot.keyClick(ws.editor.grid.editor(), Qt.Key.Key_Return)
    assert ws.bank is snapshot and "not a number" in ws.last_status


def test_bad_files_are_refused_and_nothing_is_lost(make_ws, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    ws = make_ws()
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append((title, text)))
    bank = ws.bank
    bad = tmp_path / "cut.json"
    raw = io.to_json_bytes(bank)
    bad.write_bytes(raw[: len(raw) // 3])
    assert not ws.open_dropped(bad)
    assert shown and shown[-1][0] == "Cannot open bank" and "truncated" in shown[-1][1]
    assert ws.bank is bank
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((2, 1, 3, 3), np.nan, np.float32))
    assert not ws.open_dropped(nan)
    assert "NaN" in shown[-1][1] and ws.bank is bank
    # an image dropped on the window becomes the preview image
    import cv2

    img = np.zeros((40, 60, 3), np.uint8)
    img[:, 30:] = 255
    cv2.imwrite(str(tmp_path / "edge.png"), img)
    assert ws.open_dropped(tmp_path / "edge.png")
    ws.wait_ready(10000)
    assert "edge.png" in ws.responses.image_label.text() and ws.views.image.shape == (40, 60, 3)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    assert not ws.open_dropped(tmp_path / "junk.png")
    assert shown[-1][0] == "Cannot open image"
    # Open image... through the toolbar, then back to a built-in sample
    from PySide6.QtWidgets import QFileDialog

    cv2.imwrite(str(tmp_path / "other.jpg"), np.full((30, 50, 3), 90, np.uint8))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tmp_path / "other.jpg"), ""))
    qtbot.mouseClick(_button(ws, ws.image_act), Qt.MouseButton.LeftButton)
    ws.wait_ready(10000)
    assert "other.jpg" in ws.responses.image_label.text() and ws.views.image.shape == (30, 50, 3)
    ws.sample_combo.setCurrentIndex(1)
    ws.sample_combo.activated.emit(1)
    ws.wait_ready(10000)
    assert "flower.jpg" in ws.responses.image_label.text() and max(ws.views.image.shape[:2]) == 256


def test_autosave_restores_the_working_bank(make_ws, qtbot):
    ws = make_ws()
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("gaussian"))
    ws.gen.seed_spin.setValue(5)
    ws.gen.count_spin.setValue(3)
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    ws.bank_panel.freeze_button.click()
    bank = ws.bank
    ws.shutdown()
    again = make_ws()
    assert again.bank.equals(bank)
    assert again.gen.kind_combo.currentData() == "gaussian" and again.gen.seed_spin.value() == 5  # settings remembered
    assert "Restored" in again.last_status


def test_session_bank_list(make_ws, qtbot):
    session = Session()
    ws = make_ws(session)
    other = generate("dct", 4, 3, 1, name="dct from elsewhere")
    session.put_bank(other.name, other)
    idx = ws.bank_panel.bank_combo.findText(other.name)
    assert idx >= 0
    ws.bank_panel.bank_combo.activated.emit(idx)
    assert ws.bank is other and ws.bank.shape == (4, 1, 3, 3)


def test_keyboard_shortcuts_follow_the_visible_tab(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="kernels")
    qtbot.addWidget(win)
    win.show()
    qtbot.waitActive(win)
    ws = win.kernels
    ws.wait_ready(10000)
    before = ws.bank
    ws.editor.grid.setFocus()
    qtbot.keyClick(ws.editor.grid, Qt.Key.Key_Space)  # paint the brush at the cursor
    assert ws.bank is not before and ws.bank.weights[0, :, 0, 0].tolist() == [1.0] * ws.bank.in_channels
    qtbot.keyClick(ws.editor.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ws.bank is before
    qtbot.keyClick(ws.editor.grid, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert ws.bank.frozen[0] and ws.bank_panel.freeze_button.isChecked()
    qtbot.keyClick(ws.editor.grid, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert ws.selected == 1
    win.tabs.setCurrentIndex(1)  # another workspace: the workbench's shortcuts are inactive
    b = ws.bank
    qtbot.keyClick(win.tabs.currentWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ws.bank is b
    win.close()


def test_patches_generate_off_thread_rename_and_drop(make_ws, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent
    from PySide6.QtWidgets import QInputDialog

    session = Session()
    ws = make_ws(session)
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("patches"))
    ws.gen.param_widgets["dataset"].setText("digits")
    ws.gen.count_spin.setValue(6)
    ws.gen.size_spin.setValue(5)
    ws.gen.in_spin.setValue(1)
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.generating(), timeout=20000)
    assert ws.bank.shape == (6, 1, 5, 5) and ws.bank.meta["params"]["dataset"] == "digits"
    assert ws.gen.generate_button.isEnabled() and ws.gen.generate_button.text() == "Generate"

    old = ws.bank.name
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("digit patches", True))
    qtbot.mouseClick(ws.bank_panel.rename_button, Qt.MouseButton.LeftButton)
    assert ws.bank.name == "digit patches" and "digit patches" in session.banks and old not in session.banks
    assert ws.bank_panel.bank_combo.currentText() == "digit patches"

    # a bank file dropped on the window opens
    other = generate("haar", 4, 4, 1, name="dropped haar")
    path = io.save(other, tmp_path / "haar.npz")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    ws.dropEvent(ev)
    assert ws.bank.equals(other) and ws.bank.name == "dropped haar"


def test_a_structured_kinds_count_is_bounded_by_what_it_has(make_ws, qtbot):
    """Classic presets have 12 kernels, DCT k x k: the count box offers no more (Generate used to fail with the
    form's default of 16), and a random kind takes up to 256 again."""
    ws = make_ws()
    ws.gen.count_spin.setValue(16)
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("classic"))
    assert ws.gen.count_spin.maximum() == 12 and ws.gen.count_spin.value() == 12
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    assert ws.bank.shape[0] == 12
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("dct"))
    ws.gen.size_spin.setValue(3)
    assert ws.gen.count_spin.maximum() == 9 and ws.gen.count_spin.value() == 9
    ws.gen.size_spin.setValue(5)
    assert ws.gen.count_spin.maximum() == 25
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData("gaussian"))
    assert ws.gen.count_spin.maximum() == 256
