"""The window's status line shows the product's own warnings (a UserWarning raised in app/), not warnings for
developers: an unclosed file read in app/device.py put "Note: unclosed file <_io.TextIOWrapper name='/sys/fs/cgroup/
cpu/cpu.cfs_period_us' ...>" in every workspace's status line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

APP_FILE = str(Path(__file__).resolve().parents[1] / "app" / "device.py")


@pytest.mark.parametrize("category, shown", [(UserWarning, True), (ResourceWarning, False),
                                             (DeprecationWarning, False)])
def test_only_the_products_own_warnings_reach_the_status_line(qtbot, monkeypatch, category, shown):
    from widgets.common.worker import Worker

    notes: list[str] = []
    monkeypatch.setattr(Worker, "notice", notes.append)

    def task(token):
        warnings.warn_explicit("something to say", category, APP_FILE, 1)
        warnings.warn_explicit("not ours", UserWarning, "/elsewhere/lib.py", 1)  # a library's: never a note
        return 1

    w = Worker(task, name="notes")
    with qtbot.waitSignal(w.finished, timeout=10_000):
        w.start()
    w.wait()
    assert notes == (["something to say"] if shown else [])


def test_reading_the_cgroup_quota_leaves_no_file_open():
    from app import device

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        device._cgroup_cpus()
        import gc

        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
