"""A Live pane's statistics never take more than ``STATS_SHARE`` of the CPU loop's time (``LiveEngine._stats_of``):
refreshed every ``stats_every`` s, but not before their last computation's own time over the share. Beside two busy
processes one pane's statistics took ~12 ms, 5% of a loop that refreshed them every 0.25 s. A fake clock and fake
statistics of a chosen cost make the schedule exact."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from app.live import engine as engine_mod
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import STATS_SHARE, LiveEngine
from app.live.stats import MapStats
from app.models.spec import ModelSpec

TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)})
FRAME = np.zeros((24, 32, 3), np.uint8)


class _Clock:
    """``time.monotonic`` / ``time.perf_counter`` for the engine: moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rig(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(engine_mod, "time", SimpleNamespace(monotonic=clock, perf_counter=clock))
    calls = []

    def fake_stats(fmap, cost):
        calls.append(clock.now)
        clock.now += cost  # the statistics' own time
        return MapStats(0.5, 1.0, float("nan"), float("nan"), int(fmap.shape[0]), int(fmap.shape[0]))

    def run(cfg: LiveConfig, frames: int, frame_s: float, cost: float, device: str = "cpu") -> list[float]:
        monkeypatch.setattr(engine_mod, "map_stats", lambda fmap: fake_stats(fmap, cost))
        eng = LiveEngine(device)
        calls.clear()
        start = clock.now
        with torch.inference_mode():
            for _ in range(frames):
                eng.process(FRAME, cfg)
                clock.now += frame_s  # the rest of the frame's time
        return [t - start for t in calls]

    return run


CFG = LiveConfig(panes=(PaneConfig(TINY, 1),), size=(24, 32), stats_every=0.25, max_fps=0)


def test_cheap_statistics_keep_their_refresh_interval(rig):
    # 1 ms each (0.4% of 0.25 s): every 0.25 s as before; 20 ms frames, 2 s
    at = rig(CFG, frames=100, frame_s=0.02, cost=0.001)
    gaps = np.diff(at)
    assert len(at) >= 7 and gaps.max() < 0.25 + 0.03, gaps  # within a frame of the interval


def test_costly_statistics_are_spaced_to_their_share_of_the_loop(rig):
    # 12 ms each (a loaded machine's): not before 12 ms / STATS_SHARE = 0.6 s, instead of every 0.25 s
    cost = 0.012
    at = rig(CFG, frames=200, frame_s=0.05, cost=cost)
    gaps = np.diff(at)
    assert gaps.min() >= cost / STATS_SHARE - 1e-9, gaps
    assert gaps.max() < cost / STATS_SHARE + 0.05 + cost + 1e-9, gaps  # and not later than the frame after
    span = at[-1] + cost
    assert len(at) * cost / span <= STATS_SHARE * 1.25, (len(at), span)  # about the share, not 5%


def test_every_frame_when_asked_or_paused_whatever_the_cost(rig):
    assert len(rig(replace(CFG, stats_every=0.0), frames=10, frame_s=0.01, cost=0.05)) == 10
    assert len(rig(replace(CFG, paused=True), frames=10, frame_s=0.01, cost=0.05)) == 10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.cuda
def test_on_cuda_the_interval_alone_counts(rig):
    # its clock would hold the forward the statistics' read-back waits for: the plain interval
    at = rig(CFG, frames=100, frame_s=0.02, cost=0.012, device="cuda")
    assert np.diff(at).max() < 0.25 + 0.03 + 0.012
