"""The Kernel Workbench never loses a bank nor writes one over another's file (an audit's findings):

- only the working bank was autosaved: a bank left for New bank (Ctrl+N), an opened file or a switch was gone at
  the next launch, and a Models layer naming it was reset;
- the file a bank was opened from or saved to was the workbench's, not the bank's: after switching banks (or undoing
  an open) Ctrl+S wrote the other bank over it;
- a bank too large for a JSON file was autosaved as 820 MB of JSON that the next launch refused (its edits lost);
- a .npy save (which keeps no frozen flags) marked the bank saved; a rename undone left the new name behind as a stale
  copy in the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.kernels import generate, io
from app.session import Session

pytestmark = pytest.mark.gui


@pytest.fixture
def make_ws(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    made = []

    def make(session=None):
        ws = KernelWorkspace(session or Session(),
                             QSettings(str(Path(fe_home) / "settings.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(ws)
        ws.show()
        ws.wait_ready(10000)
        made.append(ws)
        return ws

    yield make
    for ws in made:
        if not ws._closed:
            ws.shutdown()


def _save_as(monkeypatch, ws, path: Path) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    assert ws.save_bank_as()


def test_every_bank_of_the_session_comes_back_at_the_next_launch(make_ws):
    ws = make_ws()
    first = ws.bank.with_frozen(0, True)
    ws.set_bank(first, "freeze kernel 1")
    ws.new_bank()  # Ctrl+N: the edited bank is left in the session, not open
    ws.set_bank(ws.bank.with_kernel(0, np.ones(ws.bank.shape[1:], np.float32)), "paint")
    second = ws.bank
    ws.shutdown()
    again = make_ws()
    assert list(again.session.banks) == [first.name, second.name]  # the order of the last session
    assert again.session.banks[first.name].equals(first) and again.session.banks[first.name].frozen[0]
    assert again.bank.name == second.name and again.bank.equals(second)  # the working one is the one last open
    assert "and 1 more bank(s)" in again.last_status


def test_ctrl_s_writes_each_bank_to_its_own_file(make_ws, monkeypatch, tmp_path):
    ws = make_ws()
    a = generate("dct", 4, 3, 1, name="A-bank")
    io.save(a, tmp_path / "A.json")
    assert ws.open_bank_file(tmp_path / "A.json")
    other = next(n for n in ws.session.banks if n != "A-bank")
    ws._on_bank_chosen(other)  # the bank combo: another bank
    asked = []
    monkeypatch.setattr(ws.files, "ask_save", lambda name: asked.append(name))  # Save As's dialog, cancelled
    assert not ws.save_bank()  # this bank has no file: Save asks where, it does not write A.json
    assert asked == [other] and io.load(tmp_path / "A.json").equals(a)
    ws._on_bank_chosen("A-bank")
    ws.set_bank(ws.bank.with_frozen(1, True), "freeze kernel 2")
    assert "A.json · modified" in ws.title_label.text()
    assert ws.save_bank() and io.load(tmp_path / "A.json").frozen[1]  # A's own file
    ws.undo()
    ws.undo()  # back past the switch to A: the other bank again
    assert ws.bank.name == other and ws.files.path_of(ws.bank) is None


def test_an_opened_file_never_replaces_the_working_banks_content(make_ws, tmp_path, monkeypatch):
    ws = make_ws()
    working = ws.bank
    same_name = generate("haar", 4, 2, 1, name=working.name)  # another bank, the same name
    io.save(same_name, tmp_path / "same.json")
    assert ws.open_bank_file(tmp_path / "same.json")
    assert ws.bank.name != working.name and ws.session.banks[working.name] is working
    ws.undo()  # undo the open: the working bank, whose file is not same.json
    asked = []
    monkeypatch.setattr(ws.files, "ask_save", lambda name: asked.append(name))
    assert not ws.save_bank() and asked and io.load(tmp_path / "same.json").equals(same_name)


def test_a_npy_save_keeps_a_bank_with_frozen_kernels_modified(make_ws, monkeypatch, tmp_path):
    ws = make_ws()
    ws.set_bank(ws.bank.with_frozen(0, True), "freeze kernel 1")
    _save_as(monkeypatch, ws, tmp_path / "W.NPY")  # any case of the suffix
    assert "frozen flags and names are not stored" in ws.last_status
    assert not io.load(tmp_path / "W.NPY").frozen.any()
    assert "W.NPY · modified" in ws.title_label.text()  # the file lacks the frozen flag
    ws.set_bank(ws.bank.with_frozen(0, False), "unfreeze kernel 1")
    assert "modified" not in ws.title_label.text()  # now the file holds the bank


def test_a_rename_undone_leaves_no_stale_copy_and_keeps_the_file(make_ws, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QInputDialog

    ws = make_ws()
    old = ws.bank.name
    _save_as(monkeypatch, ws, tmp_path / "b.json")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("renamed", True))
    ws.rename_bank()
    assert list(ws.session.banks) == ["renamed"] and ws.files.path_of(ws.bank) == tmp_path / "b.json"
    ws.undo()
    assert list(ws.session.banks) == [old] and ws.bank.name == old
    assert ws.files.path_of(ws.bank) == tmp_path / "b.json"
    ws.redo()
    assert list(ws.session.banks) == ["renamed"]


def test_a_large_bank_is_autosaved_as_npz_and_refused_as_json_before_writing(make_ws, monkeypatch, tmp_path):
    from widgets.kernels import files

    monkeypatch.setattr(io, "MAX_FILE_BYTES", 200_000)  # 20,000 values: 0.6 MB of JSON, 80 KB as .npz
    big = io.KernelBank(np.random.default_rng(0).normal(size=(80, 10, 5, 5)).astype(np.float32), None, "big", {})
    with pytest.raises(io.KernelFileError, match=r"over the 0 MB .*as \.npz it takes about 4 bytes"):
        io.save(big, tmp_path / "big.json")
    assert not (tmp_path / "big.json").exists()
    ws = make_ws()
    ws.set_bank(big, "open big")
    ws.shutdown()
    assert files.autosaved("big").equals(big)
    assert make_ws().bank.equals(big)  # the next launch reads it back


def test_an_autosave_from_before_is_restored_and_an_unreadable_bank_file_is_kept(make_ws, fe_home):
    from app import paths
    from widgets.kernels import files

    old = generate("dct", 4, 3, 1, name="from version 1")
    io.save(old, paths.user_files() / files.LEGACY_AUTOSAVE)  # the single-bank autosave of earlier versions
    ws = make_ws()
    assert ws.bank.equals(old) and ws.bank.name == "from version 1"
    ws.shutdown()
    assert not (paths.user_files() / files.LEGACY_AUTOSAVE).exists() and files.autosaved(old.name).equals(old)
    files.autosave_file(old.name).write_bytes(b"PK\x03\x04 not a zip")
    ws = make_ws()
    assert "could not be read" in ws.last_status and ".unreadable" in ws.last_status
    assert list(files.autosave_dir().glob("*.unreadable"))  # kept for recovery, never deleted
    ws.shutdown()
    assert list(files.autosave_dir().glob("*.unreadable"))  # and the next autosave leaves it too


def test_bank_files_refuse_values_that_are_not_numbers_and_a_nan_in_metadata(tmp_path):
    import json

    bank = generate("dct", 2, 3, 1, name="x")
    io.save(bank, tmp_path / "x.json")
    doc = json.loads((tmp_path / "x.json").read_text())
    for bad, needle in (("1.5", "str"), (True, "bool")):
        doc["kernels"][0][0][0][0] = bad
        (tmp_path / "b.json").write_text(json.dumps(doc))
        with pytest.raises(io.KernelFileError, match=f"must hold numbers only, found {needle}"):
            io.load(tmp_path / "b.json")
    doc = json.loads((tmp_path / "x.json").read_text())
    for key, value in (("version", True), ("shape", [True, 1, 3, 3])):
        (tmp_path / "b.json").write_text(json.dumps({**doc, key: value}))
        with pytest.raises(io.KernelFileError):
            io.load(tmp_path / "b.json")
    np.savez(tmp_path / "m.npz", weights=bank.weights,
             meta=np.frombuffer(b'{"meta": {"a": NaN}}', np.uint8))
    with pytest.raises(io.KernelFileError, match="holds NaN"):
        io.load(tmp_path / "m.npz")


def test_a_models_layer_keeps_an_autosaved_bank_when_the_window_opens_on_models(qtbot, fe_home, tmp_path):
    """The window builds the shown workspace first: opened on Models, its saved layer "bank:edges" was dropped
    before the Kernel Workbench had put the autosaved bank back into the session."""
    from app.kernels.bank import KernelBank
    from widgets.application import make_app
    from widgets.kernels import files
    from widgets.main_window import MainWindow

    make_app()
    w = np.random.default_rng(1).standard_normal((4, 1, 3, 3)).astype(np.float32)
    edges = KernelBank(w, None, "edges", {})
    files.BankFiles(None, None).autosave([edges], "edges")  # the last session's autosave
    from widgets.common.settings import settings as app_settings

    settings = app_settings()
    settings.setValue("models/backbone", "simple")
    settings.setValue("models/options/simple", '{"widths": [4, 8], "in_channels": 1}')
    settings.setValue("models/layers/simple", '{"freeze": {}, "init": {"conv1": "bank:edges"}}')
    settings.sync()
    win = MainWindow(workspace="models")
    qtbot.addWidget(win)
    win.show()
    models = win.workspace("models")
    qtbot.waitUntil(lambda: "kernels" in win.built() and models.builder_ready(), timeout=30000)
    qtbot.waitUntil(lambda: [n for n, _ in models.current_spec().banks] == ["conv1"], timeout=10000)
    assert np.array_equal(dict(models.current_spec().banks)["conv1"].weights, w)
    win.close()


def test_a_new_bank_never_takes_the_name_of_one_being_painted(make_ws):
    """Ctrl+N picked "new bank" before the painted bank's debounced commit had put it in the session: the second new
    bank took its name and replaced it."""
    ws = make_ws()
    ws.new_bank()
    ws.set_bank(ws.bank.with_kernel(0, np.ones(ws.bank.shape[1:], np.float32)), "paint")  # commit still pending
    painted = ws.bank
    ws.new_bank()
    assert ws.bank.name == "new bank (2)" and ws.session.banks["new bank"] is painted


def test_an_index_that_names_no_bank_restores_the_files_found_and_deletes_none(make_ws):
    """An index of another shape (it parses, it names no bank) restored nothing, said nothing, and the next autosave
    deleted every bank file."""
    import json as _json

    from widgets.kernels import files

    banks = [generate("dct", 4, 3, 1, name=f"b{i}") for i in range(3)]
    files.BankFiles(None, None).autosave(banks, "b0")
    (files.autosave_dir() / files.INDEX).write_text(_json.dumps({"banks": {"a": 1}}), encoding="utf-8")
    ws = make_ws()
    assert {"b0", "b1", "b2"} <= set(ws.session.banks) and "index could not be read" in ws.last_status
    ws.shutdown()
    assert all(files.autosaved(b.name).equals(b) for b in banks)


def _generate(ws, kind: str, seed: int = 0) -> None:
    ws.gen.kind_combo.setCurrentIndex(ws.gen.kind_combo.findData(kind))
    ws.gen.seed_spin.setValue(seed)
    ws.generate()
    assert ws.bank.meta["generator"] == kind


def test_generate_never_replaces_another_bank_of_its_name_nor_takes_its_file(make_ws, monkeypatch, tmp_path):
    """Every generated bank of a kind is named "<kind> bank": generating kaiming-normal again from another bank
    replaced the edited "kaiming-normal bank" in the session and the autosave, and took its file (Ctrl+S then wrote
    the new bank over mine.json)."""
    ws = make_ws()
    _generate(ws, "kaiming-normal")
    ws.set_bank(ws.bank.with_kernel(0, np.full(ws.bank.shape[1:], 7.0, np.float32)), "paint")
    edited = ws.bank
    _save_as(monkeypatch, ws, tmp_path / "mine.json")
    _generate(ws, "dct")  # work on another bank; the edited one stays in the session
    _generate(ws, "kaiming-normal", seed=5)
    assert ws.bank.name == "kaiming-normal bank (2)" and ws.files.path_of(ws.bank) is None
    assert ws.session.banks["kaiming-normal bank"] is edited
    assert io.load(tmp_path / "mine.json").equals(edited)
    _generate(ws, "kaiming-normal", seed=6)  # from the working bank of that name: it is replaced (undoable)
    assert ws.bank.name == "kaiming-normal bank (2)" and ws.bank.meta["seed"] == 6
    ws.undo()
    assert ws.bank.meta["seed"] == 5


def test_a_stroke_painted_just_before_generate_is_kept(make_ws):
    """Generate within the 0.5 s commit debounce of a stroke: the session and the autosave kept the bank as it was
    before the stroke."""
    from widgets.kernels import files

    ws = make_ws()
    name = ws.bank.name
    painted = ws.bank.with_kernel(0, np.full(ws.bank.shape[1:], 7.0, np.float32))
    ws.set_bank(painted, "paint")  # its commit still pending
    _generate(ws, "dct")
    assert ws.session.banks[name].equals(painted)
    ws.shutdown()
    assert files.autosaved(name).equals(painted)
