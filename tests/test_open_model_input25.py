"""The input dialog of "Open model…" (audit G, finding 5): it starts from what the app knows of the file (its
channels, the size it fixes) instead of the MNIST 28 / ImageNet 224 defaults; an answer is remembered only once the
model built with it (a wrong one does not lock the file: the next Open asks again); "Change input…" asks again for
an opened model and rebuilds it in place."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog
from torch import nn

from app.models.inputs import declared
from app.session import Session
from widgets.models.input_dialog import InputDialog, Prefill, remember, remembered

pytestmark = pytest.mark.gui


def flat_net(channels: int, size: int) -> nn.Module:
    """A CNN whose classifier follows a flatten: it runs at ``size`` x ``size`` only."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * size * size, 10)).eval()


def conv_net(channels: int) -> nn.Module:
    """Fully convolutional: runs at any size."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).eval()


def save_script(m: nn.Module, path) -> str:
    torch.jit.save(torch.jit.script(m), str(path))
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
    yield w
    w.shutdown()


@pytest.fixture
def dialogs(monkeypatch):
    """The real input dialog, accepted as it opens (the user presses OK on what it proposes); each one is kept."""
    seen: list[InputDialog] = []

    def exec_(self):
        seen.append(self)
        self.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(InputDialog, "exec", exec_)
    return seen


def answering(ws, *answers):
    """Replace the dialog by these answers in turn; the calls (name, channels, prefill) are returned."""
    asked: list[tuple] = []
    todo = list(answers)

    def ask(_parent, name, channels, prefill=None):
        asked.append((name, channels, prefill))
        return todo.pop(0)

    ws.own.ask_input = ask
    return asked


def open_and_wait(qtbot, ws, source: str) -> None:
    ws.own.open_source(source)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_dialog_proposes_the_size_the_file_fixes_and_the_model_opens_with_it(qtbot, ws, dialogs, tmp_path,
                                                                                 channels):
    """A model that runs at 32x32 only: OK on what the dialog proposes opens it (it used to propose 28 / 224)."""
    path = save_script(flat_net(channels, 32), tmp_path / f"flat{channels}.pt")
    open_and_wait(qtbot, ws, path)
    assert len(dialogs) == 1
    d = dialogs[0]
    assert d.size.text() == "32" and d.channels.currentData() == channels
    assert "fixed" in d.fixed_note.text() and f"{channels}×32×32" in d.note.text()
    assert not ws.own.banner.isVisibleTo(ws.own), ws.own.banner.text()
    spec = ws.session.models[f"flat{channels}.pt"]
    assert spec.input.size == (32, 32) and spec.input.channels == channels
    assert ws.own.entries[f"flat{channels}.pt"][0].default_input == (channels, 32, 32)


def test_a_preset_does_not_change_what_the_file_fixes():
    d = InputDialog("flat.pt", 3, None, Prefill(size=(16, 16)))
    d.preset.setCurrentIndex(d.preset.findData("mnist"))  # would be 28 and grey
    assert d.size.text() == "16" and d.channels.currentData() == 3
    assert d.spec().size == (16, 16) and d.spec().mean == (0.1307,) * 3
    plain = InputDialog("net.pt", 1)  # nothing known: the defaults as they were
    assert plain.preset.currentData() == "mnist" and plain.size.text() == "28" and not plain.fixed_note.text()


def test_a_failed_build_is_not_remembered_and_the_next_open_asks_again(qtbot, ws, settings, tmp_path):
    """A 16x16-only model (no size the app can find by itself): a wrong answer fails and is not kept; the right one
    is, once the model built."""
    path = save_script(flat_net(1, 16), tmp_path / "flat16.pt")
    asked = answering(ws, declared(1, (28, 28), preset="mnist"), declared(1, (16, 16), preset="mnist"))
    open_and_wait(qtbot, ws, path)
    assert ws.own.banner.isVisibleTo(ws.own) and "28x28" in ws.own.banner.text()
    assert "Open it again" in ws.own.banner.text()
    assert remembered(settings, path) is None and ws.session.models == {}
    open_and_wait(qtbot, ws, path)
    assert len(asked) == 2  # asked again, not locked into 28
    assert not ws.own.banner.isVisibleTo(ws.own), ws.own.banner.text()
    assert ws.session.models["flat16.pt"].input.size == (16, 16)
    assert remembered(settings, path).size == (16, 16)
    ws.session.remove_model("flat16.pt")  # (while it is open, a second Open selects it)
    open_and_wait(qtbot, ws, path)
    assert len(asked) == 2 and ws.session.models["flat16.pt"].input.size == (16, 16)


def test_a_remembered_answer_that_does_not_build_is_forgotten(qtbot, ws, settings, tmp_path):
    """An answer kept by an older version (or one that no longer builds): one failed open, then asked again."""
    path = save_script(flat_net(1, 16), tmp_path / "flat16.pt")
    remember(settings, path, None, declared(1, (28, 28), preset="mnist"))
    asked = answering(ws, declared(1, (16, 16), preset="unit"))
    open_and_wait(qtbot, ws, path)
    assert asked == [] and ws.own.banner.isVisibleTo(ws.own)
    assert remembered(settings, path) is None
    open_and_wait(qtbot, ws, path)
    assert len(asked) == 1 and ws.session.models["flat16.pt"].input.size == (16, 16)


def test_change_input_rebuilds_the_model_in_place_and_remembers_it(qtbot, ws, settings, tmp_path):
    path = save_script(conv_net(1), tmp_path / "grey.pt")
    first = declared(1, (28, 28), preset="mnist")
    new = declared(1, (40, 40), preset="unit")
    asked = answering(ws, first, new)
    assert not ws.own.input_btn.isEnabled() and ws.own.input_btn.toolTip()
    open_and_wait(qtbot, ws, path)
    assert ws.own.input_btn.isEnabled()
    qtbot.mouseClick(ws.own.input_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    name, channels, prefill = asked[1]
    assert (name, channels) == ("grey.pt", 1) and prefill.current == first and prefill.size is None
    assert list(ws.session.models) == ["grey.pt"]  # in place, not a second entry
    assert ws.session.models["grey.pt"].input == new and ws.own.entries["grey.pt"][0].default_input == (1, 40, 40)
    assert "40x40" in ws.own.info.text() and not ws.own.banner.isVisibleTo(ws.own)
    assert remembered(settings, path) == new
    ws.session.remove_model("grey.pt")  # (while it is open, a second Open selects it)
    open_and_wait(qtbot, ws, path)  # opened again: the new answer, not asked
    assert len(asked) == 2 and ws.session.models["grey.pt"].input == new


def test_a_changed_input_that_fails_keeps_the_model_as_it_was(qtbot, ws, settings, tmp_path, dialogs):
    path = save_script(flat_net(1, 32), tmp_path / "flat32.pt")
    open_and_wait(qtbot, ws, path)
    before = ws.session.models["flat32.pt"]
    answering(ws, declared(1, (28, 28), preset="mnist"))
    ws.own.change_input()
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    assert "keeps the input it had" in ws.own.banner.text()
    assert ws.session.models == {"flat32.pt": before} and remembered(settings, path) == before.input


def test_the_change_dialog_starts_from_the_current_input():
    mine = declared(1, (16, 16), 0.5, 0.5, interpolation="nearest")
    d = InputDialog("net.pt", 1, None, Prefill(current=mine))
    assert d.preset.currentData() == "current" and d.size.text() == "16" and d.channels.currentData() == 1
    assert d.spec() == mine
    d.preset.setCurrentIndex(d.preset.findData("cifar10"))  # a preset: its size, its statistics
    assert d.spec().size == (32, 32) and d.spec().interpolation == "nearest"
    known = InputDialog("net.pt", 3, None, Prefill(current=declared(3, None, preset="imagenet")))
    assert known.preset.currentData() == "imagenet" and known.size.text() == "" and known.preset.findData("current") < 0
