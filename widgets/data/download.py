"""The dataset browser's download flow: one download at a time (``widgets.common.download.DatasetDownload``), its
progress on the ``WorkBar``, and its outcome as signals the browser renders.

API::

    d = DownloadFlow(pool, work_bar, parent)   # pool: the browser's WorkerPool; work_bar: its WorkBar
    d.start(name, root)     # download (or repair, where the bar offers "Download again") the built-in dataset
    d.running()             # a download is running
    d.cancel()              # cancel it (True where one was running); an interrupted download resumes next time
    d.name, d.root          # the dataset and data folder of the current (or last) download
    d.message(str, bool)    # a line for the browser's status (text, is_error)
    d.downloaded(object)    # the folder it downloaded into
    d.ended(str, str)       # every end, after ``message``: kind ("downloaded" | "failed" | "cancelled"), its line

The work is ``app.data.remote.download``; nothing numerical here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from widgets.common.download import DatasetDownload
from widgets.common.worker import WorkerPool
from widgets.data.work_bar import WorkBar


class DownloadFlow(QObject):
    message = Signal(str, bool)
    downloaded = Signal(object)
    ended = Signal(str, str)

    def __init__(self, pool: WorkerPool, work: WorkBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._work = work
        self._download = DatasetDownload(self, pool=pool)
        self._download.progress.connect(work.progress)
        self._download.ended.connect(self._on_ended)
        self.name: str | None = None
        self.root: str | None = None

    def running(self) -> bool:
        return self._download.running()

    def start(self, name: str, root: str | None) -> None:
        if self.running():
            return
        force = self._work.repair  # "Download again": repair a damaged copy
        self.name, self.root = name, root
        self._work.download_btn.setEnabled(False)
        self.message.emit(f"downloading {name}…", False)
        self._download.start(name, root, force=force)
        self._work.busy(True)

    def cancel(self) -> bool:
        return self._download.cancel()

    def _on_ended(self, kind: str, text: str, folder) -> None:
        self._work.busy(False)
        if kind == "downloaded":
            self._work.withdraw()
        else:
            self._work.download_btn.setEnabled(True)
        self.message.emit(text, kind == "failed")
        if kind == "downloaded":
            self.downloaded.emit(folder)
        self.ended.emit(kind, text)
