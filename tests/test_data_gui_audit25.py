"""The data browser, audit H: a stalled download cancels and closes at once (F3); other datasets load during a
download and every end of a download refreshes the view (F4); the training count is per data folder and the official
one is marked (F12); a cell's tooltip names its image's index in the split (F12)."""

from __future__ import annotations

import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest
from fixtures_data import idx_files
from test_download_cancel25 import stalling_server

pytestmark = pytest.mark.gui


@pytest.fixture
def browser(qtbot, fe_home, tmp_path):
    from widgets.application import make_app
    from widgets.data.browser import DatasetBrowser

    make_app()
    b = DatasetBrowser(settings=None)
    b.data_root = str(tmp_path / "data")
    qtbot.addWidget(b)
    b.resize(500, 700)
    b.show()
    yield b
    b.shutdown()


def _wait_view(qtbot, b, timeout=10000):
    qtbot.waitUntil(lambda: not b.is_busy() and not b._debounce.isActive(), timeout=timeout)


def _shows(b, name: str) -> bool:
    v = b.current_view()
    return v is not None and v.name == name and b._load_worker is None


def _controlled(monkeypatch):
    """``remote.download`` replaced by one that reports progress until ``ctl.go`` is set (or it is cancelled), then
    ends as ``ctl.outcome`` says."""
    from app.data import remote
    from app.tasks import Progress, check

    ctl = types.SimpleNamespace(go=threading.Event(), outcome="downloaded", calls=[])

    def download(name, root, cancel=None, force=False, **kw):
        ctl.calls.append(name)
        i = 0
        while not ctl.go.is_set():
            check(cancel)
            i += 1
            yield Progress(i, None, f"downloading {name}: step {i}")
            time.sleep(0.01)
        if ctl.outcome == "failed":
            raise remote.DatasetError("the mirror answered 503")
        return Path(root) / "FashionMNIST" / "raw"

    monkeypatch.setattr(remote, "download", download)
    return ctl


# --- F3 ----------------------------------------------------------------------------------------------------------
def test_cancel_and_close_during_a_stalled_download_are_prompt(qtbot, browser, monkeypatch):
    from app.data import remote

    _wait_view(qtbot, browser)
    real = remote.download
    with stalling_server() as (url, stalls):
        monkeypatch.setattr(remote, "download", lambda n, root, **kw: real(n, root, mirror=url.rsplit("/", 1)[0],
                                                                           **kw))
        browser.dataset_name = "fashion-mnist"
        browser.download_btn.click()
        assert stalls() and browser.downloads.running()  # the server sent 100 KB and stalls
        qtbot.wait(300)
        t0 = time.monotonic()
        browser.cancel_btn.click()
        qtbot.waitUntil(lambda: not browser.downloads.running(), timeout=3000)
        assert time.monotonic() - t0 < 1.5
        text = browser.status.text()
        assert "was cancelled" in text and "failed" not in text and browser.error_text() == ""
        assert browser.download_btn.isVisible() and browser.download_btn.isEnabled()

        browser.download_btn.click()  # stalls again; the window closes
        assert stalls() and browser.downloads.running()
        qtbot.wait(300)
        t0 = time.monotonic()
        browser.shutdown()
        assert time.monotonic() - t0 < 1.5, "closing waited for the stalled download"
        assert not browser.downloads.running() and browser.pool.running() == []


# --- F4 ----------------------------------------------------------------------------------------------------------
def test_other_choices_load_during_a_download_and_a_cancel_refreshes(qtbot, browser, monkeypatch):
    _wait_view(qtbot, browser)
    ctl = _controlled(monkeypatch)
    bar = browser.work.progress_bar
    browser.dataset_name = "fashion-mnist"
    assert browser.download_btn.isVisible()
    browser.download_btn.click()
    qtbot.waitUntil(lambda: "downloading fashion-mnist: step" in bar.format(), timeout=3000)

    browser.dataset_name = "digits"  # loads while the download runs
    qtbot.waitUntil(lambda: _shows(browser, "digits"), timeout=5000)
    assert browser.downloads.running() and "digits (train)" in browser.status.text()
    qtbot.wait(50)
    assert "downloading fashion-mnist: step" in bar.format() and bar.isVisible() and browser.cancel_btn.isVisible()
    assert not browser.download_btn.isVisible()

    browser.dataset_name = "fashion-mnist"  # the one being downloaded: says so, offers nothing
    assert "downloading fashion-mnist" in browser.status.text() and browser.current_view() is None
    assert not browser.download_btn.isVisible()

    browser.dataset_name = "digits"
    qtbot.waitUntil(lambda: _shows(browser, "digits"), timeout=5000)
    browser.cancel_btn.click()
    qtbot.waitUntil(lambda: not browser.downloads.running(), timeout=3000)
    _wait_view(qtbot, browser)
    assert browser.dataset_name == "digits" and _shows(browser, "digits")
    assert not browser.download_btn.isVisible() and not bar.isVisible()
    text = browser.status.text()
    assert "digits (train)" in text and "download of fashion-mnist was cancelled" in text
    assert browser.error_text() == ""

    browser.dataset_name = "fashion-mnist"  # its Download is offered again, and it works
    assert browser.download_btn.isVisible() and browser.download_btn.isEnabled()
    browser.download_btn.click()
    assert browser.downloads.running()
    qtbot.waitUntil(lambda: ctl.calls == ["fashion-mnist", "fashion-mnist"], timeout=3000)
    ctl.outcome = "failed"
    ctl.go.set()
    qtbot.waitUntil(lambda: not browser.downloads.running(), timeout=3000)
    _wait_view(qtbot, browser)
    assert "The download of fashion-mnist failed: the mirror answered 503" in browser.error_text()
    assert "not downloaded" in browser.status.text()
    assert browser.download_btn.isVisible() and browser.download_btn.isEnabled()


def test_a_failed_download_under_another_choice_leaves_a_working_view(qtbot, browser, monkeypatch):
    _wait_view(qtbot, browser)
    ctl = _controlled(monkeypatch)
    browser.dataset_name = "fashion-mnist"
    browser.download_btn.click()
    browser.dataset_name = "digits"
    qtbot.waitUntil(lambda: _shows(browser, "digits"), timeout=5000)
    ctl.outcome = "failed"
    ctl.go.set()
    qtbot.waitUntil(lambda: not browser.downloads.running(), timeout=3000)
    _wait_view(qtbot, browser)
    assert _shows(browser, "digits") and not browser.download_btn.isVisible()
    assert "digits (train)" in browser.status.text() and "download of fashion-mnist failed" in browser.status.text()
    assert browser.error_text() == ""  # digits itself is fine


def test_a_failed_download_of_an_unloaded_other_choice_loads_it(qtbot, browser, monkeypatch):
    """The other choice was still loading when the download ended: it is not left empty with a dead button."""
    _wait_view(qtbot, browser)
    ctl = _controlled(monkeypatch)
    browser.dataset_name = "fashion-mnist"
    browser.download_btn.click()
    ctl.outcome = "failed"
    browser.dataset_name = "digits"
    ctl.go.set()
    qtbot.waitUntil(lambda: not browser.downloads.running(), timeout=3000)
    _wait_view(qtbot, browser)
    assert _shows(browser, "digits") and not browser.download_btn.isVisible() and browser.error_text() == ""


# --- F12 ---------------------------------------------------------------------------------------------------------
def test_training_count_is_per_data_folder_and_the_official_one_is_marked(qtbot, browser, tmp_path):
    roots = {}
    for key, n in (("a", 20), ("b", 30)):
        raw = tmp_path / key / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for fname, data in idx_files(n, 10).items():
            (raw / fname).write_bytes(data)
        roots[key] = str(tmp_path / key)
    _wait_view(qtbot, browser)
    browser.data_root = roots["a"]
    browser.split_combo.setCurrentText("test")
    browser.dataset_name = "mnist"
    assert browser.of_label.text() == "of 60,000 training images (official)"  # not measured yet: said so
    _wait_view(qtbot, browser)
    assert browser.of_label.text() == "of 60,000 training images (official)"  # the test split says nothing of it
    browser.split_combo.setCurrentText("train")
    _wait_view(qtbot, browser)
    assert browser.of_label.text() == "of 20 training images"
    browser.split_combo.setCurrentText("test")
    _wait_view(qtbot, browser)
    assert browser.of_label.text() == "of 20 training images"

    browser.data_root = roots["b"]  # another copy: the count measured in "a" is not this one's
    assert browser.of_label.text() == "of 60,000 training images (official)"
    _wait_view(qtbot, browser)
    browser.split_combo.setCurrentText("train")
    _wait_view(qtbot, browser)
    assert browser.of_label.text() == "of 30 training images"
    browser.data_root = roots["a"]
    assert browser.of_label.text() == "of 20 training images"


def test_cell_tooltip_names_the_image_index_in_the_split(qtbot, browser):
    _wait_view(qtbot, browser)
    browser.subset_size = 100
    qtbot.waitUntil(lambda: browser.current_view() is not None and browser.current_view().used == 100
                    and not browser.is_busy() and not browser._debounce.isActive(), timeout=10000)
    ds, view = browser.current_dataset(), browser.current_view()
    assert len(ds) > 1000 and len(view.cells) == 48
    assert max(c.index for c in view.cells) >= 100  # indices in the split, not in the 100-image subset
    mosaic = view.mosaic
    for t, cell in zip(browser.samples.labels, view.cells, strict=True):
        assert t.toolTip() == f"#{cell.index} of the train split: {cell.class_name}"
        assert cell.label == int(ds.labels[cell.index])
        f = cell.size // ds.images.shape[1]
        expect = np.repeat(np.repeat(ds.images[cell.index], f, 0), f, 1)
        np.testing.assert_array_equal(mosaic[cell.y:cell.y + cell.size, cell.x:cell.x + cell.size],
                                      np.repeat(expect, 3, axis=2))
