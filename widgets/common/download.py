"""One home for downloading a built-in dataset from the GUI: ``app.data.remote.download`` in a worker, one at a time,
its progress and its end as signals, and the one line a status shows for each end. The data browser's download bar
(``widgets.data.download.DownloadFlow``) and the Experiments workspace's in-place button
(``widgets.common.download_button.DownloadButton``) are views of it.

API::

    d = DatasetDownload(parent, pool=None)  # pool: a WorkerPool that owns (and on shutdown joins) the worker;
                                            # None: the download owns its worker (stop(ms) joins it)
    d.start(name, root, force=False)        # download (force: again, repairing a damaged copy); False while one runs
    d.running(); d.cancel(); d.stop(ms)     # an interrupted download resumes next time
    d.name                                  # the dataset of the current (or last) download
    d.progress(Progress)                    # its progress (app.tasks.Progress)
    d.ended(str kind, str text, object)     # kind "downloaded" | "failed" | "cancelled"; the status line;
                                            # the folder it downloaded into (None unless "downloaded")

The work is ``app.data.remote.download``; nothing numerical here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from widgets.common.worker import Worker, WorkerPool


def ended_text(kind: str, name: str, detail: Any = None) -> str:
    """The status line for a download's end: one wording wherever a download is shown."""
    if kind == "downloaded":
        return f"{name} downloaded into {detail}." if detail is not None else f"{name} downloaded."
    if kind == "failed":
        return f"The download of {name} failed: {detail}"
    return f"The download of {name} was cancelled; the next one resumes it."


class DatasetDownload(QObject):
    progress = Signal(object)
    ended = Signal(str, str, object)

    def __init__(self, parent: QObject | None = None, pool: WorkerPool | None = None) -> None:
        super().__init__(parent)
        self._pool = pool
        self._worker: Worker | None = None
        self.name: str | None = None

    def running(self) -> bool:
        return self._worker is not None and self._worker.is_running()

    def start(self, name: str, root: Any, force: bool = False) -> bool:
        if self.running():
            return False
        from app.data import remote

        def task(token):
            return remote.download(name, root, cancel=token, force=force)

        if self._pool is not None:
            w = self._pool.start(task, name="dataset-download")
        else:
            w = Worker(task, parent=self, name="dataset-download")
        w.on(progress=self._on_progress,
             finished=lambda folder, w=w: self._end(w, "downloaded", folder, folder),
             failed=lambda msg, w=w: self._end(w, "failed", msg, None),
             cancelled=lambda w=w: self._end(w, "cancelled", None, None))
        self._worker, self.name = w, name
        if self._pool is None:
            w.start()
        return True

    def cancel(self) -> bool:
        if not self.running():
            return False
        self._worker.cancel()
        return True

    def stop(self, ms: int) -> None:
        """Cancel and join the worker (a window closing); its end is still delivered."""
        if self.running():
            self._worker.stop(ms)

    def _on_progress(self, p) -> None:
        if self.sender() is self._worker:  # an earlier download's late report is dropped
            self.progress.emit(p)

    def _end(self, w: Worker, kind: str, detail: Any, folder: Any) -> None:
        if w is not self._worker:
            return  # an earlier download's late signal
        self._worker = None
        self.ended.emit(kind, ended_text(kind, self.name or "the dataset", detail), folder)
