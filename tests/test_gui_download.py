"""The one GUI download helper (``widgets.common.download.DatasetDownload``): its ends, their wording, one download at
a time, and the two views that use it (the data browser's bar, the Experiments workspace's button)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.gui


def _fake(monkeypatch, outcome: str, folder="/data/MNIST/raw", steps: int = 2, pause: float = 0.0):
    from app.data import remote
    from app.tasks import Progress, check

    calls = []

    def download(name, root, cancel=None, force=False, **kw):
        calls.append((name, root, force))
        for i in range(steps):
            check(cancel)
            yield Progress(i + 1, steps, f"{name}: {i + 1}/{steps}")
            time.sleep(pause)
        if outcome == "failed":
            raise remote.DatasetError("the mirror answered 503")
        return folder

    monkeypatch.setattr(remote, "download", download)
    return calls


@pytest.mark.parametrize("pooled", [False, True])
def test_each_end_is_one_signal_with_its_line(qtbot, monkeypatch, pooled):
    from widgets.application import make_app
    from widgets.common.download import DatasetDownload
    from widgets.common.worker import WorkerPool

    make_app()
    pool = WorkerPool() if pooled else None
    d = DatasetDownload(pool=pool)
    seen, progress = [], []
    d.ended.connect(lambda kind, text, folder: seen.append((kind, text, folder)))
    d.progress.connect(lambda p: progress.append(p.message))

    calls = _fake(monkeypatch, "downloaded")
    assert d.start("mnist", "/data", force=True) and d.running()
    assert not d.start("mnist", "/data")  # one at a time
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=10_000)
    assert seen[0] == ("downloaded", "mnist downloaded into /data/MNIST/raw.", "/data/MNIST/raw")
    assert calls == [("mnist", "/data", True)] and progress and progress[-1] == "mnist: 2/2" and not d.running()

    _fake(monkeypatch, "failed")
    assert d.start("fashion-mnist", None)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
    assert seen[1] == ("failed", "The download of fashion-mnist failed: the mirror answered 503", None)

    _fake(monkeypatch, "downloaded", steps=500, pause=0.01)
    assert d.start("cifar10", None)
    qtbot.waitUntil(lambda: progress[-1].startswith("cifar10:"), timeout=10_000)
    assert d.cancel()
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=10_000)
    assert seen[2] == ("cancelled", "The download of cifar10 was cancelled; the next one resumes it.", None)
    assert not d.running() and not d.cancel()
    if pool is not None:
        pool.shutdown()


def test_stop_joins_and_still_delivers_the_end(qtbot, monkeypatch):
    from widgets.application import make_app
    from widgets.common.download import DatasetDownload

    make_app()
    d = DatasetDownload()
    seen = []
    d.ended.connect(lambda kind, text, folder: seen.append(kind))
    _fake(monkeypatch, "downloaded", steps=500, pause=0.01)
    d.start("mnist", None)
    qtbot.waitUntil(lambda: d._worker is not None and d._worker._thread.isRunning(), timeout=5_000)
    d.stop(10_000)  # a window closing
    assert seen == ["cancelled"] and not d.running()


def test_both_views_use_the_one_helper():
    """One home: the browser's bar and the Experiments button hold a DatasetDownload, and neither module starts a
    download worker of its own."""
    import inspect

    import widgets.data.download as bar
    import widgets.common.download_button as button  # (the Experiments, Models and Probe views' button)

    for mod in (bar, button):
        src = inspect.getsource(mod)
        assert "DatasetDownload(" in src and "remote.download" not in src.split('"""', 2)[2], mod.__name__
