"""Audit 31 (persistence): what a user sees when a workspace cannot be built, when a remembered setting has the
wrong type, when session models cannot be read, and when a new model is named like a kept one.

- 3: a workspace whose construction or build step raises shows an error panel in its tab (what failed, the message,
  where the details are) and the start-up builds the others; a damaged experiments database is said in the
  Experiments workspace (Run off) instead of stopping its build.
- 4: an empty, hand-edited or list-valued setting (``main/geometry=``, ``probe/splitter=``, ``models/name=a, b``,
  the training dialog's numbers) gives the default instead of a crash.
- 6: session models that cannot be restored stay in ``session-models.json``; a file of a newer version is neither
  read nor written over; each unreadable file is kept aside under a name of its own.
- 7: a new model does not take the name of a kept model (one whose checkpoint is not there today).
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings

from app.models import session_models
from app.models.spec import ModelSpec


def _ini(path, text: str) -> QSettings:
    """A settings file written as a user would edit it by hand (QSettings' own writes would quote the values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return QSettings(str(path), QSettings.Format.IniFormat)


# ============================================================================================ 3: build failures
def _failing_classes(shut: list):
    """A workspace class whose constructor raises, and a stepwise one whose second build step raises (its
    ``shutdown`` writes a setting, as the real ones save theirs)."""
    from PySide6.QtWidgets import QWidget

    class BrokenAtConstruction(QWidget):
        def __init__(self, session, settings, parent=None, stepwise=False):
            super().__init__(parent)
            raise RuntimeError("planted: the camera list could not be read")

    class BrokenAtStep(QWidget):
        STEPWISE = True

        def __init__(self, session, settings, parent=None, stepwise=False):
            super().__init__(parent)
            self.settings = settings
            self.build_steps = self._build()
            if not stepwise:
                for _ in self.build_steps:
                    pass

        def _build(self):
            yield
            raise ValueError("planted: invalid literal for int() with base 10: 'filters'")

        def set_active(self, active):
            pass

        def shortcuts(self):
            return []

        def wait_ready(self, ms):
            pass

        def shutdown(self):
            shut.append(self)
            self.settings.setValue("probe/remembered", "the half-built default")

    return BrokenAtConstruction, BrokenAtStep


def _plant(monkeypatch, failing: dict):
    import widgets.window_build as wb

    real = wb.workspace_class
    monkeypatch.setattr(wb, "workspace_class", lambda key: failing.get(key) or real(key))


@pytest.mark.gui
def test_a_workspace_that_fails_to_build_says_so_in_its_tab_and_the_others_are_built(qtbot, fe_home, monkeypatch):
    from PySide6.QtWidgets import QLabel

    from widgets.application import make_app
    from widgets.main_window import WORKSPACES, MainWindow
    from widgets.window_build import BuildFailed

    make_app()
    shut: list = []
    at_construction, at_step = _failing_classes(shut)
    _plant(monkeypatch, {"live": at_construction, "probe": at_step})
    win = MainWindow(workspace="kernels", persist=False)
    qtbot.addWidget(win)
    win.settings.setValue("probe/remembered", "the user's choice")
    win.show()
    qtbot.waitUntil(lambda: len(win.built()) == len(WORKSPACES), timeout=180_000)
    assert sorted(win.built()) == sorted(WORKSPACES)  # the start-up went on after the two failures
    for key in ("kernels", "models", "experiments", "insight"):
        assert not isinstance(win.workspace(key), BuildFailed), key
    live, probe = win.workspace("live"), win.workspace("probe")
    assert isinstance(live, BuildFailed) and isinstance(probe, BuildFailed)
    # what the user reads in the tab: which workspace, what failed, the message, where the details are
    win.tabs.setCurrentIndex(WORKSPACES.index("live"))
    assert live.isVisible() and win._holders["live"].widget().isAncestorOf(live)
    texts = " ".join(lab.text() for lab in live.findChildren(QLabel))
    assert "The Live workspace could not be built" in texts and "while constructing it" in texts
    assert "RuntimeError: planted: the camera list could not be read" in texts and "terminal" in texts
    assert not any("Loading" in lab.text() for lab in win._holders["live"].findChildren(QLabel))
    assert "planted: the camera list" in live.details.toPlainText()  # the traceback, under "Show details"
    live.details_btn.click()
    assert live.details.isVisible()
    texts = " ".join(lab.text() for lab in probe.findChildren(QLabel))
    assert "The Probe workspace could not be built" in texts and "step 2" in texts and "'filters'" in texts
    # the half-built one was stopped, and what its shutdown wrote did not replace the user's remembered setting
    assert len(shut) == 1 and win.settings.value("probe/remembered") == "the user's choice"
    assert live.shortcuts() == [] and probe.shortcuts() == []  # F1 lists the others' shortcuts
    win.close()


@pytest.mark.gui
def test_a_workspace_built_on_demand_that_fails_shows_the_panel_too(qtbot, fe_home, monkeypatch):
    from PySide6.QtWidgets import QLabel

    from widgets.application import make_app
    from widgets.main_window import MainWindow
    from widgets.window_build import BuildFailed

    make_app()
    at_construction, _ = _failing_classes([])
    _plant(monkeypatch, {"live": at_construction})
    win = MainWindow(workspace="kernels", persist=False)
    qtbot.addWidget(win)
    # the synchronous path: "Use in Live" builds Live at once to hand it the request (it raised AttributeError on
    # a failed one); a tab opened after the start-up, or win.workspace(key), the same
    win.session.request("live-head", "/nowhere/head.json")
    ws = win.workspace("live")
    assert isinstance(ws, BuildFailed) and win.current_workspace() == "live"
    assert "planted: the camera list" in " ".join(lab.text() for lab in ws.findChildren(QLabel))
    assert win._holders["live"].widget().isAncestorOf(ws)
    assert "The Live workspace could not be built" in win.statusBar().currentMessage()
    win.close()


from test_experiments_gui import TINY  # noqa: E402  (the GUI tests' tiny recipe)


@pytest.mark.gui
def test_a_damaged_experiments_database_is_said_in_the_workspace_and_run_is_off(qtbot, tmp_path):
    from app.experiments.store import Store
    from widgets.application import make_app
    from widgets.experiments.workspace import ExperimentsWorkspace

    make_app()
    db = tmp_path / "experiments.sqlite"
    db.write_bytes(b"SQLite format 3\x00" + b"\x07" * 3000)  # truncated by a full disk, say
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY)
    ws = ExperimentsWorkspace(store=Store(db))  # every build step runs (it raised StoreError)
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(recipe))
    ws.quick.setChecked(False)
    assert "not a usable experiments database" in ws.status.text() and "move it aside" in ws.status.text()
    assert ws.status.text().startswith("Cannot run yet") and not ws.run_btn.isEnabled()
    assert "cannot be read" in ws.plan.text() and "2 cell(s)" in ws.plan.text()
    ws.set_active(True)  # the finished experiments' list reads the store too
    assert ws.history.count() == 0 and not ws.run_btn.isEnabled()
    db.rename(tmp_path / "experiments.aside.sqlite")  # the user moves it aside, as told: the plan reads it again
    ws.quick.setChecked(True)
    ws.quick.setChecked(False)
    assert "not a usable" not in ws.status.text() and "0 of 2 cell(s) already stored" in ws.plan.text()
    assert ws.run_btn.isEnabled()
    ws.shutdown()


# ============================================================================================ 4: settings
@pytest.mark.gui
@pytest.mark.parametrize("value", ["", "abc", "1, 2"])
def test_a_geometry_setting_of_the_wrong_type_does_not_stop_the_window(qtbot, fe_home, value):
    from app import paths
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    _ini(paths.settings_file(), f"[main]\ngeometry={value}\nworkspace=1, 2\n")
    win = MainWindow(persist=False)  # raised TypeError: restoreGeometry(str); the app did not start
    qtbot.addWidget(win)
    assert (win.width(), win.height()) == (1400, 900) and win.current_workspace() == "kernels"
    win.close()


@pytest.mark.gui
def test_an_empty_probe_splitter_setting_does_not_stop_the_probe(qtbot, fe_home, tmp_path):
    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    s = _ini(tmp_path / "settings.ini", "[probe]\nsplitter=\n")
    ws = ProbeWorkspace(Session(), s)  # raised TypeError: restoreState(str) in a build step
    qtbot.addWidget(ws)
    ws.show()
    assert ws.splitter.count() >= 2 and ws.history_panel is not None  # built to its last step
    ws.shutdown()


@pytest.mark.gui
def test_models_settings_of_the_wrong_type_give_the_defaults(models_workspace, tmp_path):
    # the fixture's settings file, edited by hand before the workspace reads it: unquoted commas read as lists
    _ini(tmp_path / "settings.ini", "[models]\nname=my net, v2\nseed=99999999999\nscale=\ninit=1, 2\nfreeze=a, b\n"
                                    "panel_a=x, y\nlayer=conv1, conv2\nweights=a, b\n")
    ws = models_workspace()  # raised TypeError: QLineEdit.setText(list): this and every later tab stayed "Loading"
    assert ws.name_edit.text() == "my net, v2"  # the name as the user wrote it
    assert ws.seed.value() == ws.seed.maximum()  # past what the field takes (OverflowError): its largest
    assert ws.scale.currentData() == "layer" and ws.init.currentIndex() == 0
    assert ws.panel_a.source_id() == "builder"


@pytest.mark.gui
def test_training_dialog_settings_of_the_wrong_type_give_the_defaults(qtbot, fe_home, tmp_path):
    from app.session import Session
    from widgets.models.train_dialog import DEFAULT_LR, TrainDialog

    s = _ini(tmp_path / "s.ini", "[models]\ntrain\\epochs=\ntrain\\optimizer=a, b\ntrain\\lr=nan\n"
                                 "train\\batch=99999999999\ntrain\\limit=1, 2\ntrain\\test_limit=abc\n")
    dlg = TrainDialog(Session(), s)  # raised ValueError / OverflowError: the dialog did not open
    qtbot.addWidget(dlg)
    assert dlg.epochs.value() == 2 and dlg.optimizer.currentData() == "sgd"
    assert dlg.lr.value() == pytest.approx(DEFAULT_LR["sgd"])
    assert dlg.batch.value() == dlg.batch.maximum()  # too large: the largest the field takes
    assert dlg.limit.value() == 10000 and dlg.test_limit.value() == 2000
    dlg.close()


@pytest.mark.gui
def test_experiments_settings_of_the_wrong_type_give_the_defaults(qtbot, tmp_path):
    from app.experiments.store import Store
    from widgets.application import make_app
    from widgets.experiments.workspace import ExperimentsWorkspace

    make_app()
    s = _ini(tmp_path / "e.ini", "[experiments]\nworkers=99999999999\nquick=1, 2\nrecipe=a, b\nexecutor=\n")
    ws = ExperimentsWorkspace(settings=s, store=Store(tmp_path / "exp.sqlite"))  # raised OverflowError
    qtbot.addWidget(ws)
    assert ws.workers.value() == ws.workers.maximum() and ws.recipe is not None
    ws.shutdown()


def test_the_settings_readers_never_raise(tmp_path):
    from widgets.common.settings import read_bool, read_float, read_int, read_state, read_str

    s = _ini(tmp_path / "r.ini", "[a]\nlst=x, y\nempty=\nword=abc\nhuge=99999999999\nnan=nan\nyes=true\n")
    assert read_str(s, "a/lst") == "x, y" and read_str(s, "a/empty", "d") == "" and read_str(s, "a/none", "d") == "d"
    assert read_int(s, "a/lst", 3) == 3 and read_int(s, "a/word", 3) == 3 and read_int(s, "a/huge", 3, 0, 10) == 10
    assert read_float(s, "a/nan", 0.5) == 0.5 and read_float(s, "a/lst", 0.5) == 0.5
    assert read_bool(s, "a/yes", False) is True and read_bool(s, "a/lst", False) is False
    assert read_state(s, "a/empty") is None and read_state(s, "a/word") is None and read_state(s, "a/none") is None


# ============================================================================================ 6: session models
def _spec_dict(**kw) -> dict:
    return ModelSpec.make("simple", **kw).to_dict()


def test_session_models_that_cannot_be_restored_stay_in_the_file(fe_home):
    path = session_models.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    unreadable = {"name": "my trained net", "spec": {"backbone": "simple", "input": {"channels": "three"}}}
    unnamed = {"title": "a renamed-key entry", "spec": _spec_dict(label="x")}
    path.write_text(json.dumps({"version": 1, "models": [{"name": "mine", "spec": _spec_dict(label="mine")},
                                                         unreadable, unnamed]}))
    kept: list = []
    models, notes = session_models.load(kept=kept)
    assert list(models) == ["mine"]
    assert any(n.startswith("'my trained net': its settings could not be read") and "kept in the file" in n
               for n in notes)
    assert any("without a name" in n and "kept in the file" in n for n in notes)
    session_models.save({**models, "another": models["mine"]}, kept=kept)  # the user adds a model
    entries = json.loads(path.read_text())["models"]
    assert [e.get("name") for e in entries] == ["mine", "another", "my trained net", None]
    assert unreadable in entries and unnamed in entries  # as they were, for the version that reads them


def test_a_session_models_file_of_a_newer_version_is_not_written_over(fe_home):
    path = session_models.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    newer = json.dumps({"version": 2, "models": [{"name": "theirs", "spec": {"backbone": "simple", "v2": 1}}]})
    path.write_text(newer)
    kept: list = []
    models, notes = session_models.load(kept=kept)
    assert models == {} and "written by a newer version" in notes[0] and "format 2" in notes[0]
    with pytest.raises(session_models.NewerFileError, match="newer version.*not kept"):
        session_models.save({"mine": ModelSpec.make("simple", label="mine")}, kept=kept)
    assert path.read_text() == newer


def test_each_unreadable_session_models_file_is_kept_aside_under_its_own_name(fe_home):
    path = session_models.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    asides = []
    for text in ("{ the first damaged file: the user's old models", "{ the second damaged file"):
        path.write_text(text)
        models, notes = session_models.load()
        assert models == {} and "could not be read" in notes[0]
        asides.append(sorted(p for p in path.parent.iterdir() if ".unreadable" in p.name))
    assert len(asides[1]) == 2 and not path.exists()
    assert {p.read_text() for p in asides[1]} == {"{ the first damaged file: the user's old models",
                                                   "{ the second damaged file"}
    assert asides[1][0].name in notes[0] or asides[1][1].name in notes[0]


@pytest.mark.gui
def test_the_window_says_when_it_cannot_keep_the_session_models(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    path = session_models.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    newer = json.dumps({"version": 3, "models": []})
    path.write_text(newer)
    win = MainWindow(workspace="kernels")
    qtbot.addWidget(win)
    assert any("newer version" in n for n in win.session_notes)
    win.session.put_model("mine", ModelSpec.make("simple", label="mine"))
    assert "Could not keep the session's models" in win.statusBar().currentMessage()
    assert "newer version" in win.statusBar().currentMessage() and path.read_text() == newer
    win.close()


# ============================================================================================ 7: kept names
def test_a_new_model_name_is_not_a_kept_models_name(fe_home):
    from app.session import Session

    s = Session()
    s.models["other"] = ModelSpec.make("simple", label="other")
    s.kept_models = [{"name": "simple (trained, MNIST)", "spec": {}}, {"spec": {}}, "not an entry"]
    assert session_models.new_name(s, "simple (trained, MNIST)") == "simple (trained, MNIST) (2)"
    assert session_models.new_name(s, "other") == "other (2)" and session_models.new_name(s, "free") == "free"
    assert session_models.new_name(Session(), "free") == "free"  # a session with no kept entries


@pytest.mark.gui
def test_a_model_added_in_the_window_does_not_erase_a_kept_model(qtbot, fe_home, tmp_path):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    gone = str(tmp_path / "usb" / "simple-mnist.pt")  # a checkpoint on a drive not mounted today
    path = session_models.store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = {"name": "my net", "spec": _spec_dict(label="my net", init="checkpoint", weights=gone,
                                                 weight_state="trained")}
    path.write_text(json.dumps({"version": 1, "models": [kept]}))
    win = MainWindow(workspace="models")
    qtbot.addWidget(win)
    win.show()
    assert "'my net': its weights file" in win.session_notes[0]
    models = win.workspace("models")
    qtbot.waitUntil(models.builder_ready, timeout=60_000)
    models.name_edit.setText("my net")
    assert models.add_to_session() == "my net (2)"  # it was "my net", and the kept entry was dropped from the file
    assert "Added “my net (2)”" in models.status.text()
    entries = json.loads(path.read_text())["models"]
    assert [e["name"] for e in entries] == ["my net (2)", "my net"] and entries[1]["spec"]["weights"] == gone
    win.close()


# ======================================================= 4, continued: the settings of the other workspaces
@pytest.mark.gui
def test_probe_settings_past_a_spin_boxs_range_give_their_bounds(qtbot, fe_home, tmp_path):
    """``probe/seeds=99999999999`` raised OverflowError in setValue, and the Probe was never built; a subset as large
    raised it in the dataset browser, an option's value of inf in its editor."""
    from app.session import Session
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    s = _ini(tmp_path / "settings.ini", "[probe]\nseeds=99999999999\ntest_limit=-99999999999\n"
                                        "subset=99999999999\noptions\\logistic\\weight_decay=inf\n")
    ws = ProbeWorkspace(Session(), s)
    qtbot.addWidget(ws)
    ws.show()
    try:
        ps = ws.probe_settings
        assert ps.seeds.value() == ps.seeds.maximum() and ps.test_limit.value() == ps.test_limit.minimum()
        assert ws.history_panel is not None  # built to its last step
    finally:
        ws.shutdown()


@pytest.mark.gui
def test_insight_and_live_settings_of_the_wrong_type_give_the_defaults(qtbot, fe_home, tmp_path):
    from app.session import Session
    from widgets.analysis.workspace import InsightWorkspace
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace

    make_app()
    s = _ini(tmp_path / "settings.ini", "[insight]\ntab=filters\n[live]\ncamera=99999999999\n")
    ins = InsightWorkspace(Session(), s)  # raised ValueError: int('filters')
    qtbot.addWidget(ins)
    live = LiveWorkspace(Session(), s)  # not activated: no camera is opened
    qtbot.addWidget(live)
    try:
        assert ins.tabs.currentIndex() == 0
        spin = live.controls.camera_spin
        assert spin.value() == spin.maximum()
    finally:
        ins.shutdown()
        live.shutdown()


@pytest.mark.gui
def test_load_weights_starts_in_a_listed_folder_setting_as_written(models_workspace, monkeypatch, tmp_path):
    """``models/weights_dir=a, b`` (an unquoted comma: a list) raised TypeError in the file dialog."""
    from PySide6.QtWidgets import QFileDialog

    ws = models_workspace()
    ws.settings.setValue("models/weights_dir", ["/tmp/a", " b"])
    seen = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda parent, title, start, *a, **k: (seen.append(start),
                                                                                               ("", ""))[1])
    ws.choose_weights()
    assert seen and isinstance(seen[0], str) and seen[0].startswith("/tmp/a")
