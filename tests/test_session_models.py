"""The session's models are kept between launches (an audit: a model added to the session, trained or opened was
gone after the window closed, though the Probe says it lists "any you trained, loaded or opened"):
``app.models.session_models`` and the main window that restores and keeps them."""

from __future__ import annotations

import json

import pytest

from app.models import session_models
from app.models.spec import ModelSpec


def test_models_come_back_by_name_and_a_gone_checkpoint_is_said(tmp_path, fe_home):
    from app.kernels import generate

    ck = tmp_path / "mine.safetensors"
    ck.write_bytes(b"weights")
    bank = generate("dct", 4, 3, 1, name="dct4").with_frozen(0, True)
    models = {"a net": ModelSpec.make("simple", label="a net", options={"widths": [4, 8]}, banks=(("conv1", bank),)),
              "trained": ModelSpec.make("simple", label="trained", init="checkpoint", weights=str(ck),
                                        weight_state="trained")}
    session_models.save(models)
    back, notes = session_models.load()
    assert list(back) == ["a net", "trained"] and notes == []
    assert back["a net"].key() == models["a net"].key()  # the very same spec, the bank's values included
    assert back["a net"].banks[0][1].equals(bank)
    ck.rename(tmp_path / "away.safetensors")  # on a drive not mounted today
    kept: list = []
    back, notes = session_models.load(kept=kept)
    assert list(back) == ["a net"] and notes[0].startswith(f"'trained': its weights file {ck} is not there")
    session_models.save({**back, "other": models["a net"]}, kept=kept)  # the session changes meanwhile
    (tmp_path / "away.safetensors").rename(ck)
    back, notes = session_models.load()
    assert list(back) == ["a net", "other", "trained"] and notes == []  # back with its file, not dropped for good


def test_an_unreadable_store_is_kept_aside_with_a_note(fe_home):
    session_models.store_path().write_text("{ not json", encoding="utf-8")
    back, notes = session_models.load()
    assert back == {} and "could not be read" in notes[0] and "session-models.unreadable-" in notes[0]
    (aside,) = session_models.store_path().parent.glob("session-models.unreadable-*.json")  # a name of its own
    assert aside.name in notes[0] and aside.read_text(encoding="utf-8") == "{ not json"
    session_models.store_path().write_text(json.dumps({"version": 1, "models": [{"name": "x", "spec": {}}]}),
                                           encoding="utf-8")
    back, notes = session_models.load()
    assert back == {} and notes[0].startswith("'x': its settings could not be read")


@pytest.mark.gui
def test_a_model_added_in_the_window_is_there_after_a_restart(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="models")
    qtbot.addWidget(win)
    win.show()
    models = win.workspace("models")
    qtbot.waitUntil(models.builder_ready, timeout=30000)
    models.name_edit.setText("my net")
    assert models.add_to_session() == "my net"
    spec = win.session.models["my net"]
    win.close()
    again = MainWindow(workspace="probe")
    qtbot.addWidget(again)
    assert list(again.session.models) == ["my net"] and again.session.models["my net"].key() == spec.key()
    assert "my net" in again.workspace("probe").models.labels()  # offered where the user looks for it
    again.close()
