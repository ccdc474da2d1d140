"""Models workspace, audit N: opened models the session brings back after a restart are listed in "Your model"
(finding 3); the input dialog keeps the channels the file says (4), its summary follows what is typed (5), and it
locks what the file fixes, while a failed "Change input…" says it was a rebuild that failed (6); "expansion (E)" is
shown for the LC ResNet only (17)."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog
from torch import nn

from app.models import session_models
from app.models.inputs import declared
from app.session import Session
from widgets.models.input_dialog import InputDialog, Prefill

pytestmark = pytest.mark.gui


def flat_net(channels: int, size: int) -> nn.Module:
    """Runs at ``size`` x ``size`` only (a classifier after a flatten): the file fixes its input."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * size * size, 10)).eval()


def conv_net(channels: int) -> nn.Module:
    """Fully convolutional: any size."""
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


def workspace(qtbot, settings, session: Session):
    from widgets.models.workspace import ModelsWorkspace

    w = ModelsWorkspace(session, settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(w.builder_ready, timeout=20000)
    return w


@pytest.fixture
def ws(qtbot, settings):
    w = workspace(qtbot, settings, Session())
    yield w
    w.shutdown()


def answering(ws, *answers):
    """The input dialog replaced by these answers in turn."""
    todo = list(answers)
    ws.own.ask_input = lambda _parent, _name, _channels, _prefill=None: todo.pop(0)


def open_and_wait(qtbot, ws, source: str) -> None:
    ws.own.open_source(source)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)


def restarted(qtbot, settings, ws, tmp_path):
    """A second launch: the session's models saved and read back as the window does, a new workspace on them."""
    where = tmp_path / "session-models.json"
    session_models.save(ws.session.models, where)
    restored, notes = session_models.load(where)
    assert notes == []
    ws.shutdown()
    session = Session()
    session.models.update(restored)  # as MainWindow does: no session event
    return workspace(qtbot, settings, session)


# ------------------------------------------------------------------------------------------------ finding 3
def test_models_restored_after_a_restart_are_listed_in_your_model(qtbot, settings, ws, tmp_path):
    path = save_script(conv_net(1), tmp_path / "grey.pt")
    answering(ws, declared(1, (28, 28), preset="mnist"))
    open_and_wait(qtbot, ws, path)
    twin = ws.own.make_twin()
    qtbot.waitUntil(lambda: not ws.own.busy() and twin in ws.own.entries, timeout=60000)
    banks = dict(ws.session.banks)

    again = restarted(qtbot, settings, ws, tmp_path)
    try:
        own = again.own
        before = dict(again.session.models)
        assert set(before) == {"grey.pt", twin}
        again.left_tabs.setCurrentWidget(own)  # the user looks at "Your model"
        qtbot.waitUntil(lambda: set(own.entries) == {"grey.pt", twin} and not own.busy(), timeout=60000)
        assert [own.model_combo.itemText(i) for i in range(own.model_combo.count())] == ["grey.pt", twin]
        assert own.current() == "grey.pt"
        assert "Listed again from the last session" in own.status.text() and twin in own.status.text()
        for w in (own.input_btn, own.twin_btn, own.twin_init, own.twin_seed):
            assert w.isEnabled()
        assert own.tree.topLevelItemCount() > 0 and "grey.pt" in own.info.text()
        assert not own.banner.isVisibleTo(own), own.banner.text()
        # listed, not added again: the session and the Workbench are as they were
        assert again.session.models == before and set(again.session.banks) <= set(banks) | set(again.session.banks)
        assert own.entries["grey.pt"][0].default_input == (1, 28, 28)
        assert own.entries[twin][1] == before["grey.pt"]  # the twin belongs to the trained model
        # the same twin again is the one that came back, not a second one
        assert own.make_twin() == twin and list(again.session.models) == ["grey.pt", twin]
        # Change input… works on a restored model: rebuilt in place
        own.model_combo.setCurrentIndex(0)
        answering(again, declared(1, (40, 40), preset="unit"))
        own.change_input()
        qtbot.waitUntil(lambda: not own.busy(), timeout=60000)
        assert list(again.session.models) == ["grey.pt", twin]
        assert again.session.models["grey.pt"].input.size == (40, 40)
    finally:
        again.shutdown()


def test_a_second_open_of_the_same_unchanged_file_selects_the_open_one(qtbot, ws, tmp_path):
    """A second Open of a file that is open and unchanged on disk made a second copy ("grey.pt (2)", and a line saying
    so); now the one open is selected and the line says so (a file changed since is opened again:
    test_models_gui_walkthrough)."""
    path = save_script(conv_net(1), tmp_path / "grey.pt")
    answering(ws, declared(1, (28, 28), preset="mnist"))
    open_and_wait(qtbot, ws, path)
    assert "second copy" not in ws.own.status.text()
    open_and_wait(qtbot, ws, path)  # not asked again, not opened again
    assert list(ws.session.models) == ["grey.pt"] and ws.own.current() == "grey.pt"
    assert "already open as “grey.pt”" in ws.own.status.text() and "second copy" not in ws.own.status.text()


# ------------------------------------------------------------------------------------------------ finding 4
def test_the_mnist_preset_keeps_the_channels_read_from_the_file():
    d = InputDialog("conv3.pt", 3)
    assert d.channels.currentData() == 3 and d.channels.isEnabled()
    d.preset.setCurrentIndex(d.preset.findData("mnist"))
    assert d.channels.currentData() == 3 and d.size.text() == "28"
    assert d.spec().channels == 3 and d.spec().mean == (0.1307,) * 3
    unknown = InputDialog("net.pt")  # channels not known: the preset's grey, as before
    unknown.preset.setCurrentIndex(unknown.preset.findData("mnist"))
    assert unknown.channels.currentData() == 1


def test_a_colour_model_opened_with_the_mnist_preset_opens(qtbot, ws, tmp_path, monkeypatch):
    def exec_(self):  # the user picks MNIST and presses OK
        self.preset.setCurrentIndex(self.preset.findData("mnist"))
        self.accept()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(InputDialog, "exec", exec_)
    open_and_wait(qtbot, ws, save_script(conv_net(3), tmp_path / "conv3.pt"))
    assert not ws.own.banner.isVisibleTo(ws.own), ws.own.banner.text()
    inp = ws.session.models["conv3.pt"].input
    assert inp.channels == 3 and inp.mean == (0.1307,) * 3


# ------------------------------------------------------------------------------------------------ finding 5
def test_the_summary_follows_what_is_typed_in_size(qtbot):
    d = InputDialog("net.pt", 1)
    qtbot.addWidget(d)
    assert "28x28" in d.stats.text() and not d.error.text()
    d.size.selectAll()
    QTest.keyClicks(d.size, "abc")
    assert d.error.text() and "28x28" not in d.stats.text()  # at once, not only on OK
    d.size.selectAll()
    QTest.keyClicks(d.size, "64")
    assert "64x64" in d.stats.text() and not d.error.text()
    d.size.clear()
    assert "own size" in d.stats.text()


# ------------------------------------------------------------------------------------------------ finding 6
def test_what_the_file_fixes_cannot_be_edited():
    d = InputDialog("flat28.pt", 1, None, Prefill(size=(28, 28)))
    assert not d.size.isEnabled() and not d.channels.isEnabled()
    assert d.size.text() == "28" and d.channels.currentData() == 1
    assert "fixed" in d.fixed_note.text() and "fixed" in d.channels_note.text()
    assert d.preset.isEnabled()  # the normalisation is the only guess
    free = InputDialog("conv.pt", 3)
    assert free.size.isEnabled() and free.channels.isEnabled()


def test_change_input_of_a_fixed_model_locks_its_size_and_channels(qtbot, ws, tmp_path):
    seen: list[InputDialog] = []

    def ask(parent, name, channels, prefill=None):
        d = InputDialog(name, channels, parent, prefill)
        seen.append(d)
        return d.spec()

    ws.own.ask_input = ask
    open_and_wait(qtbot, ws, save_script(flat_net(1, 28), tmp_path / "flat28.pt"))
    ws.own.change_input()
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    d = seen[-1]
    assert d.current is not None and not d.size.isEnabled() and not d.channels.isEnabled()
    assert d.channels.currentData() == 1 and d.size.text() == "28"


def test_a_failed_change_input_is_worded_as_a_rebuild(qtbot, ws, tmp_path):
    path = save_script(flat_net(1, 28), tmp_path / "flat28.pt")
    answering(ws, declared(1, (28, 28), preset="mnist"), declared(3, (28, 28), preset="mnist"))
    open_and_wait(qtbot, ws, path)
    before = ws.session.models["flat28.pt"]
    qtbot.mouseClick(ws.own.input_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.own.busy(), timeout=60000)
    text = ws.own.banner.text()
    assert ws.own.banner.isVisibleTo(ws.own)
    assert text.startswith("Could not rebuild “flat28.pt” with this input:") and "Could not open" not in text
    assert "keeps the input it had" in text and "Open it again" not in text
    assert ws.session.models == {"flat28.pt": before}


# ------------------------------------------------------------------------------------------------ finding 17
def test_expansion_is_shown_for_the_lc_resnet_only(qtbot, ws, settings):
    ws.backbone.setCurrentIndex(ws.backbone.findData("resnet20"))
    qtbot.waitUntil(lambda: not ws.busy(), timeout=60000)
    assert "expansion" not in ws.form.field_names() and "width" in ws.form.field_names()
    assert "expansion" not in ws.current_spec().kwargs
    ws.backbone.setCurrentIndex(ws.backbone.findData("lc-resnet20"))
    qtbot.waitUntil(lambda: not ws.busy(), timeout=60000)
    assert "expansion" in ws.form.field_names() and ws.option_widget("expansion").value() == 4
    # a value saved for a plain ResNet is kept in view (nothing changes unseen)
    ws.form.fill_options("resnet32", {"expansion": 2})
    assert ws.option_widget("expansion").text() == "2" and ws.form.option_values() == {"expansion": 2}
