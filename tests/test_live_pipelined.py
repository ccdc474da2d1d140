"""Two frames in flight (``LiveEngine.submit`` / ``collect``; ``LiveLoop`` on a pipelined engine): each collected frame
is the very frame the serial ``process`` makes of the same input, whatever was submitted in between; the loop
publishes every frame it read, in order, with its own index and picture; pausing, stepping, another source and the end
of a stream show the frame still in flight rather than lose it. On CPU the engine is pipelined only when told (CUDA
is by default: the device's queue is what overlaps); these tests drive the bookkeeping on CPU, and
tests/test_cuda_paths.py the same comparison on a GPU."""

from __future__ import annotations

import threading
import time

import numpy as np
import torch

from app.live.config import LiveConfig, LiveFrame, LiveStatus, PaneConfig
from app.live.engine import LiveEngine
from app.live.pipeline import LiveLoop, Mailbox
from app.live.sources import FrameSource, SourceConfig
from app.models.spec import ModelSpec
from tests.live_helpers import run_loop_until

TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6), "pool": "max"})


def _frame(i: int, h=24, w=32) -> np.ndarray:
    rng = np.random.default_rng(i)
    f = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    f[0, 0] = i % 256  # the frame's number, readable from what is shown
    return f


def _same(a: LiveFrame, b: LiveFrame) -> None:
    assert a.index == b.index and np.array_equal(a.frame, b.frame)
    for p, q in zip(a.panes, b.panes, strict=True):
        assert p.error is None and q.error is None
        assert np.array_equal(p.mosaic, q.mosaic) and np.array_equal(p.values, q.values)
        assert (p.lo, p.hi, p.channels, p.first, p.count) == (q.lo, q.hi, q.channels, q.first, q.count)


def test_frames_in_flight_collect_as_the_serial_engine_makes_them():
    cfg = LiveConfig(panes=(PaneConfig(TINY, 1, 0, 6), PaneConfig(TINY, 0, 0, 4, focus=1)), size=(24, 32))
    resized = LiveConfig(panes=cfg.panes, size=(12, 16))  # the shown frame made on the device, read back
    serial, piped = LiveEngine("cpu"), LiveEngine("cpu")
    piped.pipelined = True
    with torch.inference_mode():
        for c in (cfg, resized):
            ref = [serial.process(_frame(i), c, i) for i in range(4)]
            out, pending = [], None
            for i in range(4):
                nxt = piped.submit(_frame(i), c, i, owned=True)
                if pending is not None:
                    out.append(piped.collect(pending))
                pending = nxt
            out.append(piped.collect(pending))
            for a, b in zip(out, ref, strict=True):
                _same(a, b)


def test_an_owned_frame_is_shown_without_a_copy():
    eng = LiveEngine("cpu")
    cfg = LiveConfig(panes=(PaneConfig(TINY, 1, 0, 6),), size=(24, 32))
    f = _frame(3)
    with torch.inference_mode():
        assert eng.process(f, cfg).frame is not f  # not handed over: a copy (the caller may write it again)
        lf = eng.collect(eng.submit(f, cfg, owned=True))
    assert lf.frame is f


class _Numbered(FrameSource):
    """Frames 0, 1, 2, ... (each its number in pixel (0, 0)); ``stop`` frames, then the end of the stream."""

    def __init__(self, stop: int = 10**9) -> None:
        self.i, self.stop, self.description = 0, stop, "numbered"

    def open(self) -> None:
        pass

    def read(self):
        if self.i >= self.stop:
            return None
        self.i += 1
        return _frame(self.i - 1)


def _loop(cfg, until, pipelined=True, source=None, timeout=30.0, published=None):
    got: list = []
    cond = threading.Event()
    mb = Mailbox(notify=cond.set)
    eng = LiveEngine("cpu")
    eng.pipelined = pipelined
    made = []

    def open_source(_cfg):
        made.append(source() if source else _Numbered())
        return made[-1]

    loop = LiveLoop(cfg, mb, eng, open_source)
    # every frame the loop publishes (the mailbox keeps the newest only)
    published: list[LiveFrame] = [] if published is None else published
    put = mb.put
    mb.put = lambda f: (published.append(f), put(f))

    def step():
        got.extend(mb.take()[1])
        return until(published, got, loop)

    run_loop_until(loop, cond, step, timeout, poll=0.05)
    return published, got, loop, made


def test_the_pipelined_loop_publishes_every_frame_in_order_with_its_own_picture():
    cfg = LiveConfig(SourceConfig("synthetic"), (PaneConfig(TINY, 1, 0, 6),), size=(24, 32), max_fps=0)
    pub, _, loop, made = _loop(cfg, lambda p, g, lp: len(p) >= 12)
    assert [f.index for f in pub] == list(range(len(pub)))
    assert all(int(f.frame[0, 0, 0]) == f.index for f in pub)  # frame n shows picture n
    assert made[0].i in (len(pub), len(pub) + 1)  # at most one frame read and not yet shown (in flight)
    assert all(f.panes[0].mosaic is not None for f in pub)


def test_pausing_shows_the_frame_in_flight_and_a_step_shows_the_next():
    cfg = LiveConfig(SourceConfig("synthetic"), (PaneConfig(TINY, 1, 0, 6),), size=(24, 32), max_fps=0)
    state: dict = {}

    def until(pub, got, loop):
        if "paused" not in state and len(pub) >= 5:
            state["paused"] = True
            loop.set_config(LiveConfig(cfg.source, cfg.panes, size=cfg.size, max_fps=0, paused=True))
            return False
        if "paused" in state and "read" not in state:
            time.sleep(0.3)  # settled: nothing is read while paused
            state["read"], state["shown"] = state["src"][0].i, len(pub)
            loop.step()
            return False
        return "read" in state and len(pub) > state["shown"]

    state["src"] = []

    def source():
        state["src"].append(_Numbered())
        return state["src"][-1]

    pub, _, loop, _ = _loop(cfg, until, source=source)
    # paused: every frame read was shown (the held one again, re-coloured for the paused settings), and the one
    # held is the last one read
    held = pub[:state["shown"]]
    assert sorted({int(f.frame[0, 0, 0]) for f in held}) == list(range(state["read"]))
    assert int(held[-1].frame[0, 0, 0]) == held[-1].index == state["read"] - 1
    step = pub[state["shown"]]
    assert step.fps == 0.0 and step.index == state["read"] and int(step.frame[0, 0, 0]) == state["read"]


def test_the_end_of_a_stream_shows_its_last_frame():
    cfg = LiveConfig(SourceConfig("synthetic"), (PaneConfig(TINY, 1, 0, 6),), size=(24, 32), max_fps=0)

    def until(pub, got, loop):
        return any(isinstance(g, LiveStatus) and "end of stream" in g.message for g in got)

    for pipelined in (True, False):
        pub, got, _, _ = _loop(cfg, until, pipelined=pipelined, source=lambda: _Numbered(stop=4))
        assert [int(f.frame[0, 0, 0]) for f in pub] == [0, 1, 2, 3], pipelined


class _Watched(_Numbered):
    """Records, at each read, how many frames had been published by then."""

    def __init__(self, published, paced=False):
        super().__init__()
        self.published, self.paced, self.seen = published, paced, []

    def read(self):
        self.seen.append(len(self.published))
        return super().read()


def test_a_capped_loop_or_a_paced_source_keeps_no_frame_in_flight():
    """The GUI's 30 FPS cap, or a camera: each frame is shown before the next is read (a frame in flight would add a
    frame interval to the latency); uncapped from an unpaced source, one frame is in flight."""
    base = LiveConfig(SourceConfig("synthetic"), (PaneConfig(TINY, 1, 0, 6),), size=(24, 32), max_fps=0)
    capped = LiveConfig(base.source, base.panes, size=base.size, max_fps=200)
    for cfg, paced, in_flight in ((base, False, True), (capped, False, False), (base, True, False)):
        published: list = []
        made: list = []

        def source():
            made.append(_Watched(published, paced))
            return made[-1]

        _loop(cfg, lambda pub, got, loop: len(pub) >= 6, source=source, published=published)
        seen = made[0].seen[:6]  # frames shown when frame k was read (both in the loop's thread)
        want = [max(0, k - 1) for k in range(6)] if in_flight else list(range(6))
        assert seen == want, (cfg.max_fps, paced, seen)


class _Stamp:
    def __init__(self, t):
        self.t = t

    def elapsed_time(self, other):
        return other.t - self.t


def test_a_panes_device_time_is_its_two_spans_and_its_share_of_the_input():
    """CUDA's pane figure (its kernels run after submit returns, so the host's time to queue them says nothing):
    events after the input, after each pane's maps, after each pane's colours; here stand-ins with known times."""
    from app.live.transfer import Marks

    assert Marks("cpu").pane_ms(0, 2) is None  # CPU: the host's own time is the work's
    m = Marks("cpu")
    # start, input 3 ms, maps of panes 0 and 1: 10 and 4 ms, colours: 1 and 2 ms
    m.events = [_Stamp(t) for t in (0.0, 3.0, 13.0, 17.0, 18.0, 20.0)]
    assert m.pane_ms(0, 2) == 1.5 + 10.0 + 1.0 and m.pane_ms(1, 2) == 1.5 + 4.0 + 2.0
    m.events = m.events[:5]  # not the marks of two panes: no figure rather than a wrong one
    assert m.pane_ms(0, 2) is None
