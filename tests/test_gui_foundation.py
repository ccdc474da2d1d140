"""Foundation GUI: main window, device in the status bar, remembered settings, the worker helper, screenshots."""

from __future__ import annotations

import time

import pytest

from app.tasks import Progress, check

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_status_bar_shows_device(window):
    assert window.device_label.text().startswith("Device: CPU (")


def test_workspace_remembered_between_launches(qtbot, window):
    from widgets.main_window import MainWindow

    window.tabs.setCurrentIndex(2)
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.current_workspace() == "live"
    again.close()


def _slow(n, token):
    for i in range(n):
        check(token)
        time.sleep(0.01)
        yield Progress(i + 1, n, "working", payload=i)
    return n


def test_worker_delivers_progress_and_result(qtbot):
    from widgets.common.worker import Worker

    w = Worker(lambda token: _slow(20, token))
    seen = []
    w.progress.connect(seen.append)
    with qtbot.waitSignal(w.finished, timeout=10000) as blocker:
        w.start()
    assert blocker.args == [20]
    assert seen and seen[-1].done == 20  # the last report is never dropped


def test_worker_cancel_and_failure(qtbot):
    from widgets.common.worker import Worker

    w = Worker(lambda token: _slow(10_000, token))
    with qtbot.waitSignal(w.cancelled, timeout=10000):
        w.start()
        qtbot.wait(50)
        w.cancel()

    def boom(token):
        yield Progress(0, 1)
        raise ValueError("bad input: kernel size must be odd")

    w2 = Worker(boom)
    with qtbot.waitSignal(w2.failed, timeout=10000) as blocker:
        w2.start()
    assert "kernel size must be odd" in blocker.args[0]


def test_worker_on_wires_every_signal_given(qtbot):
    """``Worker.on``: each slot given reaches its own signal, the worker comes back for chaining; one failing job
    reports through failed and done only."""
    from widgets.common.worker import Worker

    got = {"progress": [], "finished": [], "failed": [], "cancelled": [], "done": []}
    w = Worker(lambda token: _slow(5, token))
    assert w.on(progress=got["progress"].append, finished=got["finished"].append, failed=got["failed"].append,
                cancelled=lambda: got["cancelled"].append(True), done=lambda: got["done"].append(True)) is w
    with qtbot.waitSignal(w.done, timeout=10000):
        w.start()
    assert got["finished"] == [5] and got["progress"][-1].done == 5
    assert got["failed"] == [] and got["cancelled"] == [] and got["done"] == [True]

    def boom(token):
        raise ValueError("no such layer")
        yield

    seen = []
    w2 = Worker(boom).on(finished=lambda r: seen.append(("finished", r)), failed=lambda m: seen.append(("failed", m)),
                         done=lambda: seen.append(("done",)))
    with qtbot.waitSignal(w2.done, timeout=10000):
        w2.start()
    assert seen == [("failed", "no such layer"), ("done",)]


@pytest.mark.parametrize("ws", ["kernels", "models", "live", "probe"])
def test_screenshot_command_writes_png(screenshot_launches, ws):
    from PySide6.QtGui import QImage

    out, rc, err = screenshot_launches[ws]
    assert rc == 0, err
    assert out.stat().st_size > 10_000
    img = QImage(str(out))
    assert img.width() == 1400 and img.height() == 900
    # a picture writes no bank autosave: a window open on that home keeps its own (the screenshot's would replace it)
    assert not (out.parent / f"home-{ws}" / "files" / "autosave-banks").exists()
