"""A window closed during the start-up, while the preloader thread (widgets.startup.Preloader) is still importing
torch, exits cleanly: the process used to crash at exit ("malloc(): unsorted double linked list corrupted", or torch's
"terminate called after throwing an instance of 'torch::jit::ErrorReport'") because the thread was a daemon that the
interpreter tore torch down under. Run in a subprocess: the crash is the process's end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from widgets.application import make_app
from widgets.main_window import MainWindow
app = make_app()
win = MainWindow(persist=False)
win.show()
def close():
    win.close()
    app.quit()
QTimer.singleShot({ms}, close)
app.exec()
print("exited", flush=True)
"""


@pytest.mark.parametrize("ms", [50, 300])
def test_closed_during_startup_exits_cleanly(tmp_path, ms):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FILTER_EXPLORER_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(ROOT), ms=ms)], env=env,
                         capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert "exited" in out.stdout, text
    assert out.returncode == 0, text
    for crash in ("corrupted", "terminate called", "Segmentation", "Destroyed while"):
        assert crash not in text, text
