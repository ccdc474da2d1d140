"""The dataset browser's download flow: one download at a time in a worker, its progress on the ``WorkBar``, and its
outcome as signals the browser renders.

API::

    d = DownloadFlow(pool, work_bar, parent)   # pool: the browser's WorkerPool; work_bar: its WorkBar
    d.start(name, root)     # download (or repair, where the bar offers "Download again") the built-in dataset
    d.running()             # a download is running
    d.cancel()              # cancel it (True where one was running); an interrupted download resumes next time
    d.owns(sender)          # whether a worker's signal is this download's (the browser filters progress by it)
    d.forget()              # drop the worker (shutdown: the pool joins it)
    d.message(str, bool)    # a line for the browser's status (text, is_error)
    d.downloaded(object)    # the folder it downloaded into

The work is ``app.data.remote.download``; nothing numerical here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from app.data import remote
from widgets.common.worker import Worker, WorkerPool
from widgets.data.work_bar import WorkBar


class DownloadFlow(QObject):
    message = Signal(str, bool)
    downloaded = Signal(object)

    def __init__(self, pool: WorkerPool, work: WorkBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._work = work
        self._worker: Worker | None = None

    def running(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    def owns(self, sender) -> bool:
        return sender is not None and sender is self._worker

    def start(self, name: str, root: str | None) -> None:
        if self.running():
            return
        force = self._work.repair  # "Download again": repair a damaged copy
        self._work.download_btn.setEnabled(False)
        self.message.emit(f"downloading {name}…", False)
        w = self._pool.start(lambda token: remote.download(name, root, cancel=token, force=force),
                             name="dataset-download")
        w.on(progress=self._on_progress, finished=self._on_downloaded, failed=self._on_failed,
             cancelled=self._on_cancelled)
        self._worker = w
        self._work.busy(True)

    def cancel(self) -> bool:
        if not self.running():
            return False
        self._worker.cancel()
        return True

    def forget(self) -> None:
        self._worker = None

    # --- the worker's results (GUI thread) ------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p) -> None:
        if self.owns(self.sender()):
            self._work.progress(p)

    def _ended(self) -> None:
        self._worker = None
        self._work.busy(False)

    @Slot(object)
    def _on_downloaded(self, path) -> None:
        self._ended()
        self._work.withdraw()
        self.message.emit(f"Downloaded into {path}.", False)
        self.downloaded.emit(path)

    @Slot(str)
    def _on_failed(self, msg: str) -> None:
        self._ended()
        self._work.download_btn.setEnabled(True)
        self.message.emit(f"Download failed: {msg}", True)

    @Slot()
    def _on_cancelled(self) -> None:
        self._ended()
        self._work.download_btn.setEnabled(True)
        self.message.emit("Download cancelled; Download again to resume where it stopped.", False)
