"""A Live recording on the loop's clock (session 33): its rate was the loop's rate measured when recording started
and every frame was written once, so a loop that slowed under load (40 -> 4 FPS) played back ten times too fast, and
one that sped up too slow. Now each frame takes the time slots up to the next one's (repeated) or is left out when
its slot was written; a pause longer than MAX_GAP_S is cut to one frame's time."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.live.pipeline import MAX_GAP_S, Recorder


def _frames(path) -> list[int]:
    """Each decoded frame's grey level (the test frames are flat), rounded to the level written."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(int(round(float(f.mean()) / 20.0)) * 20)
    cap.release()
    return out


def _flat(level: int) -> np.ndarray:
    return np.full((32, 48, 3), level, np.uint8)


def test_a_loop_that_slows_down_is_played_back_at_the_pace_it_ran(tmp_path):
    rec = Recorder(tmp_path / "slow.avi", fps=10)
    for level, t in [(20, 100.0), (40, 100.1), (60, 100.2), (80, 101.2), (100, 102.2)]:
        rec.write(_flat(level), t)
    rec.close()
    # slots 0, 1, 2, 12, 22: 60 fills 3..11, 80 fills 13..21 (written once each before: 5 frames, 0.5 s for 2.2 s)
    assert _frames(rec.path) == [20, 40] + [60] * 10 + [80] * 10 + [100]
    assert (rec.frames, rec.repeated, rec.dropped, rec.cuts) == (23, 18, 0, 0)
    assert rec.summary() == (f"Recording saved: {rec.path} (23 frames, 2.3 s; 18 repeated where the loop "
                             f"ran slower)")


def test_a_loop_faster_than_the_rate_leaves_frames_out(tmp_path):
    rec = Recorder(tmp_path / "fast.avi", fps=5)
    for i in range(20):  # 20 frames in one second at 20 FPS, recorded at 5: one in four
        rec.write(_flat(20 * (i // 4 + 1)), 7.0 + i * 0.05)
    rec.close()
    assert _frames(rec.path) == [20, 40, 60, 80, 100]
    assert (rec.frames, rec.dropped) == (5, 15)
    assert "15 left out where it ran faster" in rec.summary()


def test_a_long_pause_is_cut_to_one_frame(tmp_path):
    rec = Recorder(tmp_path / "pause.avi", fps=10)
    rec.write(_flat(20), 0.0)
    rec.write(_flat(40), 0.1)
    rec.write(_flat(60), 0.1 + MAX_GAP_S + 30.0)  # paused half a minute, then one step
    rec.write(_flat(80), 0.1 + MAX_GAP_S + 30.2)
    rec.close()
    assert _frames(rec.path) == [20, 40, 60, 60, 80]  # not 320 copies of the paused frame
    assert rec.cuts == 1 and "1 pause over 2 s cut short" in rec.summary()
    # a pause just under the limit is kept as it was
    rec = Recorder(tmp_path / "short.avi", fps=10)
    rec.write(_flat(20), 0.0)
    rec.write(_flat(40), MAX_GAP_S - 0.05)
    rec.close()
    assert rec.frames == 20 and rec.cuts == 0


def test_without_times_every_frame_is_written_once(tmp_path):
    rec = Recorder(tmp_path / "plain.avi", fps=10)
    for level in (20, 40, 60):
        rec.write(_flat(level))
    rec.close()
    assert _frames(rec.path) == [20, 40, 60] and rec.summary().endswith("(3 frames, 0.3 s)")


def test_the_loop_records_on_its_clock(tmp_path, monkeypatch):
    """The loop gives the recorder its clock's time with each frame (before: no time, every frame once)."""
    import time

    from app.live.config import LiveConfig, LiveFrame, LiveStatus, PaneConfig
    from app.live.sources import SourceConfig
    from app.live.synthetic import write_test_video
    from tests.test_live_core import TINY, _run_loop

    seen = []
    real = Recorder.write

    def spy(self, rgb, t=None):
        seen.append(t)
        return real(self, rgb, t)

    monkeypatch.setattr(Recorder, "write", spy)
    video = write_test_video(tmp_path / "clip.avi", frames=12, width=64, height=48)
    cfg = LiveConfig(SourceConfig("video", path=str(video)), (PaneConfig(TINY),), size=(24, 32), max_fps=0)
    out = tmp_path / "rec.avi"
    state = {}

    def until(got, loop):
        frames = [g for g in got if isinstance(g, LiveFrame)]
        if frames and "on" not in state:
            state["on"] = len(frames)
            loop.start_recording(out, 10.0)
        elif "on" in state and len(frames) >= state["on"] + 4 and "off" not in state:
            state["off"] = True
            loop.stop_recording()
        return any(isinstance(g, LiveStatus) and g.message.startswith("Recording saved") for g in got)

    before = time.monotonic()
    got, _ = _run_loop(cfg, until)
    saved = [g.message for g in got if isinstance(g, LiveStatus) and g.message.startswith("Recording saved")]
    assert saved and saved[0].startswith(f"Recording saved: {out} (") and " frames, " in saved[0]
    assert len(seen) >= 3 and all(isinstance(t, float) and before <= t <= time.monotonic() for t in seen)
    assert seen == sorted(seen)
