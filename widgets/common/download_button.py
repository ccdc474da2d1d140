"""An in-place download button: the built-in dataset a view needs and this machine lacks, downloaded into the data
folder in a worker (as ``python main.py data download NAME``). Hidden while nothing is missing. It shows state and
owns (or is given) the download; the view that holds it decides when it may start and renders its progress. Used
by the Experiments workspace (a recipe's data), the Models workspace's Train dialog and the Probe's run box.

API::

    b = DownloadButton(download=None)    # download: what runs it (None: a DatasetDownload of its own)
    b.set_missing((name, root) | None)   # what is missing (the label names it and its size; "Downloading NAME…"
                                         # and off while a download runs)
    b.start()                            # download it (False when nothing is missing or one is running)
    b.running(); b.cancel(); b.stop(ms)  # an interrupted download resumes next time
    b.progress(Progress); b.ended(str)   # its progress; what happened, for the status line

``download`` is a ``widgets.common.download.DatasetDownload`` or an object with its API (``start(name, root)``,
``running()``, ``cancel()``, ``stop(ms)``, ``name``, signals ``progress(object)`` and ``ended(str, str, object)``):
the Probe gives the one its dataset browser runs (``widgets.probe.data_download``). The work is
``app.data.remote.download``; nothing numerical here.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from widgets.common.download import DatasetDownload


class DownloadButton(QPushButton):
    progress = Signal(object)  # app.tasks.Progress
    ended = Signal(str)

    def __init__(self, parent: QWidget | None = None, download: Any = None) -> None:
        super().__init__(parent)
        self.setToolTip("Download it into the data folder (as `python main.py data download NAME`); an interrupted "
                        "download resumes, Esc cancels it")
        self.hide()
        self.missing: tuple[str, Any] | None = None
        self.download = download if download is not None else DatasetDownload(self)  # owns its worker
        self.download.progress.connect(self.progress)
        self.download.ended.connect(self._end)

    def set_missing(self, missing: tuple[str, Any] | None) -> None:
        self.missing = missing
        if self.running():  # (one its download source started elsewhere too)
            self.setEnabled(False)
            self.setText(f"Downloading {getattr(self.download, 'name', None) or (missing or ('',))[0]}…")
        elif missing is not None:
            from app.data.catalog import BUILTINS
            from app.storage import human_size

            self.setEnabled(True)
            self.setText(f"Download {missing[0]} ({human_size(BUILTINS[missing[0]].download_size)})")
        self.setVisible(missing is not None or self.running())

    def running(self) -> bool:
        return self.download.running()

    def start(self) -> bool:
        if self.missing is None or self.running():
            return False
        name, root = self.missing
        if self.download.start(name, root) is False:
            return False
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
