"""Kernel editor values, driven with the keyboard as a person does: Enter on a cell's shown value changes nothing
(channel "all" shows the channels' mean; single channels show the exact float32), a value beyond float32 is
refused with a message, and the generator's number boxes hold every value of their range (std's 1e-6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

from app.kernels import generators
from app.kernels.bank import KernelBank
from app.session import Session

pytestmark = pytest.mark.gui


@pytest.fixture
def ws(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    w = KernelWorkspace(Session(), QSettings(str(Path(fe_home) / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    w.wait_ready(10000)
    yield w
    w.shutdown()


def _generate(ws, qtbot, kind: str, n: int, k: int, c: int) -> None:
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData(kind))
    ws.gen.count_spin.setValue(n)
    ws.gen.size_spin.setValue(k)
    ws.gen.in_spin.setValue(c)
    qtbot.mouseClick(ws.gen.generate_button, Qt.MouseButton.LeftButton)
    ws.wait_ready(10000)
    assert ws.bank.shape == (n, c, k, k) and ws.bank.meta["generator"] == kind


def _go_to(ws, qtbot, r: int, c: int) -> None:
    """Move the grid's cursor with the arrow keys (Home: column 0)."""
    grid = ws.editor.grid
    grid.setFocus()
    qtbot.keyClick(grid, Qt.Key.Key_Home)
    for _ in range(grid.size_k):
        qtbot.keyClick(grid, Qt.Key.Key_Up)
    for _ in range(r):
        qtbot.keyClick(grid, Qt.Key.Key_Down)
    for _ in range(c):
        qtbot.keyClick(grid, Qt.Key.Key_Right)
    assert grid.cursor_rc == (r, c)


def _type_value(ws, qtbot, text: str) -> None:
    """F2 on the cursor's cell, replace the pre-filled (selected) text by ``text``, Enter."""
    grid = ws.editor.grid
    qtbot.keyClick(grid, Qt.Key.Key_F2)
    qtbot.keyClicks(grid.editor(), text)  # the pre-filled text is selected: typing replaces it
    qtbot.keyClick(grid.editor(), Qt.Key.Key_Return)


def test_enter_on_the_shown_mean_of_differing_channels_changes_nothing(ws, qtbot):
    """3 input channels, channel "all": the grid shows the channels' mean; F2 (or Enter) then Enter left it in every
    channel, with an undo step, and moved down, so holding Enter wiped a column."""
    _generate(ws, qtbot, "kaiming-normal", 4, 5, 3)
    assert ws.editor.channel_combo.currentText() == "all (mean shown)"  # the channels differ
    grid = ws.editor.grid
    before = ws.bank
    column = np.array(before.weights[0, :, :, 2], copy=True)  # (C, k): differing channels
    assert np.all(np.ptp(column, axis=0) > 0)
    undo = ws.history.undo_label()
    _go_to(ws, qtbot, 0, 2)
    assert "mean of the channels, which differ" in ws.editor.cell_label.text()
    qtbot.keyClick(grid, Qt.Key.Key_F2)
    shown = grid.editor().text()
    assert np.float32(float(shown)) == before.weights[0, :, 0, 2].mean()  # the mean is what the editor shows
    qtbot.keyClick(grid.editor(), Qt.Key.Key_Return)
    assert ws.bank is before and grid.cursor_rc == (1, 2)  # Enter still moves down, like a spreadsheet ...
    assert grid.editor().isVisible()  # ... where the editor opens again (the Enter reaches the grid)
    for r in range(1, grid.size_k):  # Enter, Enter ... down the whole column: each cell shows its mean
        assert np.float32(float(grid.editor().text())) == before.weights[0, :, r, 2].mean()
        qtbot.keyClick(grid.editor(), Qt.Key.Key_Return)
    assert ws.bank is before and ws.history.undo_label() == undo
    assert ws.bank.weights.tobytes() == before.weights.tobytes()
    # a value typed is an edit: every channel takes it, one undo step
    _go_to(ws, qtbot, 3, 1)
    _type_value(ws, qtbot, "0.5")
    assert ws.bank.weights[0, :, 3, 1].tolist() == [0.5, 0.5, 0.5]
    assert ws.history.undo_label() == "set cell (3, 1) of kernel 1"
    np.testing.assert_array_equal(ws.bank.weights[0, :, :, 2], column)


def test_a_single_channels_value_is_shown_exactly_and_enter_keeps_it_bit_for_bit(ws, qtbot):
    """-0.20406781 was pre-filled as -0.2040678 (7 significant digits) and stored back as -0.20406780."""
    w = np.zeros((2, 1, 5, 5), dtype=np.float32)
    w[0, 0, 3, 3] = -0.20406781
    w[0, 0, 1, 1] = 1.0000001  # the float32 just above 1: 7 digits read back as 1
    w[0, 0, 2, 4] = 123456789  # float32 holds 123456792
    w[0, 0, 4, 0] = 1.4e-45  # float32's smallest (subnormal)
    ws.set_bank(KernelBank(w, None, "exact"), "exact values")
    before = ws.bank
    undo = ws.history.undo_label()
    grid = ws.editor.grid
    for (r, c), text in {(3, 3): "-0.20406781", (1, 1): "1.0000001", (2, 4): "1.2345679e8",
                         (4, 0): "1e-45"}.items():
        _go_to(ws, qtbot, r, c)
        qtbot.keyClick(grid, Qt.Key.Key_F2)
        assert grid.editor().text() == text
        assert np.float32(float(grid.editor().text())) == before.weights[0, 0, r, c]  # reads back bit for bit
        qtbot.keyClick(grid.editor(), Qt.Key.Key_Return)
    assert ws.bank is before and ws.history.undo_label() == undo
    # editing another cell leaves them as they were, bit for bit
    _go_to(ws, qtbot, 0, 0)
    _type_value(ws, qtbot, "2")
    after = np.array(ws.bank.weights, copy=True)
    assert after[0, 0, 0, 0] == 2
    after[0, 0, 0, 0] = 0
    assert after.tobytes() == w.tobytes()


def test_a_value_beyond_float32_is_refused_with_a_message(ws, qtbot):
    """1e39 became inf in float32: the bank raised inside the slot, no message, the edit silently dropped."""
    _generate(ws, qtbot, "kaiming-normal", 2, 5, 1)
    grid = ws.editor.grid
    before = ws.bank
    for text in ("1e39", "-3.5e38"):
        _go_to(ws, qtbot, 1, 1)
        _type_value(ws, qtbot, text)
        assert ws.bank is before and ws.bank.weights.tobytes() == before.weights.tobytes()
        assert ws.last_status == (f"Not changed: {text} is outside the float32 range of a kernel "
                                  "(about ±3.4e38)")
        # the cursor stays, and the editor shows the cell's value as it was
        assert grid.cursor_rc == (1, 1) and np.float32(float(grid.editor().text())) == before.weights[0, 0, 1, 1]
    # values near float32's largest are values like any other
    _type_value(ws, qtbot, "-3.4e38")
    assert ws.bank.weights[0, 0, 1, 1] == np.float32(-3.4e38)
    # ... until an edit's result leaves the range: zero sum with a mirror, two cells of 3.4e38 shift the others
    # down by ~2.8e37, and the cell of -3.26e38 (after the zero sum) to -3.54e38: -inf in float32
    before = ws.bank
    ws.editor.symmetry_combo.setCurrentText("mirror x")
    ws.editor.zero_sum_check.setChecked(True)
    zero_summed = ws.bank
    assert zero_summed is not before and np.isfinite(zero_summed.weights).all()
    _go_to(ws, qtbot, 0, 0)
    _type_value(ws, qtbot, "3.4e38")
    assert ws.bank is zero_summed
    assert ws.last_status == ("Not changed: set cell (0, 0) of would leave values outside the float32 range of a "
                              "kernel (about ±3.4e38)")


def _type_into_spin(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_the_gaussian_std_box_holds_its_minimum_and_generates_with_it(ws, qtbot):
    """A 4-decimal box showed std's minimum 1e-6 as 0.0000, held 0, and Generate failed "std must be in 1e-06..100
    (got 0.0)"."""
    gen = ws.gen
    gen.kind_combo.setCurrentIndex(gen.kind_combo.findData("gaussian"))
    std = gen.param_widgets["std"]
    assert std.minimum() == 1e-6
    for text, value, shown in (("0.00004", 4e-5, "0.00004000"), ("0.0000025", 2.5e-6, "0.00000250"),
                               ("0.000001", 1e-6, "0.00000100"), ("0.123456", 0.123456, "0.12345600"),
                               ("100", 100.0, "100.00000000")):
        _type_into_spin(qtbot, std, text)
        assert std.value() == value and std.text().replace(std.locale().decimalPoint(), ".") == shown
    _type_into_spin(qtbot, std, "0")  # below the range: not taken
    assert std.value() == 100.0
    _type_into_spin(qtbot, std, "0.000001")
    gen.count_spin.setValue(4)
    gen.size_spin.setValue(5)
    gen.in_spin.setValue(1)
    qtbot.mouseClick(gen.generate_button, Qt.MouseButton.LeftButton)
    ws.wait_ready(10000)
    assert ws.bank.meta["generator"] == "gaussian" and ws.bank.shape == (4, 1, 5, 5)
    assert ws.bank.meta["params"]["std"] == 1e-6
    assert 0 < np.abs(ws.bank.weights).max() < 1e-5


def test_every_generator_number_box_holds_both_ends_of_its_range(ws, qtbot):
    """Every numeric parameter of every kind: its box takes the range's ends typed, and shows them back."""
    gen = ws.gen
    seen = 0
    for kind in generators.kinds():
        gen.kind_combo.setCurrentIndex(gen.kind_combo.findData(kind.name))
        for p in kind.params:
            if isinstance(p.default, str):
                continue
            spin = gen.param_widgets[p.name]
            assert (spin.minimum(), spin.maximum()) == (p.minimum, p.maximum), (kind.name, p.name)
            for end in (p.maximum, p.minimum):
                _type_into_spin(qtbot, spin, spin.textFromValue(end))
                assert spin.value() == end, (kind.name, p.name, spin.text())
                assert p.coerce(spin.value(), kind.name) == end
            seen += 1
    assert seen >= 10


def test_up_or_down_in_the_cell_editor_puts_the_value_in_the_cell_being_edited(ws):
    """Down in the open cell editor moved the cursor with the editor left open over the old cell, and the value typed
    then went into the cell the cursor had reached."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    g = ws.editor.grid
    ch = ws.editor.channel()
    g.setFocus()
    g._move(2, 2)
    QTest.keyClick(g, Qt.Key.Key_F2)
    e = g.editor()
    e.selectAll()
    QTest.keyClicks(e, "0.5")
    QTest.keyClick(e, Qt.Key.Key_Down)  # the value goes into (2, 2), then the cursor moves to (3, 2)
    assert not e.isVisible() and g.cursor_rc == (3, 2)
    w = ws.bank.weights[ws.selected]
    cells = w[:, 2, 2] if ch < 0 else w[ch, 2, 2]
    assert np.all(cells == np.float32(0.5))
    below = ws.bank.weights[ws.selected][:, 3, 2].copy()
    QTest.keyClick(g, Qt.Key.Key_F2)
    QTest.keyClick(g.editor(), Qt.Key.Key_Up)  # unchanged text and Up: no edit, the cursor moves up
    assert g.cursor_rc == (2, 2) and np.array_equal(ws.bank.weights[ws.selected][:, 3, 2], below)


def test_a_picked_value_is_painted_exactly(ws, qtbot):
    """Shift+click picks a cell's value as the brush; the brush box shows 4 decimals, and 0.123456 was painted as
    0.1235."""
    k = np.zeros(ws.bank.shape[1:], np.float32)
    k[:, 0, 0] = 0.123456
    ws.set_bank(ws.bank.with_kernel(ws.selected, k), "set")
    g = ws.editor.grid
    qtbot.mouseClick(g, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, g.cell_rect(0, 0).center())
    assert ws.editor.brush_spin.value() == pytest.approx(0.1235) and g.brush == pytest.approx(0.123456, abs=1e-7)
    qtbot.mouseClick(g, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, g.cell_rect(1, 1).center())
    w = ws.bank.weights[ws.selected]
    assert np.all(w[:, 1, 1] == w[:, 0, 0]) and w[0, 1, 1] == np.float32(0.123456)
    ws.editor.brush_spin.setValue(0.5)  # typed in the box: its value again
    assert g.brush == 0.5


def test_a_typed_value_left_in_the_cell_editor_is_saved_applied_on_a_click_elsewhere_and_escape_drops_it(
        ws, qtbot, tmp_path, monkeypatch):
    """A value typed in a cell and not entered was left out of Ctrl+S (the status said Saved, the file held the old
    value), then thrown away when the focus left the editor."""
    from app.kernels import io

    _generate(ws, qtbot, "kaiming-normal", 4, 3, 1)
    g = ws.editor.grid
    _go_to(ws, qtbot, 0, 0)
    qtbot.keyClick(g, "5")  # typing a number opens the editor with it
    qtbot.keyClicks(g.editor(), ".25")  # no Enter
    assert g.editor().isVisible() and g.editor().text() == "5.25"
    out = tmp_path / "typed.json"
    monkeypatch.setattr(ws.files, "ask_save", lambda name: out)
    qtbot.keyClick(g.editor(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S, the focus in the editor
    assert out.exists() and io.load(out).weights[ws.selected, 0, 0, 0] == np.float32(5.25)
    assert ws.bank.weights[ws.selected, 0, 0, 0] == np.float32(5.25)
    _go_to(ws, qtbot, 1, 1)
    qtbot.keyClick(g, "-")
    qtbot.keyClicks(g.editor(), "2")
    ws.gen.count_spin.setFocus()  # a click elsewhere
    qtbot.waitUntil(lambda: not g.editor().isVisible())
    assert ws.bank.weights[ws.selected, 0, 1, 1] == np.float32(-2.0)
    assert ws.gen.count_spin.hasFocus()  # the focus stays where the user put it
    _go_to(ws, qtbot, 2, 2)
    before = ws.bank.weights[ws.selected, 0, 2, 2]
    qtbot.keyClick(g, "7")
    qtbot.keyClick(g.editor(), Qt.Key.Key_Escape)
    assert not g.editor().isVisible() and g.hasFocus()
    ws.gen.count_spin.setFocus()
    assert ws.bank.weights[ws.selected, 0, 2, 2] == before  # dropped
