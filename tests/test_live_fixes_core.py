"""Live core fixes (audit E): a step shows the next picture of a held source, a paused frame's statistics are its
own, latency leaves out a paced video's wait for its next frame, and the frame rate counts only frames played.

No QApplication. Videos written with cv2.VideoWriter stand in for the camera. No wall-clock thresholds: the
assertions compare values and components (a wait the source reports against the latency shown).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from app.live.config import LiveConfig, LiveFrame, PaneConfig
from app.live.engine import LiveEngine
from app.live.pipeline import LiveLoop, Mailbox
from app.live.sources import DatasetSource, ImageSource, SourceConfig, VideoFileSource
from app.live.stats import map_stats
from app.live.synthetic import write_test_video
from app.models.spec import ModelSpec
from app.tasks import CancelToken

TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)})


class _AllFrames(Mailbox):
    """A mailbox that also keeps every frame published, in order, with the phase the test was in."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "start"
        self.all: list[tuple[str, LiveFrame]] = []
        self._seen = threading.Lock()

    def put(self, frame) -> None:
        with self._seen:
            self.all.append((self.phase, frame))
        super().put(frame)

    def frames(self, phase: str | None = None) -> list[LiveFrame]:
        with self._seen:
            return [f for p, f in self.all if phase is None or p == phase]


class _Running:
    """A LiveLoop on its own thread (the worker), stopped and joined on exit."""

    def __init__(self, cfg: LiveConfig) -> None:
        self.mb = _AllFrames()
        self.loop = LiveLoop(cfg, self.mb, LiveEngine("cpu"))
        self.token = CancelToken()
        self.thread = threading.Thread(target=self.loop.run, args=(self.token,), daemon=True)

    def __enter__(self) -> "_Running":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.token.cancel()
        self.loop.wake()
        self.thread.join(20)
        assert not self.thread.is_alive()

    def wait(self, cond, timeout: float = 60.0) -> None:
        t0 = time.monotonic()
        while not cond():
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"timed out; errors: {[m.message for m in self.mb.take()[1]]}")
            time.sleep(0.01)


def _folder(tmp_path, n=3):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(n):
        img = np.full((30, 40, 3), 60 * (i + 1), np.uint8)
        cv2.imwrite(str(d / f"im{i}.png"), img)
    return d


# --- 7: a step shows the next picture -----------------------------------------------------------------------------
def test_held_sources_advance_to_the_next_picture(tmp_path):
    src = ImageSource(_folder(tmp_path), hold=30)
    src.open()
    src.advance()  # nothing shown yet: the first picture still comes first
    a = src.read()
    assert np.array_equal(src.read(), a)  # held: the same picture for 30 reads
    src.advance()
    b = src.read()
    src.advance()
    c = src.read()
    src.advance()
    assert [int(x[0, 0, 0]) for x in (a, b, c, src.read())] == [60, 120, 180, 60]  # in turn, then round again
    ds = DatasetSource("digits", hold=15)
    ds.open()
    first = ds.read()
    ds.advance()
    second = ds.read()
    assert ds._i == 16 and not np.array_equal(first, second)  # the next sample, not the 2nd read of 15


def test_a_paused_step_on_an_image_folder_shows_the_next_image(tmp_path):
    """make_source holds each image for 30 reads; three steps show three images, not the first one three times."""
    cfg = LiveConfig(SourceConfig("image", path=str(_folder(tmp_path))), (PaneConfig(TINY, 0),), size=(30, 40),
                     paused=True, max_fps=0)
    with _Running(cfg) as run:
        for k in range(3):
            run.loop.step()
            run.wait(lambda: len([f for f in run.mb.frames() if f.index == k]) >= 1)
        shown = [f for f in run.mb.frames() if f.panes[0].error is None]
    values = [int(f.frame[0, 0, 0]) for f in shown[:3]]
    assert values == [60, 120, 180], values


# --- 2: a paused frame's statistics are its own -------------------------------------------------------------------
def test_paused_frames_get_their_own_statistics_whatever_the_refresh_interval(tmp_path):
    video = write_test_video(tmp_path / "v.avi", frames=6, width=64, height=48)
    src = VideoFileSource(video)
    src.open()
    frames = [src.read() for _ in range(3)]
    src.close()
    eng = LiveEngine("cpu")
    playing = LiveConfig(panes=(PaneConfig(TINY, 1),), size=(48, 64), stats_every=3600.0)
    paused = replace(playing, paused=True)
    with torch.inference_mode():
        eng.process(frames[0], playing)  # statistics cached for an hour while playing
        got = [eng.process(f, paused).panes[0].stats for f in frames[1:]]  # two steps
        e = eng.entry(TINY)
        want = []
        for f in frames[1:]:
            x = eng.prepare(f, e.inp, eng.input_size(e, f.shape[:2]))
            want.append(map_stats(e.model.forward_intermediates(x, [1])[0][0]))
    assert not math.isclose(want[0].mean_abs, want[1].mean_abs, rel_tol=1e-3)  # the frames do differ
    for g, w in zip(got, want):
        assert math.isclose(g.mean_abs, w.mean_abs, rel_tol=1e-3) and math.isclose(g.sparsity, w.sparsity,
                                                                                     abs_tol=1e-3)


# --- 3: latency leaves out the pacing wait ------------------------------------------------------------------------
def test_a_paced_video_reports_its_wait_apart(tmp_path):
    video = write_test_video(tmp_path / "v.avi", frames=4, width=32, height=24)
    src = VideoFileSource(video, fps=4.0)
    src.open()
    src.read()
    assert src.wait_ms == 0.0  # the first frame is due at once
    src.read()
    assert src.wait_ms > 0.0  # the next one waited for its turn (a quarter second minus the time since)


def test_latency_is_from_the_frame_read_not_from_the_wait_for_it(tmp_path):
    """A video paced at 2 frames/s: each frame waits ~500 ms to be due. That wait is reported apart (wait_ms) and
    neither the read time nor the latency holds it (the audit saw "latency 99 ms" at 10 fps, 97.6 ms of it wait)."""
    video = write_test_video(tmp_path / "v.avi", frames=8, width=64, height=48)
    cfg = LiveConfig(SourceConfig("video", path=str(video), fps=2.0), (PaneConfig(TINY, 0),), size=(48, 64),
                     max_fps=0)
    with _Running(cfg) as run:
        run.wait(lambda: len(run.mb.frames()) >= 4)
    frames = run.mb.frames()[2:4]  # past the first (it builds the model) and the one that waited on that build
    for lf in frames:
        assert lf.wait_ms > 0  # the source waited for the frame to be due, and said so
        assert lf.read_ms < lf.wait_ms and lf.latency_ms < lf.wait_ms, (lf.read_ms, lf.latency_ms, lf.wait_ms)
        assert lf.latency_ms >= lf.read_ms  # latency = read + processing


# --- 4/5: the rate counts frames played, restarts after a pause, and a step has none ----------------------------
def test_rate_restarts_on_resume_and_steps_claim_no_rate(tmp_path):
    video = write_test_video(tmp_path / "v.avi", frames=30, width=64, height=48)
    cfg = LiveConfig(SourceConfig("video", path=str(video)), (PaneConfig(TINY, 0),), size=(48, 64), max_fps=20)
    with _Running(cfg) as run:
        run.wait(lambda: len([f for f in run.mb.frames() if f.fps > 0]) >= 3)  # playing: a rate
        run.mb.phase = "paused"
        # paused with another colour map: the held frame is shown again in it (a frame read just before the pause,
        # in the old colour map, may come first)
        paused = replace(cfg, paused=True, colormap="gray")
        run.loop.set_config(paused)
        run.wait(lambda: any(f.colormap == "gray" for f in run.mb.frames("paused")))
        run.mb.phase = "step"
        run.loop.step()
        run.wait(lambda: len(run.mb.frames("step")) >= 1)
        time.sleep(0.5)  # a pause: no frame is read meanwhile
        run.mb.phase = "resumed"
        run.loop.set_config(cfg)
        run.wait(lambda: len(run.mb.frames("resumed")) >= 4)
    held = [f for f in run.mb.frames("paused") if f.colormap == "gray"]
    step = run.mb.frames("step")
    resumed = run.mb.frames("resumed")
    assert len(held) == 1 and len(step) == 1 and step[0].index == held[0].index + 1  # the held frame, the next
    assert all(f.fps == 0 for f in held + step), [f.fps for f in held + step]  # paused: no rate claimed
    # the window restarted: the first frame after the pause has no rate yet (one time stamp), then rates of the
    # frames played since only (not the pause, not the step)
    assert resumed[0].fps == 0, [f.fps for f in resumed]
    assert all(f.fps > 0 for f in resumed[2:]), [f.fps for f in resumed]
