"""Test helper (not a test): launch the main window on the Live workspace with a video source, close it via a QTimer
after a moment, exit with the app's exit code. Used by tests/test_live_gui.py in a subprocess.

    python tests/live_autoclose.py VIDEO_PATH [CLOSE_AFTER_MS]

Needs FILTER_EXPLORER_HOME (an empty folder) and QT_QPA_PLATFORM=offscreen in the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402,F401  (before Qt)


def main() -> int:
    video = sys.argv[1]
    close_ms = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    from PySide6.QtCore import QTimer

    from widgets.application import make_app
    from widgets.main_window import MainWindow, settings

    app = make_app()
    s = settings()  # a tiny model on the video (the window reads these on construction)
    s.setValue("main/workspace", "live")
    s.setValue("live/source", "video")
    s.setValue("live/video_path", video)
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": "simple (random)", "layer": 0, "page": 0}]))
    s.sync()
    win = MainWindow(workspace="live")
    win.show()
    state = {"frames": 0, "waited": 0}
    timer = QTimer()

    def poll() -> None:  # close a moment after the first frames arrived (or give up after 30 s)
        state["waited"] += 100
        if (win.live._frames_shown >= 2 and state["waited"] >= close_ms) or state["waited"] >= 30000:
            timer.stop()
            state["frames"] = win.live._frames_shown
            win.close()

    timer.timeout.connect(poll)
    timer.start(100)
    code = app.exec()
    print(f"frames shown before close: {state['frames']}; runner alive: {win.live.runner.is_running()}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
