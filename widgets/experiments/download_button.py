"""The Experiments workspace's in-place download: the first built-in dataset a recipe's cells need and this machine
lacks, downloaded into the data folder in a worker (as ``python main.py data download NAME``). Hidden while nothing is
missing. It shows state and owns its worker; the workspace decides when it may start and renders its progress.

API::

    b = DownloadButton()
    b.set_missing((name, root) | None)   # what the plan found missing (the label names it and its size)
    b.start()                            # download it (False when nothing is missing or one is running)
    b.running(); b.cancel(); b.stop(ms)  # an interrupted download resumes next time
    b.progress(Progress); b.ended(str)   # its progress; what happened, for the status line

The work is ``app.data.remote.download``; nothing numerical here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from widgets.common.worker import Worker


class DownloadButton(QPushButton):
    progress = Signal(object)  # app.tasks.Progress
    ended = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Download it into the data folder (as `python main.py data download NAME`); an interrupted "
                        "download resumes, Esc cancels it")
        self.hide()
        self.missing: tuple[str, Any] | None = None
        self.worker: Worker | None = None

    def set_missing(self, missing: tuple[str, Any] | None) -> None:
        self.missing = missing
        if missing is not None and not self.running():
            from app.data.catalog import BUILTINS
            from app.storage import human_size

            self.setText(f"Download {missing[0]} ({human_size(BUILTINS[missing[0]].download_size)})")
        self.setVisible(missing is not None or self.running())

    def running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def start(self) -> bool:
        if self.missing is None or self.running():
            return False
        from app.data import remote

        name, root = self.missing
        self.worker = Worker(lambda token: remote.download(name, root, cancel=token), parent=self,
                             name="dataset-download")
        self.worker.on(progress=self.progress.emit,
                       finished=lambda _folder: self._end(f"{name} downloaded."),
                       failed=lambda msg: self._end(f"The download of {name} failed: {msg}"),
                       cancelled=lambda: self._end(f"The download of {name} was cancelled; the next one resumes it."))
        self.setEnabled(False)
        self.setText(f"Downloading {name}…")
        self.worker.start()
        return True

    def cancel(self) -> bool:
        if not self.running():
            return False
        self.worker.cancel()
        return True

    def stop(self, ms: int) -> None:
        if self.running():
            self.worker.stop(ms)

    def _end(self, text: str) -> None:
        self.worker = None
        self.setEnabled(True)
        self.ended.emit(text)
