"""Issue 14: the Kernel Workbench autosaves in a worker (two fsyncs held the GUI thread 30-200 ms on a busy disk),
one save at a time with the newest bank last, and at shutdown on the GUI thread (nothing lost)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.kernels import generate
from app.session import Session

pytestmark = pytest.mark.gui


@pytest.fixture
def ws(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    w = KernelWorkspace(Session(), QSettings(str(Path(fe_home) / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown()


def test_autosave_runs_in_a_worker_and_the_newest_bank_wins(ws, qtbot, monkeypatch):
    from widgets.kernels import files

    threads: list[int] = []
    save = files.io.save

    def spy(bank, path, **kw):
        threads.append(threading.get_ident())
        return save(bank, path, **kw)

    monkeypatch.setattr(files.io, "save", spy)
    first, second = generate("dct", 4, 3, 1, name="first"), generate("haar", 4, 3, 1, name="second")
    ws.set_bank(first, "first")
    ws._commit()
    ws.set_bank(second, "second")
    ws._commit()  # while the first save may still run: queued, saved after it
    qtbot.waitUntil(lambda: ws._save_next is None and not ws._save_worker.is_running(), timeout=20_000)
    assert threads and threading.get_ident() not in threads
    assert files.autosaved("second").equals(second)  # and "first" too: every bank of the session
    assert files.autosaved("first").equals(first)


def test_a_change_not_yet_saved_is_saved_at_shutdown(ws, qtbot):
    from widgets.kernels import files

    bank = generate("dct", 4, 3, 1, name="late")
    ws.set_bank(bank, "late")  # the debounced commit has not fired yet
    assert ws._commit_timer.isActive()
    ws.shutdown()
    assert files.autosaved("late").equals(bank)
