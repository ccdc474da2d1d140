"""The dataset browser's Disk use dialog: the caches with their files and sizes, the features cache's cap, clearing
the chosen caches after asking (the rest untouched), and the project's error for a bad cap setting."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from app import paths

pytestmark = pytest.mark.gui


@pytest.fixture
def filled(fe_home):
    root = paths.cache_dir()
    (root / "features").mkdir(parents=True)
    (root / "datasets").mkdir(parents=True)
    (root / "features" / "a.npy").write_bytes(b"x" * 3000)
    (root / "features" / "b.npy").write_bytes(b"x" * 2000)
    (root / "datasets" / "mnist.npz").write_bytes(b"x" * 1000)
    return root


def _open(qtbot, tmp_path):
    from widgets.data.browser import DatasetBrowser

    b = DatasetBrowser(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), auto_load=False)
    qtbot.addWidget(b)
    b.show()
    with qtbot.waitSignal(_dialog_signal(b), timeout=10_000):
        b.disk_btn.click()
    return b, b.disk_dialog


def _dialog_signal(b):
    # the dialog is made by the click: wait for its first measurement through a proxy signal on the browser
    from PySide6.QtCore import QObject, Signal

    class Proxy(QObject):
        ready = Signal()

    proxy = Proxy(b)
    orig = b.show_disk_use

    def show():
        orig()
        b.disk_dialog.surveyed.connect(proxy.ready)

    b.show_disk_use = show
    b.disk_btn.clicked.disconnect()
    b.disk_btn.clicked.connect(show)
    return proxy.ready


def _cells(dlg):
    return {dlg.table.item(r, 0).text(): [dlg.table.item(r, c).text() for c in range(dlg.table.columnCount())]
            for r in range(dlg.table.rowCount())}


def test_disk_use_lists_the_caches_with_sizes_and_the_cap(qtbot, tmp_path, filled):
    b, dlg = _open(qtbot, tmp_path)
    try:
        cells = _cells(dlg)
        assert cells["features"][2:4] == ["2", "4.9 KB"]  # 5,000 bytes / 1024
        assert cells["datasets"][2:4] == ["1", "1000 B"]
        assert cells["features"][1] == "the probe's extracted features"
        assert "20.0 GB" in dlg.cap.text() and "FILTER_EXPLORER_FEATURE_CACHE_GB" in dlg.cap.text()
        assert str(filled) in dlg.where.text()
        assert not dlg.clear_btn.isEnabled()  # nothing selected yet
    finally:
        b.shutdown()


def test_clearing_the_chosen_cache_asks_first_and_leaves_the_others(qtbot, tmp_path, filled, monkeypatch):
    asked: list[str] = []

    def answer(reply):
        def question(parent, title, text, *a, **k):
            asked.append(text)
            return reply
        return question

    b, dlg = _open(qtbot, tmp_path)
    try:
        dlg.select(["features"])
        assert dlg.selected_names() == ["features"] and dlg.clear_btn.isEnabled()
        monkeypatch.setattr(QMessageBox, "question", staticmethod(answer(QMessageBox.StandardButton.No)))
        dlg.clear_btn.click()
        qtbot.wait(100)
        assert (filled / "features" / "a.npy").exists()  # "No": nothing removed
        assert "2 file(s), 4.9 KB, of: features" in asked[0] and "not touched" in asked[0]
        monkeypatch.setattr(QMessageBox, "question", staticmethod(answer(QMessageBox.StandardButton.Yes)))
        with qtbot.waitSignal(dlg.cleared, timeout=10_000) as sig:
            dlg.clear_btn.click()
        assert sig.args == [2, 5000]
        qtbot.waitUntil(lambda: dlg.status.text().startswith("Removed 2 file(s)"), timeout=10_000)
        assert not any((filled / "features").iterdir())
        assert (filled / "datasets" / "mnist.npz").exists()
        assert _cells(dlg)["features"][2:4] == ["0", "0 B"]
    finally:
        b.shutdown()


def test_a_bad_cap_setting_is_said_in_the_dialog(qtbot, tmp_path, filled, monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_FEATURE_CACHE_GB", "lots")
    b, dlg = _open(qtbot, tmp_path)
    try:
        assert dlg.status.text().startswith("Could not measure the caches: FILTER_EXPLORER_FEATURE_CACHE_GB must be")
        assert "'lots'" in dlg.status.text()
        assert dlg.refresh_btn.isEnabled()  # the dialog keeps working
    finally:
        b.shutdown()
