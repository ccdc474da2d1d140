"""Shared fixtures: an isolated home folder per session, the offscreen platform, ../shared lookup."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("FILTER_EXPLORER_THREADS", "1")  # stable timings when tests share the CPU
# one BLAS/OpenMP thread for numpy and scikit-learn too (before numpy loads; children inherit it): no thread team
# that waits on a descheduled member when CI's cores are busy, and no BLAS pool resized under a running call
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import torch  # noqa: E402  (torch before Qt)

torch.set_num_threads(int(os.environ["FILTER_EXPLORER_THREADS"]))
# as main.py does at start: the count is the user's (FILTER_EXPLORER_THREADS), so no compute loop adapts it
# (app.threads.ThreadTuner); without this a test's result depended on whether an earlier test had configured it
from app import device as _device  # noqa: E402

_device.configure_threads()

SHARED = ROOT.parent / "shared"


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("fe-home")
    os.environ["FILTER_EXPLORER_HOME"] = str(home)
    # a shared decoded-dataset cache speeds repeated runs; never inside the repo
    os.environ.setdefault("FILTER_EXPLORER_DATA", str(home / "data"))
    yield home


@pytest.fixture(scope="session")
def qapp():
    """pytest-qt's application, made the app's way: ``make_app`` also moves cyclic garbage collection to the GUI
    thread (``widgets.application.main_thread_gc``; a collection in a worker thread that freed Qt objects
    deadlocked the suite)."""
    from widgets.application import make_app

    return make_app()


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread():
    """Between tests no event loop runs the GUI-thread collector's timer: collect what is due here (main thread)."""
    yield
    app_module = sys.modules.get("widgets.application")
    guard = getattr(app_module, "_gc_guard", None) if app_module is not None else None
    if guard is not None:
        guard.check()


@pytest.fixture(autouse=True)
def _no_question_box_waits_for_an_answer(request, monkeypatch):
    """A question box no test answered would wait for a click that never comes (a test ending with a training
    dialog still running: its close asks "stop it and close?"), and the suite would hang until its timeout: an
    unanswered question takes its default action (Yes: close, stop) at once. Tests that ask patch it themselves."""
    if "PySide6.QtWidgets" not in sys.modules and not request.node.get_closest_marker("gui"):
        yield
        return
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    yield


@pytest.fixture(autouse=True)
def _no_key_held_after_a_test():
    """Qt keeps the keyboard modifiers of the last key event it saw: after ``QTest.keyClick(w, Key_Return,
    ControlModifier)`` Ctrl counts as held, and a later test's ``selectRow`` added to the selection instead of
    replacing it (tests/test_probe_history_refresh.py failed after tests/test_gui_layout.py). Each test starts with
    no key held."""
    yield
    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QWidget

    if QApplication.instance() is None or QGuiApplication.keyboardModifiers() == Qt.KeyboardModifier.NoModifier:
        return
    w = QWidget()
    QTest.keyRelease(w, Qt.Key.Key_Control, Qt.KeyboardModifier.NoModifier)
    w.deleteLater()


@pytest.fixture(autouse=True)
def _no_exception_in_a_qt_override(request):
    """A test after which an override of a Qt virtual raised (caught by ``widgets.common.qt_override``, which keeps
    the app alive) fails: each is a bug a user would meet. Tests that plant one say so (``allow_caught``)."""
    mod = sys.modules.get("widgets.common.qt_override")
    n0 = mod.total if mod is not None else 0
    yield
    mod = sys.modules.get("widgets.common.qt_override")
    if mod is None or request.node.get_closest_marker("allow_caught") or mod.total == n0:
        return
    new = mod.caught[-min(mod.total - n0, mod.KEEP):]
    pytest.fail(f"an exception in a Qt override was caught during this test: {new}", pytrace=False)


@pytest.fixture(scope="session")
def screenshot_launches(tmp_path_factory):
    """``python main.py --screenshot`` launched as a user would, each in a fresh home: the four workspaces of
    test_gui_foundation and test_gui_startup_notes' bad thread setting. Every launch takes ~9 s of start-up on its
    own; started side by side they take ~20 s in all. Returns {name: (png path, return code, stderr)}."""
    import subprocess

    base = tmp_path_factory.mktemp("screenshots")
    plain = {"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}
    launches = {ws: ("kernels" if ws == "bad-threads" else ws,
                     {**os.environ, "FILTER_EXPLORER_THREADS": "abc", "QT_QPA_PLATFORM": "offscreen"}
                     if ws == "bad-threads" else dict(plain))
                for ws in ("kernels", "models", "live", "probe", "bad-threads")}
    procs = {}
    for name, (ws, env) in launches.items():
        out = base / f"{name}.png"
        env["FILTER_EXPLORER_HOME"] = str(base / f"home-{name}")
        procs[name] = (out, subprocess.Popen([sys.executable, "main.py", "--screenshot", str(out), "--workspace", ws],
                                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                             env=env))
    done = {}
    for name, (out, proc) in procs.items():
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            err += "\n(killed after 300 s)"
        done[name] = (out, proc.returncode, err)
    return done


@pytest.fixture
def fe_home(tmp_path, monkeypatch):
    """A fresh home folder for one test (settings, history, caches)."""
    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def models_workspace(qtbot, fe_home, tmp_path):
    """A factory of Models workspaces on a fresh session and a settings file of their own:
    ``models_workspace(backbone="simple", options='{"widths": [4, 8], "in_channels": 1}', panel_b="builder",
    size=(1200, 800))`` returns the workspace shown, its builder ready; each is shut down after the test. Extra
    keywords are more ``models/...`` settings."""
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.application import make_app
    from widgets.models.workspace import ModelsWorkspace

    made = []

    def make(backbone: str = "simple", options: str = '{"widths": [4, 8], "in_channels": 1}',
             panel_b: str | None = "builder", size: tuple[int, int] | None = (1200, 800), timeout: int = 20000,
             **more):
        make_app()
        s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        s.setValue("models/backbone", backbone)
        s.setValue(f"models/options/{backbone}", options)
        if panel_b is not None:
            s.setValue("models/panel_b", panel_b)
        for key, value in more.items():
            s.setValue(f"models/{key}", value)
        w = ModelsWorkspace(Session(), s)
        qtbot.addWidget(w)
        if size is not None:
            w.resize(*size)
        w.show()
        qtbot.waitUntil(w.builder_ready, timeout=timeout)
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (../shared exists only on the project's machines)")
    return p


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(scope="session")
def cifar_jpeg_root(tmp_path_factory) -> Path:
    """The shared CIFAR-10 JPEG copy, unpacked once into a cache outside the repo."""
    import fcntl
    import shutil
    import tarfile
    import tempfile

    archive = shared_path("datasets", "cifar10-jpg.tar.gz")
    cache = Path(os.environ.get("FILTER_EXPLORER_TEST_CACHE", Path.home() / ".cache" / "filter-explorer-tests"))
    target = cache / "cifar10-jpg"
    cache.mkdir(parents=True, exist_ok=True)
    # make test runs several pytest-xdist workers, and two runs may share this cache: one process unpacks (under a
    # lock) into a folder of its own and renames it into place; the others wait and find it whole
    with open(cache / ".cifar10-jpg.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "test").is_dir():
            part = Path(tempfile.mkdtemp(prefix=".cifar10-jpg-", dir=cache))
            with tarfile.open(archive) as tf:
                tf.extractall(part, filter="data")
            if target.exists():  # a copy an older suite left half unpacked
                shutil.rmtree(target)
            (part / "cifar10-jpg").rename(target)
            shutil.rmtree(part)
    return target


def pytest_runtest_logstart(nodeid, location):
    """``make test`` names the last test started when a run fails or is stopped (FILTER_EXPLORER_TEST_TRACE)."""
    trace = os.environ.get("FILTER_EXPLORER_TEST_TRACE")
    if trace:
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # one file per pytest-xdist worker (gw0, gw1 ...)
        try:
            Path(f"{trace}.{worker}" if worker else trace).write_text(f"{worker}: {nodeid}\n" if worker else nodeid + "\n")
        except OSError:
            pass
