"""Live workspace GUI: live mosaics from a video standing in for the camera, the GUI thread never blocked, a missing
camera reported while the app keeps running, enlarge/colour bar, snapshot/record, settings, clean exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from app.live.synthetic import write_test_video
from app.models.spec import ModelSpec
from app.session import Session

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.gui
TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)})


@pytest.fixture
def video(tmp_path) -> Path:
    return write_test_video(tmp_path / "cam.avi", frames=20, width=80, height=60, fps=30)


def _workspace(qtbot, fe_home, video, panes=1, source="video"):
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    s = settings()
    s.setValue("live/source", source)
    s.setValue("live/video_path", str(video))
    s.setValue("live/size", "60x80")
    s.setValue("live/colormap", "magma")
    s.setValue("live/panes", json.dumps([{"label": "tiny", "layer": i % 2, "page": 0} for i in range(panes)]))
    session = Session()
    session.put_model("tiny", TINY)
    ws = LiveWorkspace(session, s)
    qtbot.addWidget(ws)
    ws.resize(900, 500)
    ws.show()
    return ws


def _wait_frames(qtbot, ws, n, timeout=30000):
    start = ws._frames_shown
    qtbot.waitUntil(lambda: ws._frames_shown >= start + n, timeout=timeout)


@pytest.fixture
def quiet_process():
    """Keep what the heartbeat measures to what the live pipeline does to the GUI thread.

    - On this 2-core machine shared with other jobs, torch's second intra-op thread competes with the GUI thread for
      a core (its spin-waits showed up as 50-100 ms gaps under load).
    - A full garbage collection over the ~280k objects the imports and earlier tests leave behind took 200-300 ms
      under load (measured with gc.callbacks); collect them now and freeze them so later collections are short.
    """
    import gc

    import torch

    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()
    torch.set_num_threads(prev)


def test_live_mosaics_from_video_and_gui_never_blocked(qtbot, fe_home, video, quiet_process, monkeypatch):
    import threading

    from PySide6.QtCore import QTimer

    from app.live.engine import LiveEngine

    threads: set[str] = set()
    submit = LiveEngine.submit  # where a frame's work is done (or queued, on a GPU)

    def recorded(self, *a, **k):
        threads.add(threading.current_thread().name)
        return submit(self, *a, **k)

    monkeypatch.setattr(LiveEngine, "submit", recorded)
    ws = _workspace(qtbot, fe_home, video, panes=2)
    assert [p.spec.label for p in ws.panes] == ["tiny", "tiny"]
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    hb = QTimer()
    hb.timeout.connect(beat)
    hb.start(10)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 15)
    last[0] = time.perf_counter()
    gaps.clear()
    _wait_frames(qtbot, ws, 30)  # measure while frames stream (the first, model-building frame excluded)
    hb.stop()
    img = ws.panes[0].view.image.image
    assert img is not None and img.dtype == np.uint8 and img.ndim == 3 and img.std() > 0  # real maps
    assert ws.input.view.image.image.shape == (60, 80, 3)
    assert "Video cam.avi" in ws.input.source_label.text()
    # the rate once, under the input; each pane its own time (the rate was under every pane and in the status line)
    assert "FPS" in ws.input.info.text() and "ms this pane" in ws.panes[0].info.text()
    assert "FPS" not in ws.panes[0].info.text()
    assert ws.panes[1].layer_combo.count() == 2 and ws.panes[1].layer_combo.currentIndex() == 1
    # the frames are computed off the GUI thread (what keeps it free); the longest gap is printed, not asserted: a
    # speed target is a benchmark, and on a shared CI machine a timed bound fails with the load (72 ms measured once
    # at load 10, 14-22 ms alone)
    assert threads and threading.main_thread().name not in threads, threads
    print(f"heartbeat: {len(gaps)} beats, max gap {max(gaps) * 1000:.1f} ms")
    assert len(gaps) >= 10 and max(gaps) < 5.0  # the heartbeat ran; a GUI thread stuck for seconds is a hang
    ws.shutdown()
    assert not ws.runner.is_running()


def test_missing_camera_is_reported_and_app_keeps_running(qtbot, fe_home, video):
    ws = _workspace(qtbot, fe_home, video)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 1)
    ws.set_source("camera", camera=99)
    qtbot.waitUntil(lambda: "Camera 99 could not be opened" in ws.status.text(), timeout=20000)
    assert ws.status_level == "error"
    assert ws.runner.is_running()  # the worker waits for another source; the GUI is alive
    ws.set_source("synthetic")
    _wait_frames(qtbot, ws, 2)
    assert "Synthetic" in ws.input.source_label.text() and ws.status_level == "info"
    ws.shutdown()


def test_deleted_video_mid_stream_is_reported(qtbot, fe_home, video):
    ws = _workspace(qtbot, fe_home, video)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 2)
    video.unlink()
    qtbot.waitUntil(lambda: "does not exist" in ws.status.text(), timeout=20000)
    assert ws.status_level == "error"
    ws.shutdown()


def test_click_enlarges_a_map_with_colour_bar_then_escape(qtbot, fe_home, video):
    ws = _workspace(qtbot, fe_home, video)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 2)
    pane = ws.panes[0]
    pane._on_click(1.0, 1.0)  # the first tile
    qtbot.waitUntil(lambda: pane.last.focus == 0, timeout=20000)
    assert pane.colorbar.isVisible() and "enlarged" in pane.page_label.text()
    assert pane.colorbar.hi.text() and pane.colorbar.bar.pixmap() is not None
    ws._unfocus_all()
    qtbot.waitUntil(lambda: pane.last.focus is None, timeout=20000)
    assert not pane.colorbar.isVisible()
    ws.shutdown()


def test_pause_step_snapshot_record_and_settings(qtbot, fe_home, video):
    import cv2

    ws = _workspace(qtbot, fe_home, video)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 2)
    ws.controls.rec_btn.setChecked(True)
    _wait_frames(qtbot, ws, 3)
    ws.controls.rec_btn.setChecked(False)
    qtbot.waitUntil(lambda: "Recording saved" in ws.status.text(), timeout=20000)
    rec = sorted((fe_home / "files" / "recordings").glob("*.avi"))
    assert rec and cv2.VideoCapture(str(rec[0])).read()[0]
    ws.toggle_play()
    assert ws.controls.play_btn.text() == "Play" and ws.config().paused
    qtbot.wait(300)
    n = ws.runner.loop.frames
    ws.step()
    qtbot.waitUntil(lambda: ws.runner.loop.frames == n + 1, timeout=20000)
    qtbot.wait(200)
    assert ws.runner.loop.frames == n + 1  # one frame, then still paused
    assert "FPS" not in ws.status.text()  # paused: no frame rate claimed (the stepped frame's own time)
    path = ws.snapshot()
    assert path is not None and path.is_file() and cv2.imread(str(path)) is not None
    ws.controls.cmap_combo.setCurrentText("coolwarm")
    ws.add_pane(TINY)
    assert len(ws.panes) == 2
    ws.shutdown()
    again = _reopen(qtbot, ws)
    assert again.controls.cmap_combo.currentText() == "coolwarm" and len(again.panes) == 2
    again.shutdown()


def _reopen(qtbot, ws):
    from widgets.live.workspace import LiveWorkspace

    w = LiveWorkspace(ws.session, ws.settings)
    qtbot.addWidget(w)
    return w


def test_closing_the_window_while_video_runs_exits_cleanly(tmp_path, video):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FILTER_EXPLORER_HOME=str(tmp_path / "home"),
               FILTER_EXPLORER_THREADS="1")
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "live_autoclose.py"), str(video), "800"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "runner alive: False" in out.stdout
    frames = int(out.stdout.split("frames shown before close:")[1].split(";")[0])
    assert frames >= 2, out.stdout
    noise = [line for line in out.stderr.splitlines()
             if line.strip() and "propagateSizeHints" not in line]
    assert not noise, "\n".join(noise)


def test_inactive_workspace_stops_the_pipeline(qtbot, fe_home, video):
    ws = _workspace(qtbot, fe_home, video)
    ws.set_active(True)
    _wait_frames(qtbot, ws, 2)
    ws.set_active(False)  # another tab: the worker ends and releases the video, without blocking the GUI
    qtbot.waitUntil(lambda: not any(t.isRunning() for t in ws.runner._retired), timeout=20000)
    assert not ws.runner.is_running()
    ws.set_active(True)
    _wait_frames(qtbot, ws, 2)
    ws.shutdown()
    assert not ws.runner.is_running()
