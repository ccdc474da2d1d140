"""Kernel Workbench details an audit found (session 31): the generator's count restored under the default size's
maximum, Copy with the channel "all" copying channel 1's numbers, a renamed bank's title and modified state, and
`kernels show` of a New bank saying "seed None"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.kernels import generate, io, ops
from app.kernels.bank import KernelBank


def test_show_of_a_new_bank_names_no_seed():
    empty = KernelBank(np.zeros((4, 1, 3, 3), np.float32), None, "new bank", {"generator": "empty"})
    text = io.describe(empty)
    assert "made by: empty" in text and "seed" not in text
    assert "seed 3" in io.describe(generate("kaiming-normal", 4, 3, 1, seed=3))
    assert "seed" not in io.describe(generate("dct", 4, 3, 1))


def test_channels_to_text_names_each_channel():
    k = np.arange(2 * 2 * 2, dtype=np.float32).reshape(2, 2, 2)
    assert ops.channels_to_text(k) == "channel 1\n0\t1\n2\t3\n\nchannel 2\n4\t5\n6\t7"
    assert ops.channels_to_text(k[:1]) == "0\t1\n2\t3"


@pytest.mark.gui
def test_generator_count_comes_back_above_the_default_sizes_maximum(qtbot, tmp_path):
    from widgets.application import make_app
    from widgets.kernels.generator_panel import GeneratorPanel

    make_app()
    s = QSettings(str(tmp_path / "g.ini"), QSettings.Format.IniFormat)
    p = GeneratorPanel(s)
    qtbot.addWidget(p)
    p.kind_combo.setCurrentIndex(p.kind_combo.findData("dct"))
    p.size_spin.setValue(15)
    p.count_spin.setValue(200)  # a 15x15 DCT has 225 kernels; the default size's 121 fewer
    assert p.count_spin.value() == 200
    p.save()
    s.sync()
    q = GeneratorPanel(s)
    qtbot.addWidget(q)
    q.restore()
    assert (q.size_spin.value(), q.count_spin.value()) == (15, 200)


@pytest.mark.gui
def test_copy_with_channel_all_copies_every_channel(qtbot):
    from PySide6.QtGui import QGuiApplication

    from widgets.application import make_app
    from widgets.kernels.editor_panel import EditorPanel

    make_app()
    b = generate("kaiming-normal", 2, 3, 3, seed=0)
    e = EditorPanel()
    qtbot.addWidget(e)
    e.show_kernel(b, 0)
    assert e.channel() == -1  # "all": the grid shows the channels' mean
    e.copy_kernel()
    assert QGuiApplication.clipboard().text() == ops.channels_to_text(b.weights[0])
    e.channel_combo.setCurrentIndex(e.channel_combo.findData(1))
    e.copy_kernel()
    assert QGuiApplication.clipboard().text() == ops.kernel_to_text(b.weights[0, 1])


@pytest.mark.gui
def test_a_renamed_bank_keeps_its_file_in_the_title_and_is_modified(qtbot, fe_home, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from app.session import Session
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    ws = KernelWorkspace(Session(), QSettings(str(Path(fe_home) / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.show()
    ws.wait_ready(10000)
    try:
        monkeypatch.setattr(ws.files, "ask_save", lambda name: tmp_path / "b.json")
        assert ws.save_bank_as()
        assert "b.json" in ws.title_label.text() and "modified" not in ws.title_label.text()
        monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("my edges", True)))
        ws.rename_bank()
        assert "my edges" in ws.title_label.text() and "b.json · modified" in ws.title_label.text()
        assert io.load(tmp_path / "b.json").name != "my edges"  # the file still holds the old name
        assert ws.save_bank() and io.load(tmp_path / "b.json").name == "my edges"
        assert "modified" not in ws.title_label.text()
    finally:
        ws.shutdown()
