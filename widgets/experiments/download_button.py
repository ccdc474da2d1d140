"""The Experiments workspace's in-place download: the first built-in dataset a recipe's cells need and this machine
lacks, downloaded into the data folder in a worker (as ``python main.py data download NAME``). Hidden while nothing is
missing. It shows state and owns its worker; the workspace decides when it may start and renders its progress.

API::

    b = DownloadButton()
    b.set_missing((name, root) | None)   # what the plan found missing (the label names it and its size)
    b.start()                            # download it (False when nothing is missing or one is running)
    b.running(); b.cancel(); b.stop(ms)  # an interrupted download resumes next time
    b.progress(Progress); b.ended(str)   # its progress; what happened, for the status line

The work is ``app.data.remote.download``, through ``widgets.common.download.DatasetDownload`` (the one download
helper, as the data browser's); nothing numerical here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from widgets.common.download import DatasetDownload


class DownloadButton(QPushButton):
    progress = Signal(object)  # app.tasks.Progress
    ended = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setToolTip("Download it into the data folder (as `python main.py data download NAME`); an interrupted "
                        "download resumes, Esc cancels it")
        self.hide()
        self.missing: tuple[str, Any] | None = None
        self.download = DatasetDownload(self)  # owns its worker
        self.download.progress.connect(self.progress)
        self.download.ended.connect(self._end)

    def set_missing(self, missing: tuple[str, Any] | None) -> None:
        self.missing = missing
        if missing is not None and not self.running():
            from app.data.catalog import BUILTINS
            from app.storage import human_size

            self.setText(f"Download {missing[0]} ({human_size(BUILTINS[missing[0]].download_size)})")
        self.setVisible(missing is not None or self.running())

    def running(self) -> bool:
        return self.download.running()

    def start(self) -> bool:
        if self.missing is None or self.running():
            return False
        name, root = self.missing
        self.download.start(name, root)
        self.setEnabled(False)
        self.setText(f"Downloading {name}…")
        return True

    def cancel(self) -> bool:
        return self.download.cancel()

    def stop(self, ms: int) -> None:
        self.download.stop(ms)

    def _end(self, _kind: str, text: str, _folder) -> None:
        self.setEnabled(True)
        self.ended.emit(text)
