"""Issue 14: background work runs below the window's priority (``app.priority.background_priority``)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from app.threads import BACKGROUND_NICE, background_nice, background_priority

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux only")


def test_the_increment_comes_from_the_environment_within_nices_range():
    assert background_nice({}) == BACKGROUND_NICE == 0  # off unless asked for (its cost on a saturated machine)
    assert background_nice({"FILTER_EXPLORER_WORKER_NICE": "0"}) == 0
    assert background_nice({"FILTER_EXPLORER_WORKER_NICE": " 4 "}) == 4
    assert background_nice({"FILTER_EXPLORER_WORKER_NICE": "99"}) == 19
    assert background_nice({"FILTER_EXPLORER_WORKER_NICE": "-5"}) == 0  # never above the window (nor allowed)
    assert background_nice({"FILTER_EXPLORER_WORKER_NICE": "low"}) == BACKGROUND_NICE


def _in_a_thread(fn):
    out = {}

    def run():
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        out["returned"] = fn()
        out["before"] = before
        out["after"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out


@linux
def test_the_calling_thread_alone_is_lowered(monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_WORKER_NICE", "10")
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    out = _in_a_thread(background_priority)
    assert out["after"] == min(19, out["before"] + 10) == out["returned"]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # the caller's thread only
    assert os.getpriority(os.PRIO_PROCESS, 0) == main  # not the process


@linux
def test_zero_and_the_default_leave_the_thread_as_it_is(monkeypatch):
    out = _in_a_thread(lambda: background_priority(0))
    assert out["returned"] is None and out["after"] == out["before"]
    monkeypatch.delenv("FILTER_EXPLORER_WORKER_NICE", raising=False)
    out = _in_a_thread(background_priority)
    assert out["returned"] is None and out["after"] == out["before"]


def test_other_systems_are_left_alone(monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_WORKER_NICE", "10")
    monkeypatch.setattr(sys, "platform", "darwin")  # there setpriority(PRIO_PROCESS) would lower the whole app
    out = _in_a_thread(background_priority)
    assert out["returned"] is None and out["after"] == out["before"]
