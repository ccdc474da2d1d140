"""Issue 14: the order of the start-up's work (what waits for what), not its speed (``scripts/first_paint.py``).

- The preloader's next imports and the shown workspace's own workers wait for its first layout and paint.
- The workers held during the start-up start one at a time afterwards (``start_deferred(one_at_a_time=True)``), each
  once the one before is done or has run ``SERIAL_CAP_MS``; ``where`` releases only some; waiting for one starts it.
- The Probe's dataset browser, built in one step and wired up in the next, loads only once told (``load_first``).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parent.parent


def _worker(name, ran, gate=None):
    from widgets.common.worker import Worker

    def task(token):
        ran.append(f"{name} start")
        if gate is not None:
            gate.wait(20)
        ran.append(f"{name} end")
        return name

    return Worker(task, name=name)


def test_released_workers_run_one_after_another(qtbot):
    from widgets.common.worker import hold_workers, start_deferred

    ran: list[str] = []
    gate = threading.Event()
    first, second = _worker("first", ran, gate), _worker("second", ran)
    hold_workers(lambda w: True)
    try:
        first.start()
        second.start()
    finally:
        hold_workers(None)
    assert not first._thread.isRunning() and not second._thread.isRunning()
    start_deferred(one_at_a_time=True)
    assert first._thread.isRunning() and not second._thread.isRunning() and second.is_running()
    with qtbot.waitSignal(second.finished, timeout=20_000):
        gate.set()
    assert ran == ["first start", "first end", "second start", "second end"]


def test_a_long_released_worker_delays_the_next_one_at_most_the_cap(qtbot, monkeypatch):
    from widgets.common import worker as wk

    monkeypatch.setattr(wk, "SERIAL_CAP_MS", 50)
    ran: list[str] = []
    gate = threading.Event()
    slow, other = _worker("slow", ran, gate), _worker("other", ran)
    wk.hold_workers(lambda w: True)
    try:
        slow.start()
        other.start()
    finally:
        wk.hold_workers(None)
    try:
        with qtbot.waitSignal(other.finished, timeout=20_000):
            wk.start_deferred(one_at_a_time=True)
        assert "other end" in ran and "slow end" not in ran  # it started while the first one still ran
    finally:
        gate.set()
        assert slow.wait(20_000)


def test_where_releases_only_the_chosen_and_waiting_starts_a_released_one(qtbot):
    from widgets.common.worker import hold_workers, start_deferred

    ran: list[str] = []
    gate = threading.Event()
    blocker, chosen, queued, other = (_worker("blocker", ran, gate), _worker("chosen", ran), _worker("queued", ran),
                                      _worker("other", ran))
    hold_workers(lambda w: True)
    try:
        for w in (blocker, chosen, queued, other):
            w.start()
    finally:
        hold_workers(None)
    try:
        start_deferred(lambda w: w.name != "other", one_at_a_time=True)
        assert blocker._thread.isRunning() and not queued._thread.isRunning() and not other._thread.isRunning()
        assert queued.wait(20_000) and "queued end" in ran  # waited for: started at once, not after the blocker
        assert "blocker end" not in ran and not other._thread.isRunning()
    finally:
        gate.set()
        assert blocker.wait(20_000) and chosen.wait(20_000)
    with qtbot.waitSignal(other.finished, timeout=20_000):
        start_deferred()
    assert sorted(ran) == sorted(f"{n} {e}" for n in ("blocker", "chosen", "queued", "other") for e in ("start", "end"))


def test_dataset_browser_loads_only_once_told(qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QSettings

    from widgets.data.browser import DatasetBrowser

    calls: list[int] = []
    refresh = DatasetBrowser._refresh
    monkeypatch.setattr(DatasetBrowser, "_refresh", lambda self: calls.append(1) or refresh(self))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    browser = DatasetBrowser(settings=settings, auto_load=False)
    qtbot.addWidget(browser)
    qtbot.wait(50)
    assert calls == []
    browser.load_first()
    qtbot.waitUntil(lambda: calls == [1], timeout=5_000)
    auto = DatasetBrowser(settings=settings)
    qtbot.addWidget(auto)
    qtbot.waitUntil(lambda: calls == [1, 1], timeout=5_000)
    browser.cancel()
    auto.cancel()


def _first_paint():
    spec = importlib.util.spec_from_file_location("first_paint", ROOT / "scripts" / "first_paint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_preloading_goes_on_after_the_shown_workspace_is_on_screen():
    """Launched as ``main.py`` is (the benchmark's child): the Kernel Workbench is built first and put in its tab; the
    preloader imports the next workspace's modules only once its first render is done (or after the cap), and its
    render starts only after it was put in its tab; every workspace is still built and ready."""
    from widgets.main_window import WORKSPACES
    from widgets.window_build import FIRST_RENDER_CAP_S

    run = _first_paint().one_run(["--workspace", "kernels"], deadline=120.0)
    assert run["rc"] == 0 and not run["timed_out"] and run["preload_error"] is None
    start = {name: at for name, _thread, at, _ms in run["steps"]}
    render_start, render_end = run["call_times"]["compute_views"]
    assert start["show kernels"] <= run["call_times"]["sample_image"][0] <= render_start
    assert start["import models"] >= min(render_end, start["show kernels"] + FIRST_RENDER_CAP_S)
    assert all(f"show {key}" in start for key in WORKSPACES)
