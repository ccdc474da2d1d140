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
from app.live.recorder import MAX_GAP_S, Recorder, letterbox  # noqa: F401  (their home until 2026-12-04)
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
        # the frame in flight where the engine is pipelined (CUDA): (submitted frame, its wait_ms, its config)
        pending: tuple | None = None

        def publish(lf: LiveFrame, wait_ms: float, frame_cfg: LiveConfig, step: bool) -> None:
            nonlocal threads_told, last_done, recorder, fps
            if tuner.describe() != threads_told:  # the status bar shows the choice (issue 14)
                threads_told = tuner.describe()
                post(LiveStatus(f"Live: {threads_told}"))
            last_done = frame_cfg
            self.frames += 1
            if recorder is not None:
                try:
                    recorder.write(lf.composite(), time.monotonic())
                except Exception as exc:
                    post(LiveStatus(f"Recording stopped: {exc}", "error"))
                    recorder.close()
                    recorder = None
            if step:  # one frame on demand, not a rate (fps 0: its own time only)
                self.mailbox.put(replace(lf, fps=0.0, wait_ms=wait_ms))
                return
            if self.frames == 1:
                stamps.clear()  # the first frame builds and measures the models: not a rate
            stamps.append(time.monotonic())
            if len(stamps) >= 2:
                fps = (len(stamps) - 1) / max(1e-6, stamps[-1] - stamps[0])
            self.mailbox.put(replace(lf, fps=fps, wait_ms=wait_ms))

        def flush() -> None:
            """The frame in flight collected and shown (before a pause, a step, another source, an error)."""
            nonlocal pending
            if pending is not None:
                p, pending = pending, None
                publish(engine.collect(p[0]), p[1], p[2], step=False)

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
                        flush()  # the frame read before the request belongs to the recording that was running
                        if recorder is not None:
                            recorder.close()
                            post(LiveStatus(recorder.summary()))
                            recorder = None
                        if rec[0] == "start":
                            recorder = Recorder(rec[1][0], rec[1][1])
                            post(LiveStatus(f"Recording to {recorder.path}"))
                    # (re)open the source when it changed or on request
                    if cfg.source != src_cfg or retry:
                        flush()
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
                    if cfg.paused or stepping:
                        flush()  # paused: the last frame read is the one held (and re-coloured below)
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
                    except Exception as exc:
                        flush()
                        src.close()
                        src = None
                        text = str(exc) if isinstance(exc, SourceError) else f"{cfg.source.describe()}: {exc}"
                        post(LiveStatus(text, "error", running=False))
                        continue
                    if frame is None:
                        flush()
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
                    if engine.pipelined and not cfg.paused and cfg.max_fps <= 0 and not src.paced:
                        # one frame in flight (CUDA, a loop as fast as it can go, frames there when read: what
                        # `bench live` measures): this frame's upload and forward are queued before the last one's
                        # read-back is waited for, so the two overlap; the last one is published now. A capped loop
                        # (the GUI's 30 FPS) or a camera shows each frame at once: a frame in flight would add a
                        # frame interval to the latency for a rate nobody sees
                        with tuner.step():
                            nxt = engine.submit(frame, cfg, self.frames + (pending is not None), read_ms,
                                                src.description, fps, last_caption, owned=True)
                            prev, pending = pending, (nxt, wait_ms, cfg)
                            lf = engine.collect(prev[0]) if prev is not None else None
                        if lf is not None:
                            publish(lf, prev[1], prev[2], step=False)
                    else:
                        with tuner.step():
                            lf = engine.collect(engine.submit(frame, cfg, self.frames, read_ms, src.description,
                                                              fps, last_caption, owned=True))
                        publish(lf, wait_ms, cfg, step=cfg.paused)
                        if cfg.paused:
                            continue
                    if cfg.max_fps > 0:  # never faster than the display needs
                        wait = 1.0 / cfg.max_fps - (time.perf_counter() - t0)
                        if wait > 0:
                            self._wake.wait(wait)
                            self._wake.clear()
            finally:
                pending = None  # a frame still in flight is dropped (the loop is ending)
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
