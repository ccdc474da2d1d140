"""A bad FILTER_EXPLORER_THREADS at desktop start-up: the window starts (default threads) and says why in a box."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.gui


def test_bad_thread_setting_starts_the_window_and_says_why(tmp_path):
    out = tmp_path / "k.png"
    env = {**os.environ, "FILTER_EXPLORER_HOME": str(tmp_path / "home"), "FILTER_EXPLORER_THREADS": "abc",
           "QT_QPA_PLATFORM": "offscreen"}
    r = subprocess.run([sys.executable, "main.py", "--screenshot", str(out), "--workspace", "kernels"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "FILTER_EXPLORER_THREADS='abc'" in r.stderr and "ignored" in r.stderr and "Traceback" not in r.stderr
    assert out.stat().st_size > 0


def test_startup_notes_are_boxes_that_do_not_block(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from widgets.application import make_app, show_startup_notes

    make_app()
    win = QMainWindow()
    qtbot.addWidget(win)
    win.show()
    (box,) = show_startup_notes(win, ["FILTER_EXPLORER_THREADS='abc': the number of threads must be a whole number"])
    qtbot.waitUntil(box.isVisible, timeout=5000)  # shown, and we got here: it did not block
    assert "whole number" in box.text() and not box.isModal()
    box.close()
