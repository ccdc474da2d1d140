"""The dataset browser's work row: a progress bar, the Download (or "Download again") button and Cancel.

``busy(on)`` shows the progress and Cancel; ``progress(p)`` shows an ``app.tasks.Progress``; ``offer(repair)``
shows the Download button (``repair``: fetch a damaged copy again), ``repair`` says which one it is; ``withdraw()``
hides it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QSizePolicy, QWidget

DOWNLOAD_TIP = "Download this dataset from its official location (checksum-verified; an interrupted download resumes)"
REPAIR_TIP = ("Fetch the dataset again from its official location and unpack it over the damaged copy "
              "(checksum-verified)")


class WorkBar(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.repair = False
        self.download_btn = QPushButton("Download")
        self.download_btn.setToolTip(DOWNLOAD_TIP)
        self.download_btn.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the download or load (Esc); a download resumes where it stopped")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.progress_bar, 1)
        lay.addWidget(self.download_btn)
        lay.addWidget(self.cancel_btn)
        lay.addStretch(0)
        self.busy(False)
        self.download_btn.hide()
        # the row keeps its height while empty: a load's progress (every dataset or split chosen) then does not
        # push the sample mosaic down and back up, two re-layouts and repaints of its plots per load
        self.setFixedHeight(max(w.sizeHint().height() for w in (self.progress_bar, self.download_btn,
                                                                 self.cancel_btn)))

    def busy(self, on: bool) -> None:
        self.progress_bar.setVisible(on)
        self.cancel_btn.setVisible(on)
        if on:
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat("")

    def progress(self, p) -> None:
        frac = p.fraction
        if frac is None:
            self.progress_bar.setRange(0, 0)
        else:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(frac * 1000))
        self.progress_bar.setFormat(p.message[:80] if p.message else "%p%")

    def offer(self, repair: bool = False) -> None:
        self.repair = repair
        self.download_btn.setText("Download again" if repair else "Download")
        self.download_btn.setToolTip(REPAIR_TIP if repair else DOWNLOAD_TIP)
        self.download_btn.setEnabled(True)
        self.download_btn.show()

    def withdraw(self) -> None:
        self.repair = False
        self.download_btn.hide()
        self.download_btn.setText("Download")
        self.download_btn.setToolTip(DOWNLOAD_TIP)
