"""The Probe's in-place download of the chosen dataset: while it is not on this machine, Train is off (the run box
says why) and a "Download NAME (size)" button under Train fetches it; Train comes on once it is there.

The button is the shared ``widgets.common.download_button.DownloadButton`` on the download the dataset browser runs
(``BrowserDownload``): the workspace has one download, whichever button starts it (this one or the browser's own),
its progress shows on the browser's work bar and, beside the button, on the run box's own bar (``download_bar``: on a
narrow window the browser is on the other tab), Cancel and Esc stop it, and the browser loads the dataset when it is
done. Two downloads of one dataset into one folder would write the same ``.part`` file.

API::

    d = DataDownload(browser, run_panel, parent)  # adds its button to the run panel
    d.render(name, root) -> str | None            # why ``name`` cannot be probed yet (None: it can); the button
    d.state                                       # what the stage line says of it, as last rendered
    d.running(); d.cancel()                       # a download runs (any dataset's; one at a time)
    d.stage_text(name, missing, ready) -> str     # the idle stage line: "Not ready: ..." (or ``ready``), under
                                                  # the line of the chosen dataset's last download's end
    d.changed()                                   # a download started or ended, another view or data folder:
                                                  # Train, Cancel and the stage line are rendered again
    d.progress(Progress)                          # the running download's progress (as the browser's bar shows it)
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.tasks import Progress
from widgets.common.download_button import DownloadButton
from widgets.probe.guards import dataset_missing


class BrowserDownload(QObject):
    """The dataset browser's download (``widgets.data.download.DownloadFlow``) with ``DatasetDownload``'s API, for a
    ``DownloadButton``. ``progress`` says what the browser's work bar shows of a running download (read from the
    bar after each change of its value, on the next event-loop turn: the bar's message is set after its value);
    ``ended`` and ``changed`` come for every download, the browser's own Download's too."""

    progress = Signal(object)
    ended = Signal(str, str, object)
    changed = Signal()

    def __init__(self, browser: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._browser = browser
        browser.downloads.message.connect(self._on_message)  # its start ("downloading …") and its end
        browser.downloads.ended.connect(self._on_ended)
        self._read = QTimer(self, singleShot=True, interval=0)  # the bar read once per turn, however many changes
        self._read.timeout.connect(self._read_bar)
        browser.work.progress_bar.valueChanged.connect(self._on_bar)

    @property
    def name(self) -> str | None:
        return self._browser.downloads.name

    def running(self) -> bool:
        return self._browser.downloads.running()

    def start(self, name: str, root: Any, force: bool = False) -> bool:
        """The browser downloads its chosen dataset into its data folder: only that one (False otherwise)."""
        b = self._browser
        if self.running() or name != b.dataset_name or (root or None) != (b.data_root or None):
            return False
        b.download()
        return self.running()

    def cancel(self) -> bool:
        return self._browser.downloads.cancel()

    def stop(self, ms: int) -> None:
        pass  # the browser's shutdown cancels and joins it

    @Slot(str, bool)
    def _on_message(self, _text: str, _error: bool) -> None:
        QTimer.singleShot(0, self, self.changed.emit)  # on the next turn: said as a download starts, before it runs

    @Slot(str, str)
    def _on_ended(self, kind: str, text: str) -> None:
        self._read.stop()
        self.ended.emit(kind, text, None)

    @Slot(int)
    def _on_bar(self, _value: int) -> None:
        if self.running():  # (the bar shows the browser's loads too: only while no download runs)
            self._read.start()

    @Slot()
    def _read_bar(self) -> None:
        if not self.running():
            return
        bar = self._browser.work.progress_bar
        span = bar.maximum() - bar.minimum()
        text = bar.format()
        message = "" if "%p" in text or "%v" in text else text  # no message: the bar's own percentage
        self.progress.emit(Progress(bar.value() - bar.minimum(), span or None, message))


class DataDownload(QObject):
    changed = Signal()
    progress = Signal(object)  # app.tasks.Progress of the running download

    def __init__(self, browser: Any, run_panel: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = BrowserDownload(browser, self)
        self.button = DownloadButton(download=self.source)
        run_panel.add_download(self.button)
        self.bar = run_panel.download_bar  # beside the button: the download's progress while it runs
        self.source.progress.connect(self._on_progress)
        self.button.clicked.connect(self.start)
        self.button.ended.connect(self._on_ended)
        self.note: tuple[str, str] | None = None  # the last download's end: (dataset, its line)
        self.state: tuple = ()
        self.source.changed.connect(self.changed)
        browser.viewReady.connect(self._on_view)  # a dataset loaded (a download done, another data folder)
        browser.root_btn.clicked.connect(self.changed)  # after the browser's own slot: the folder chosen

    def running(self) -> bool:
        return self.button.running()

    def cancel(self) -> bool:
        return self.button.cancel()

    @Slot()
    def start(self) -> None:
        if self.button.start():
            self.note = None
            self.changed.emit()

    def render(self, name: str, root: str | None) -> str | None:
        missing = dataset_missing(name, root)
        if self.note is not None and self.note[0] != name:
            self.note = None  # said under the dataset it ended for (as the browser does)
        self.button.set_missing((name, root) if missing else None)
        self.state = (name, missing, self.running() and self.source.name == name, self.note)
        running = self.running()
        if running and not self.bar.isVisibleTo(self.bar.parentWidget()):
            self.bar.start(f"downloading {self.source.name or name}…")
        self.bar.setVisible(running)
        return missing

    def stage_text(self, name: str, missing: str | None, ready: str) -> str:
        if missing and self.running() and self.source.name == name:
            text = (f"Not ready: downloading {name} (its progress is on the bar under Train; Cancel or Esc stops "
                    "it). Train comes on when it is here.")
        else:
            text = f"Not ready: {missing}" if missing else ready
        return f"{self.note[1]}\n{text}" if self.note is not None and self.note[0] == name else text

    @Slot(object)
    def _on_progress(self, p: Any) -> None:
        self.bar.show_progress(p)
        self.bar.setVisible(self.running())
        self.progress.emit(p)

    @Slot(str)
    def _on_ended(self, text: str) -> None:
        self.note = (self.source.name or "", text)
        self.changed.emit()

    @Slot(object)
    def _on_view(self, _view: Any) -> None:
        self.changed.emit()
