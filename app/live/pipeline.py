"""The live pipeline off the GUI thread: the worker loop, its one-slot mailbox, recording, and which models the
panes offer. Qt-free.

- ``Mailbox``: one slot for the newest ``LiveFrame`` (a slow consumer makes the loop drop frames, never queue
  them) plus a short list of status messages; ``notify`` is called only when the mailbox goes from empty to full,
  so a GUI never gets more than one pending wake-up.
- ``LiveLoop.run(cancel)``: the thread body. Opens the source *in that thread* (a camera can block), reads, processes
  (``app.live.engine.LiveEngine``), records, publishes; reacts to config changes, pause, single steps, retries and
  recording requests.
- ``model_choices``, ``default_pane_specs``, ``live_spec``: the models a pane can show.

Configurations and results live in ``app.live.config``; the frame -> mosaics work in ``app.live.engine``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from app.live.config import LiveConfig, LiveFrame, LiveStatus
from app.live.engine import LiveEngine
from app.threads import ThreadTuner
from app.live.sources import FrameSource, SourceConfig, SourceError, make_source, set_cv_threads
from app.models.spec import ModelSpec
from app.models.zoo import default_specs
from app.session import Session
from app.tasks import CancelToken

# Options that keep a backbone affordable at video resolution (the registry defaults target 32x32 inputs).
LIVE_OPTIONS: dict[str, dict[str, Any]] = {
    "rdsn": {"k": 32, "blocks": 2},
}

# --- mailbox: one slot for the newest frame, a few status lines ----------------------------------------------
class Mailbox:
    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._frame: LiveFrame | None = None
        self._messages: deque[LiveStatus] = deque(maxlen=16)
        self._notify = notify
        self.dropped = 0  # frames replaced before anyone took them

    def _put(self, fn) -> None:
        with self._lock:
            was_empty = self._frame is None and not self._messages
            fn()
        if was_empty and self._notify is not None:
            self._notify()

    def put(self, frame: LiveFrame) -> None:
        def do():
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
        self._put(do)

    def post(self, status: LiveStatus) -> None:
        self._put(lambda: self._messages.append(status))

    def take(self) -> tuple[LiveFrame | None, list[LiveStatus]]:
        with self._lock:
            f, self._frame = self._frame, None
            msgs = list(self._messages)
            self._messages.clear()
        return f, msgs


# --- recording ------------------------------------------------------------------------------------------------
MAX_GAP_S = 2.0  # a pause between two recorded frames longer than this is cut to one frame's time


class Recorder:
    """Writes composites to a video file (cv2.VideoWriter, MJPG .avi or mp4v .mp4) at a fixed size and rate.

    Given each frame's time (``write(rgb, t)``, the loop's clock), the frames are laid on that clock: a frame is
    repeated until the next one's time slot (a loop slowed by load, after the rate was chosen) and a frame that
    falls in a slot already written is left out (a loop that sped up), so the video plays at the pace it ran
    whatever the loop's rate did while recording (before, every frame was written once at the rate measured when
    recording started: a loop that fell from 40 to 4 FPS under load played back ten times too fast). A pause of
    more than ``MAX_GAP_S`` (paused, single steps) is cut to one frame's time, not filled with copies. Without
    times every frame is written once."""

    def __init__(self, path: str | Path, fps: float = 15.0, height: int = 360) -> None:
        self.path = Path(path)
        self.fps, self.height = float(fps), int(height)
        self._writer = None
        self._size: tuple[int, int] | None = None
        self.frames = 0  # frames in the file
        self.repeated = 0  # of them, copies that fill a slower loop's slots
        self.dropped = 0  # frames left out (their slot was written)
        self.cuts = 0  # pauses over MAX_GAP_S cut short
        self._t0: float | None = None
        self._t_last = 0.0
        self._last: np.ndarray | None = None

    def write(self, rgb: np.ndarray, t: float | None = None) -> None:
        frame = self._prepare(rgb)
        if t is None:
            self._put(frame)
            return
        t = float(t)
        if self._t0 is None:
            self._t0 = t
        elif t - self._t_last > MAX_GAP_S:
            self._t0 += (t - self._t_last) - 1.0 / self.fps
            self.cuts += 1
        self._t_last = t
        slot = int(np.floor((t - self._t0) * self.fps + 1e-6))
        while self._last is not None and self.frames < slot:
            self._put(self._last)
            self.repeated += 1
        if self.frames <= slot:
            self._put(frame)
        else:
            self.dropped += 1
        self._last = frame

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        if self._writer is None:
            h, w = rgb.shape[:2]
            w += w % 2
            h += h % 2
            self._size = (w, h)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG"))
            wr = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
            if not wr.isOpened():
                raise OSError(f"cannot write a video to {self.path} (try an .avi file name)")
            self._writer = wr
        if (rgb.shape[1], rgb.shape[0]) != self._size:
            rgb = letterbox(rgb, self._size)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

    def _put(self, bgr: np.ndarray) -> None:
        self._writer.write(bgr)
        self.frames += 1

    def summary(self) -> str:
        """'Recording saved: PATH (N frames, S s; ...)' for the status line."""
        notes = [f"{self.frames} frames, {self.frames / self.fps:.3g} s"]  # its rate was said when it started
        if self.repeated:
            notes.append(f"{self.repeated} repeated where the loop ran slower")
        if self.dropped:
            notes.append(f"{self.dropped} left out where it ran faster")
        if self.cuts:
            notes.append(f"{self.cuts} pause{'s' if self.cuts > 1 else ''} over {MAX_GAP_S:g} s cut short")
        return f"Recording saved: {self.path} ({'; '.join(notes)})"

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``rgb`` scaled to fit ``size`` (W, H) with its aspect kept, centred on the mosaic's gap colour: a recording's
    frames all have its first frame's size, and a composite that changed shape (a pane added, more maps per page) was
    stretched to it."""
    import cv2

    from app.imaging.maps import GAP

    W, H = size
    h, w = rgb.shape[:2]
    s = min(W / w, H / h)
    nw, nh = max(1, min(W, round(w * s))), max(1, min(H, round(h * s)))
    out = np.full((H, W, 3), GAP, np.uint8)
    y0, x0 = (H - nh) // 2, (W - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


# --- the loop -------------------------------------------------------------------------------------------------
class LiveLoop:
    """The body of the live worker thread. Every public method may be called from any thread."""

    def __init__(self, config: LiveConfig, mailbox: Mailbox, engine: LiveEngine | None = None,
                 open_source: Callable[[SourceConfig], FrameSource] = make_source) -> None:
        self._config = config
        self.mailbox = mailbox
        self.engine = engine
        self._open_source = open_source
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._step = 0
        self._retry = False
        self._record: tuple[str, Any] | None = None  # ("start", (path, fps)) or ("stop", None)
        self.frames = 0

    # --- requests (any thread) ---
    @property
    def config(self) -> LiveConfig:
        return self._config

    def set_config(self, cfg: LiveConfig) -> None:
        self._config = cfg  # an atomic reference swap; the loop reads the newest
        self._wake.set()

    def step(self) -> None:
        with self._lock:
            self._step += 1
        self._wake.set()

    def retry(self) -> None:
        """Reopen the source (after an error, or when the user presses Play again)."""
        with self._lock:
            self._retry = True
        self._wake.set()

    def start_recording(self, path: str | Path, fps: float = 15.0) -> None:
        with self._lock:
            self._record = ("start", (str(path), float(fps)))
        self._wake.set()

    def stop_recording(self) -> None:
        with self._lock:
            self._record = ("stop", None)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # --- the thread body ---
    def run(self, cancel: CancelToken) -> None:
        src: FrameSource | None = None
        src_cfg: SourceConfig | None = None
        recorder: Recorder | None = None
        last_frame: np.ndarray | None = None
        last_caption = ""
        last_done: LiveConfig | None = None
        fps = 0.0
        # publish times of the last frames played: the FPS shown. Only frames read while playing enter it (a step is
        # one frame on demand, not a rate), and it restarts after a pause (else the pause counts as one slow frame)
        stamps: deque[float] = deque(maxlen=12)
        post = self.mailbox.post
        cv_prev = set_cv_threads()  # deliberately single-threaded OpenCV (torch has the cores)
        tuner = ThreadTuner("live")  # in this thread: torch's thread count is per thread (app.threads)
        threads_told = ""
        with torch.inference_mode():
            if self.engine is None:
                self.engine = LiveEngine()
            engine = self.engine
            try:
                while not cancel.cancelled:
                    cfg = self._config
                    with self._lock:
                        retry, self._retry = self._retry, False
                        rec, self._record = self._record, None
                    # recording requests
                    if rec is not None:
                        if recorder is not None:
                            recorder.close()
                            post(LiveStatus(recorder.summary()))
                            recorder = None
                        if rec[0] == "start":
                            recorder = Recorder(rec[1][0], rec[1][1])
                            post(LiveStatus(f"Recording to {recorder.path}"))
                    # (re)open the source when it changed or on request
                    if cfg.source != src_cfg or retry:
                        stamps.clear()
                        fps = 0.0
                        if src is not None:
                            src.close()
                            src = None
                        src_cfg = cfg.source
                        last_frame = None
                        post(LiveStatus(f"Opening {cfg.source.describe()}…"))
                        try:
                            s = self._open_source(cfg.source)
                            s.open()
                            src = s
                            post(LiveStatus(f"Showing {s.description}", opened=True))
                        except SourceError as exc:
                            post(LiveStatus(str(exc), "error", running=False))
                        except Exception as exc:  # anything else opening a source: say it, keep the app
                            post(LiveStatus(f"{cfg.source.describe()}: {exc}", "error", running=False))
                    engine.forget_except([p.spec for p in cfg.panes])
                    with self._lock:
                        stepping = self._step > 0 and src is not None
                        if stepping:
                            self._step -= 1
                    if cfg.paused and not stepping:
                        stamps.clear()
                        fps = 0.0
                        if last_frame is not None and cfg != last_done:
                            # paused, but the user changed a layer/page/colour map: show it on the same frame (its
                            # own index, the last one read; no rate: fps 0)
                            lf = engine.process(last_frame, cfg, max(0, self.frames - 1), 0.0,
                                                src.description if src else "", 0.0, last_caption)
                            last_done = cfg
                            self.mailbox.put(lf)
                        self._wake.wait(0.1)
                        self._wake.clear()
                        continue
                    if src is None:
                        self._wake.wait(0.2)
                        self._wake.clear()
                        continue
                    t0 = time.perf_counter()
                    try:
                        if stepping:
                            src.advance()  # a step shows the next picture, also of a source that holds each one
                        frame = src.read()
                    except SourceError as exc:
                        src.close()
                        src = None
                        post(LiveStatus(str(exc), "error", running=False))
                        continue
                    except Exception as exc:
                        src.close()
                        src = None
                        post(LiveStatus(f"{cfg.source.describe()}: {exc}", "error", running=False))
                        continue
                    if frame is None:
                        src.close()
                        src = None
                        post(LiveStatus(f"{cfg.source.describe()}: end of stream", "info", running=False))
                        continue
                    # the source's own wait for the frame to be due (a video paced at its rate) is the interval
                    # between frames, not latency: latency counts from the frame being there (read/decoded)
                    wait_ms = max(0.0, float(getattr(src, "wait_ms", 0.0) or 0.0))
                    read_ms = max(0.0, (time.perf_counter() - t0) * 1000 - wait_ms)
                    last_frame = frame
                    last_caption = src.caption
                    with tuner.step():
                        lf = engine.process(frame, cfg, self.frames, read_ms, src.description, fps, last_caption)
                    if tuner.describe() != threads_told:  # the status bar shows the choice (issue 14)
                        threads_told = tuner.describe()
                        post(LiveStatus(f"Live: {threads_told}"))
                    last_done = cfg
                    self.frames += 1
                    if recorder is not None:
                        try:
                            recorder.write(lf.composite(), time.monotonic())
                        except Exception as exc:
                            post(LiveStatus(f"Recording stopped: {exc}", "error"))
                            recorder.close()
                            recorder = None
                    if cfg.paused:  # a step: one frame on demand, not a rate (fps 0: its own time only)
                        self.mailbox.put(replace(lf, fps=0.0, wait_ms=wait_ms))
                        continue
                    now = time.monotonic()
                    if self.frames == 1:
                        stamps.clear()  # the first frame builds and measures the models: not a rate
                    stamps.append(now)
                    if len(stamps) >= 2:
                        fps = (len(stamps) - 1) / max(1e-6, stamps[-1] - stamps[0])
                    self.mailbox.put(replace(lf, fps=fps, wait_ms=wait_ms))
                    if cfg.max_fps > 0:  # never faster than the display needs
                        wait = 1.0 / cfg.max_fps - (time.perf_counter() - t0)
                        if wait > 0:
                            self._wake.wait(wait)
                            self._wake.clear()
            finally:
                set_cv_threads(cv_prev)
                if src is not None:
                    src.close()
                if recorder is not None:
                    recorder.close()
                    post(LiveStatus(recorder.summary()))


# --- which models the panes offer ------------------------------------------------------------------------------
def live_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with the live-friendly options of LIVE_OPTIONS where the user left the registry defaults."""
    extra = {k: v for k, v in LIVE_OPTIONS.get(spec.backbone, {}).items() if k not in spec.kwargs}
    if not extra or spec.weights or spec.weight_state == "trained":
        return spec
    opts = {**spec.kwargs, **extra}
    note = ", ".join(f"{k}={v}" for k, v in extra.items())
    return replace(spec, options=tuple(sorted(opts.items())), label=f"{spec.label or spec.backbone} [{note}]")


def model_choices(session_models: dict[str, ModelSpec] | None = None) -> list[ModelSpec]:
    """Specs a pane can show: the built-in ones (random, hand-designed, trained) and the session's, by label."""
    out: list[ModelSpec] = []
    seen: set[str] = set()

    def add(spec: ModelSpec, label: str | None = None, session: bool = False) -> None:
        spec = live_spec(spec)
        if label:
            spec = replace(spec, label=label)
        lab = spec.label or spec.backbone
        if lab in seen and session:  # a session model is never dropped for a built-in's name: numbered
            lab = Session.unique_name(dict.fromkeys(seen), lab)
        if lab not in seen:
            seen.add(lab)
            out.append(spec if spec.label == lab else replace(spec, label=lab))

    for s in default_specs():  # the zoo skips damaged shipped files itself
        add(s)
    for name, s in (session_models or {}).items():
        add(s, s.label or name, session=True)
    return out


def default_pane_specs(choices: list[ModelSpec]) -> list[ModelSpec]:
    """Random vs random vs trained: rdsn (random), resnet20 (random) and the best trained model there is."""
    def first(pred) -> ModelSpec | None:
        return next((s for s in choices if pred(s)), None)

    picks = [
        first(lambda s: s.backbone == "rdsn" and s.weight_state != "trained"),
        first(lambda s: s.backbone == "resnet20" and s.weight_state == "random"),
        first(lambda s: s.backbone == "resnet20" and s.weight_state == "trained")
        or first(lambda s: s.weight_state == "trained"),
    ]
    out = [p for p in picks if p is not None]
    for s in choices:  # fewer than two found: fill with whatever is there
        if len(out) >= 2:
            break
        if s not in out:
            out.append(s)
    return out
