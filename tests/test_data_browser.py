"""The dataset browser: digits by default, an image folder, a corrupt choice, a missing dataset with Download."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_data import idx_files, image_folder, md5, serve

pytestmark = pytest.mark.gui


@pytest.fixture
def browser(qtbot, fe_home, tmp_path):
    from PySide6.QtCore import QSettings

    from widgets.application import make_app
    from widgets.data.browser import DatasetBrowser

    make_app()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    b = DatasetBrowser(settings=settings)
    b.data_root = str(tmp_path / "data")
    qtbot.addWidget(b)
    b.resize(500, 700)
    b.show()
    yield b
    b.shutdown()


def _wait_view(qtbot, b, timeout=15000):
    qtbot.waitUntil(lambda: not b.is_busy() and not b._debounce.isActive(), timeout=timeout)


def test_digits_by_default_with_grid_labels_and_counts(qtbot, browser):
    _wait_view(qtbot, browser)
    assert browser.dataset_name == "digits"
    view = browser.current_view()
    assert view is not None and view.name == "digits"
    img = browser.samples.image.image
    assert img is not None and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.min() < img.max()  # real pixels, not a blank canvas
    labels = [t.textItem.toPlainText() for t in browser.samples.labels]
    assert len(labels) == 48 and set(labels) <= {str(i) for i in range(10)}
    assert labels == [c.class_name for c in view.cells]
    heights = browser.samples.bars.opts["height"]
    assert len(heights) == 10 and sum(heights) == view.used == len(browser.current_dataset())
    assert "digits (train)" in browser.status.text() and browser.error_text() == ""
    from app.data import load

    assert f"of {len(load('digits', 'train')):,} training images" == browser.of_label.text()


def test_subset_changes_counts_and_emits(qtbot, browser):
    _wait_view(qtbot, browser)
    with qtbot.waitSignal(browser.subsetChanged, timeout=2000) as sig:
        browser.subset_size = 100
    assert sig.args == [100]
    qtbot.waitUntil(lambda: browser.current_view() is not None and browser.current_view().used == 100, timeout=10000)
    assert sum(browser.samples.bars.opts["height"]) == 100
    assert browser.current_view().total == len(browser.current_dataset())


def test_image_folder_via_dialog_then_corrupt_choice_keeps_working(qtbot, browser, tmp_path, monkeypatch):
    _wait_view(qtbot, browser)
    folder = image_folder(tmp_path / "animals", per_class=5)
    (folder / "owl" / "broken.jpg").write_bytes(b"not an image")
    monkeypatch.setattr(browser, "ask_folder", lambda: str(folder))
    with qtbot.waitSignal(browser.datasetChanged, timeout=2000) as sig:
        browser.combo.setCurrentIndex(browser.combo.findText("Image folder…"))
    assert sig.args == [f"imagefolder:{folder}"]
    _wait_view(qtbot, browser)
    view = browser.current_view()
    assert view is not None and view.classes == ("cat", "dog", "owl")
    assert {t.textItem.toPlainText() for t in browser.samples.labels} <= {"cat", "dog", "owl"}
    assert "owl/broken.jpg" in browser.status.text()
    assert str(folder) in browser.combo.recent_folders()

    # a folder that holds nothing readable: a clear message, and the browser still works afterwards
    bad = tmp_path / "bad"
    (bad / "a").mkdir(parents=True)
    (bad / "a" / "x.png").write_bytes(b"junk")
    browser.dataset_name = f"imagefolder:{bad}"
    _wait_view(qtbot, browser)
    assert "Cannot load" in browser.error_text() and "none of 1 files could be read" in browser.error_text()
    assert browser.current_view() is None and browser.current_dataset() is None
    browser.dataset_name = "digits"
    _wait_view(qtbot, browser)
    assert browser.current_view() is not None and browser.error_text() == ""


def test_cancelled_folder_dialog_keeps_previous_choice(qtbot, browser, monkeypatch):
    _wait_view(qtbot, browser)
    monkeypatch.setattr(browser, "ask_folder", lambda: "")
    browser.combo.setCurrentIndex(browser.combo.findText("Image folder…"))
    assert browser.dataset_name == "digits"


def test_missing_dataset_offers_download_then_loads(qtbot, browser, tmp_path, monkeypatch):
    from app.data import remote

    _wait_view(qtbot, browser)
    files = idx_files(20, 10)
    real = remote.download
    with serve(files) as srv:
        monkeypatch.setattr(remote, "download", lambda name, root, **kw: real(
            name, root, mirror=srv.base, md5={n: md5(d) for n, d in files.items()}, **kw))
        browser.dataset_name = "fashion-mnist"
        assert browser.download_btn.isVisible() and "not downloaded" in browser.status.text()
        assert browser.current_view() is None
        browser.download_btn.click()
        qtbot.waitUntil(lambda: browser.current_view() is not None, timeout=15000)
    assert browser.current_view().name == "fashion-mnist" and browser.current_view().total == 20
    assert not browser.download_btn.isVisible()
    assert browser.combo.currentText() == "fashion-mnist"


def test_download_failure_is_shown_and_retry_possible(qtbot, browser, monkeypatch):
    from app.data import remote

    _wait_view(qtbot, browser)
    with serve({}) as srv:
        real = remote.download
        monkeypatch.setattr(remote, "download", lambda name, root, **kw: real(
            name, root, mirror=srv.base, **kw))
        browser.dataset_name = "cifar10"
        browser.download_btn.click()
        qtbot.waitUntil(lambda: browser.error_text() != "", timeout=10000)
    assert "The download of cifar10 failed" in browser.error_text() and "HTTP 404" in browser.error_text()
    assert browser.download_btn.isVisible() and browser.download_btn.isEnabled()


def test_download_progress_cancel_and_resume(qtbot, browser, monkeypatch):
    import os

    from app.data import remote

    _wait_view(qtbot, browser)
    data = os.urandom(400_000)
    name = "cifar-10-binary.tar.gz"
    real = remote.download
    with serve({name: data}) as srv:
        srv.delay = 0.01  # about 50 chunks: slow enough to cancel half-way
        monkeypatch.setattr(remote, "download", lambda n, root, **kw: real(
            n, root, mirror=srv.base, md5={name: md5(data)}, **kw))
        browser.dataset_name = "cifar10"
        browser.download_btn.click()
        bar = browser.work.progress_bar
        qtbot.waitUntil(lambda: bar.isVisible() and bar.value() > 100, timeout=10000)
        assert browser.cancel_btn.isVisible() and "downloading" in browser.work.progress_bar.format()
        browser.cancel_btn.click()
        qtbot.waitUntil(lambda: not browser.is_busy(), timeout=10000)
        assert "cancelled" in browser.status.text() and browser.download_btn.isEnabled()
        part = browser.data_root + "/" + name + ".part"
        assert os.path.getsize(part) > 0 and not os.path.exists(part[:-5])
        srv.delay = 0
        browser.download_btn.click()
        # random bytes are no archive: the resumed, verified download fails when unpacked, naming the file
        qtbot.waitUntil(lambda: browser.error_text() != "", timeout=10000)
        assert srv.requests[-1][1].startswith("bytes=")
    assert f"{name}: truncated or damaged archive" in browser.error_text()
    assert browser.download_btn.isVisible()


def test_subset_set_while_loading_is_applied(qtbot, fe_home, tmp_path):
    from widgets.application import make_app
    from widgets.data.browser import DatasetBrowser

    make_app()
    b = DatasetBrowser()
    qtbot.addWidget(b)
    b._refresh()  # the first load starts now (it would at the next event-loop turn)
    assert b.is_busy()
    b.subset_size = 60  # before its result arrived: no event was processed in between
    qtbot.waitUntil(lambda: b.current_view() is not None and b.current_view().used == 60 and not b.is_busy()
                    and not b._debounce.isActive(), timeout=15000)
    assert sum(b.samples.bars.opts["height"]) == 60
    assert b.shortcuts()
    b.shutdown()


def test_truncated_archive_choice_names_the_file_and_download_again_repairs(qtbot, browser, monkeypatch):
    from pathlib import Path

    from fixtures_data import cifar10_binary_tar

    _wait_view(qtbot, browser)
    data, _ = cifar10_binary_tar()
    root = Path(browser.data_root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "cifar-10-binary.tar.gz").write_bytes(data[: len(data) // 3])
    browser.dataset_name = "cifar10"
    _wait_view(qtbot, browser)
    assert "cifar-10-binary.tar.gz: truncated or damaged archive" in browser.error_text()
    assert browser.current_view() is None
    assert browser.download_btn.isVisible() and browser.download_btn.text() == "Download again"
    # repair: fetch the archive again (the damaged one fails its checksum), unpack, load
    from app.data import remote

    real = remote.download
    with serve({"cifar-10-binary.tar.gz": data}) as srv:
        monkeypatch.setattr(remote, "download", lambda n, r, **kw: real(
            n, r, mirror=srv.base, md5={"cifar-10-binary.tar.gz": md5(data)}, **kw))
        browser.download_btn.click()
        qtbot.waitUntil(lambda: browser.current_view() is not None, timeout=15000)
    assert browser.current_view().name == "cifar10" and browser.error_text() == ""
    assert (root / "cifar-10-batches-bin" / "data_batch_1.bin").exists()
    assert browser.download_btn.text() == "Download" and not browser.download_btn.isVisible()
    browser.split_combo.setCurrentText("test")
    browser.dataset_name = "digits"
    _wait_view(qtbot, browser)
    assert browser.current_view().split == "test" and browser.error_text() == ""


def test_data_folder_choice_is_used_and_remembered(qtbot, browser, tmp_path, monkeypatch):
    from widgets.data.browser import DatasetBrowser

    _wait_view(qtbot, browser)
    other = tmp_path / "elsewhere"
    raw = other / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for n, d in idx_files(20, 10).items():
        (raw / n).write_bytes(d)
    browser.dataset_name = "fashion-mnist"
    assert browser.download_btn.isVisible()
    monkeypatch.setattr(browser, "ask_root", lambda: str(other))
    browser.root_btn.click()
    _wait_view(qtbot, browser)
    assert browser.data_root == str(other) and str(other) in browser.root_btn.toolTip()
    assert browser.current_view() is not None and browser.current_view().total == 20
    assert browser.combo.currentText() == "fashion-mnist" and not browser.download_btn.isVisible()
    again = DatasetBrowser(settings=browser._settings)
    qtbot.addWidget(again)
    assert again.data_root == str(other)
    again.shutdown()


def test_a_load_does_not_move_the_mosaic(qtbot, browser):
    """The work row keeps its height while empty: a load's progress bar (every dataset or split chosen) appears in
    it without pushing the sample mosaic down, and the mosaic does not move back when it ends (each move re-lays and
    repaints its plots)."""
    from PySide6.QtWidgets import QApplication

    _wait_view(qtbot, browser)
    qtbot.wait(50)
    where = (browser.samples.geometry(), browser.work.height())
    assert where[1] > 0
    browser.work.busy(True)  # what a load shows while it runs
    QApplication.processEvents()
    assert browser.work.progress_bar.isVisible()
    assert (browser.samples.geometry(), browser.work.height()) == where
    browser.work.busy(False)
    browser.split_combo.setCurrentIndex(browser.split_combo.findText("test"))  # a real load, to its end
    _wait_view(qtbot, browser)
    qtbot.wait(50)
    assert browser.current_view().split == "test" and not browser.work.progress_bar.isVisible()
    assert (browser.samples.geometry(), browser.work.height()) == where
