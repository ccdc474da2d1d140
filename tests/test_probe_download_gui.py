"""Probe workspace: a chosen dataset that is not on this machine cannot be trained on. Train (and the trained
baseline) is off with the reason on its tooltip and the stage line, a "Download NAME (size)" button under Train
fetches it (the dataset browser's download: one per workspace), and Train comes on once it is there; a failed or
cancelled download leaves the button and Train off. Downloads are faked (``app.data.remote.download``): no network.
Also: ``DownloadButton``'s one home (``widgets.common.download_button``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from test_probe_gui import choose_dataset, click_check, make_ws, press, uncheck_all  # noqa: F401

pytestmark = pytest.mark.gui


@pytest.fixture
def no_data(tmp_path, monkeypatch) -> Path:
    """A user's machine: an empty data folder, no ../shared (no MNIST anywhere)."""
    from app import paths

    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(paths, "shared_dir", lambda: None)
    return tmp_path / "data"


def _fake_download(monkeypatch, data: Path, outcome: str = "downloaded", gate: threading.Event | None = None):
    """``remote.download`` replaced: a task that (after ``gate``, and unless cancelled) writes a tiny MNIST into
    ``data`` (or fails); returns the datasets it was asked for."""
    from fixtures_data import idx_files

    from app.data import remote
    from app.tasks import Progress, check

    calls = []

    def download(name, root, cancel=None, **kw):
        calls.append(name)
        yield Progress(1, 4, f"{name}: fetching")
        while gate is not None and not gate.wait(0.02):
            check(cancel)
            yield Progress(2, 4, f"{name}: fetching")
        check(cancel)
        if outcome == "failed":
            raise remote.DatasetError("the mirror answered 503")
        folder = data / "MNIST" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        for n, b in idx_files(20, 10).items():
            (folder / n).write_bytes(b)
        yield Progress(4, 4, f"{name}: done")
        return folder

    monkeypatch.setattr(remote, "download", download)
    return calls


def _mnist_missing(qtbot, make_ws):  # noqa: F811
    ws = make_ws()
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "simple (random)")
    choose_dataset(ws, "mnist")
    return ws


def _assert_not_ready(ws) -> None:
    btn = ws.data_download.button
    assert not ws.train_btn.isEnabled() and not ws.baseline_btn.isEnabled()
    assert "Not ready: mnist is not downloaded" in ws.train_btn.toolTip()
    assert "Not ready: mnist is not downloaded" in ws.baseline_btn.toolTip()
    assert btn.isVisible() and btn.isEnabled() and btn.text() == "Download mnist (11.1 MB)"
    assert not ws.cancel_btn.isEnabled()


def test_train_is_off_for_a_dataset_not_here_with_the_reason_and_a_download(qtbot, make_ws, no_data,  # noqa: F811
                                                                            monkeypatch):
    ws = make_ws()
    uncheck_all(qtbot, ws)
    click_check(qtbot, ws, "simple (random)")
    choose_dataset(ws, "digits")  # here (it ships with scikit-learn): Train on, no Download
    assert ws.train_btn.isEnabled() and "Not ready" not in ws.train_btn.toolTip()
    assert not ws.data_download.button.isVisible()
    choose_dataset(ws, "mnist")
    _assert_not_ready(ws)
    assert ws.stage.text().startswith("Not ready: mnist is not downloaded")
    started = []
    monkeypatch.setattr(ws.queue, "start", lambda jobs: started.append(jobs))
    qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)  # the greyed Train does nothing
    assert not ws.banner.isVisible()
    press(qtbot, ws, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # nor does its shortcut: it says why
    assert started == [] and not ws.is_running()
    assert ws.banner.isVisible() and ws.banner.text().startswith("Not started: mnist is not downloaded")
    assert ws.stage.text().startswith("Not ready: mnist is not downloaded")
    choose_dataset(ws, "digits")  # another dataset that is here: Train on again, the Download gone
    assert ws.train_btn.isEnabled() and not ws.data_download.button.isVisible()


def test_the_download_under_train_makes_it_trainable(qtbot, make_ws, no_data, monkeypatch):  # noqa: F811
    gate = threading.Event()
    calls = _fake_download(monkeypatch, no_data, gate=gate)
    ws = _mnist_missing(qtbot, make_ws)
    _assert_not_ready(ws)
    btn = ws.data_download.button
    qtbot.mouseClick(btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: calls == ["mnist"], timeout=10_000)
    # while it downloads: the button says so and is off, Train stays off, Cancel (and Esc) can stop it, and the
    # browser shows the one download (its own Download is off meanwhile)
    assert ws.data_download.running() and not btn.isEnabled() and btn.text() == "Downloading mnist…"
    assert not ws.train_btn.isEnabled() and ws.cancel_btn.isEnabled()
    assert ws.stage.text().startswith("Not ready: downloading mnist")
    assert not ws.browser.download_btn.isEnabled()
    gate.set()
    qtbot.waitUntil(lambda: not ws.data_download.running(), timeout=10_000)
    qtbot.waitUntil(ws.train_btn.isEnabled, timeout=10_000)
    assert "Not ready" not in ws.train_btn.toolTip() and not btn.isVisible() and not ws.cancel_btn.isEnabled()
    assert ws.stage.text().startswith(f"mnist downloaded into {no_data / 'MNIST' / 'raw'}.\nReady: press Train")
    assert ws.browser.wait_ready(10_000) and ws.browser.current_dataset() is not None  # the browser shows it
    assert calls == ["mnist"]


def test_a_failed_or_cancelled_download_keeps_the_button_and_train_off(qtbot, make_ws, no_data,  # noqa: F811
                                                                       monkeypatch):
    _fake_download(monkeypatch, no_data, outcome="failed")
    ws = _mnist_missing(qtbot, make_ws)
    ws.data_download.button.click()
    qtbot.waitUntil(lambda: not ws.data_download.running(), timeout=10_000)
    _assert_not_ready(ws)  # the button stays (a retry), Train stays off
    assert ws.stage.text().startswith("The download of mnist failed: the mirror answered 503\nNot ready:")

    gate = threading.Event()  # never set: only a cancel ends it
    _fake_download(monkeypatch, no_data, gate=gate)
    ws.data_download.button.click()
    qtbot.waitUntil(ws.cancel_btn.isEnabled, timeout=10_000)
    assert ws.data_download.running() and not ws.train_btn.isEnabled()
    qtbot.mouseClick(ws.cancel_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not ws.data_download.running(), timeout=10_000)
    _assert_not_ready(ws)
    assert "was cancelled; the next one resumes it" in ws.stage.text()


def test_the_browsers_own_download_turns_train_on_too(qtbot, make_ws, no_data, monkeypatch):  # noqa: F811
    """One download, whichever button starts it: the Dataset panel's Download also brings Train on (and the button
    under Train follows it)."""
    gate = threading.Event()
    _fake_download(monkeypatch, no_data, gate=gate)
    ws = _mnist_missing(qtbot, make_ws)
    qtbot.waitUntil(ws.browser.download_btn.isVisible, timeout=10_000)
    ws.browser.download_btn.click()
    btn = ws.data_download.button
    qtbot.waitUntil(lambda: ws.data_download.running() and not btn.isEnabled(), timeout=10_000)
    assert btn.isVisible() and not btn.isEnabled() and btn.text() == "Downloading mnist…"
    assert not btn.start()  # one download at a time
    gate.set()
    qtbot.waitUntil(ws.train_btn.isEnabled, timeout=10_000)
    assert not btn.isVisible() and "Not ready" not in ws.train_btn.toolTip()


def test_download_button_has_one_home():
    import widgets.common.download_button as common
    import widgets.experiments.download_button as old
    import widgets.models.train_dialog as train_dialog
    import widgets.probe.data_download as probe

    assert old.DownloadButton is common.DownloadButton
    assert train_dialog.DownloadButton is common.DownloadButton and probe.DownloadButton is common.DownloadButton


def test_a_view_loading_leaves_the_line_a_run_ended_with(qtbot, make_ws):  # noqa: F811
    """The browser's loads re-check the data (Train follows them) but say nothing new of it: the stage line a run
    ended with stays (a late first load overwrote "Cancelled" with "Ready")."""
    ws = make_ws()
    choose_dataset(ws, "digits")
    assert ws.browser.wait_ready(20_000)
    ws.stage.setText("Cancelled. Finished runs were kept in the history.")
    ws.browser.viewReady.emit(ws.browser.current_view())
    assert ws.stage.text().startswith("Cancelled") and ws.train_btn.isEnabled()
