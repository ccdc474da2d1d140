"""The Probe's "Run" box: Train / Cancel / Add trained baseline, the chosen dataset's Download (a ``DownloadButton``
the workspace adds, shown while that dataset is not on this machine) with the download's progress beside it (the
dataset browser's bar is on the other tab of a narrow window), the batch's progress with percentage, images/s and
time left, the stage line and the message banner. It shows state; the workspace decides what runs.

The stage line (``stage``) is an ``ElidedNote``: 3 lines reserved, at most 6, a longer text (a failed download's
message with its address) ending in "…" with the whole text as its tooltip; a word longer than the column (a path)
breaks inside. It neither widens the column nor pushes the run box up over the settings by more than 3 lines."""

from __future__ import annotations

import re
import time
from typing import Any

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout,
                               QWidget)

from widgets.probe.banner import Banner
from widgets.probe.bar_text import elide_bar_text
from widgets.probe.elided_note import ElidedNote
from app.eta import Rate


STAGE_LEAST, STAGE_LINES = 3, 6  # the stage line's lines: reserved, at most

# Train's key as Qt writes the shortcut bound (QKeySequence's text: "Ctrl+Return", as Models, Experiments and Insight
# say it; the keypad's Ctrl+Enter works too)
TRAIN_KEY = QKeySequence("Ctrl+Return").toString()
TRAIN_TIP = ("Train a head on each checked model's frozen features, one after another "
             f"({TRAIN_KEY})")
BASELINE_TIP = ("Evaluate each checked trained model with its OWN classifier on the test split of the dataset it was "
                "trained on:\nthe fully trained reference the probes are compared with")


class RunPanel(QGroupBox):
    def __init__(self, title: str = "4 · Run") -> None:
        super().__init__(title)
        rl = QVBoxLayout(self)
        buttons = QHBoxLayout()
        self.train_btn = QPushButton("Train")
        self.train_btn.setDefault(True)
        self.train_btn.setToolTip(TRAIN_TIP)
        self.train_btn.setStyleSheet("QPushButton { font-weight: bold; padding: 6px 18px; }")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("Stop the running job and drop the queued ones (Esc)")
        self.cancel_btn.setEnabled(False)
        self.baseline_btn = QPushButton("Add trained baseline")
        self.baseline_btn.setToolTip(BASELINE_TIP)
        buttons.addWidget(self.train_btn)
        buttons.addWidget(self.cancel_btn)
        buttons.addStretch(1)
        rl.addLayout(buttons)
        self._download_row = QHBoxLayout()  # the chosen dataset's Download, under Train (add_download)
        self.download_bar = ProgressLine()  # beside it: the download's progress while one runs
        self.download_bar.hide()
        rl.addLayout(self._download_row)
        rl.addWidget(self.baseline_btn)
        self.live_btn = QPushButton("Use in Live")
        self.live_btn.setToolTip("Show the selected run's head predicting on the Live input (webcam, video, dataset "
                                 "samples), on a pane with that run's backbone")
        self.live_btn.setEnabled(False)
        rl.addWidget(self.live_btn)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress.setToolTip("Progress of the whole batch of runs")
        # idle, an empty bar looks like a text field: it is shown only while something runs (its place is kept)
        policy = self.progress.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.progress.setSizePolicy(policy)
        self.progress.hide()
        rl.addWidget(self.progress)
        self.stage = ElidedNote(STAGE_LINES, least=STAGE_LEAST, tip=True)  # a long message: "…", whole as its tip
        self.stage.setText("Ready.")
        self.stage.setStyleSheet("color: #334;")
        self.stage.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        rl.addWidget(self.stage)
        self.rate_label = QLabel("")
        self.rate_label.setStyleSheet("color: #5b6472;")
        self.rate_label.setToolTip("The current stage: share done, images per second and the time left")
        rl.addWidget(self.rate_label)
        self.banner = Banner()
        rl.addWidget(self.banner)
        self._rate = Rate()

    def add_download(self, button: QWidget) -> None:
        """The chosen dataset's Download button (``DownloadButton``), under Train; it hides itself while nothing is
        missing. The download's bar (``download_bar``) comes beside it while a download runs."""
        self._download_row.addWidget(button)
        self._download_row.addWidget(self.download_bar, 1)
        self._download_row.addStretch(0)  # the button keeps its width while the bar is hidden

    def set_running(self, running: bool, can_train: bool, can_baseline: bool, missing: str | None = None,
                    downloading: bool = False) -> None:
        """``missing``: why the chosen dataset cannot be probed yet: Train and the baseline are off and their tooltips
        say why (the stage line too); a run on it would only fail to load its images. ``downloading``: a dataset
        download runs (Cancel and Esc stop it)."""
        ready = not running and not missing
        self.train_btn.setEnabled(ready and can_train)
        self.train_btn.setToolTip(f"{TRAIN_TIP}\nNot ready: {missing}" if missing else TRAIN_TIP)
        self.baseline_btn.setEnabled(ready and can_baseline)
        why = (f"\nNot ready: {missing}" if missing else
               "" if can_baseline else "\nOff: check a trained model in the list (a random one has no classifier of "
                                       "its own to evaluate)")
        self.baseline_btn.setToolTip(BASELINE_TIP + why)
        self.cancel_btn.setEnabled(running or downloading)
        if running:
            self.progress.show()
        else:
            self.rate_label.setText("")
            self._rate.reset()

    def start_batch(self) -> None:
        self.progress.setValue(0)
        self.progress.show()
        self._rate.reset()

    def show_progress(self, index: int, total: int, title: str, p: Any) -> None:
        """A ``Progress`` report of run ``index`` of ``total``: the bar (whole batch), the stage line, the rate."""
        within = p.fraction if p.fraction is not None else 0.0
        self.progress.setValue(int(1000 * (index - 1 + within) / max(1, total)))
        self.stage.setText(f"{index}/{total} · {title}: {p.message}")
        unit = "steps" if p.payload is not None and hasattr(p.payload, "loss") else "images"
        rate = self._rate.update(p.done, p.total, time.monotonic(), unit)
        self.rate_label.setText(f"this stage: {rate}" if rate else "")

    def finish(self, complete: bool) -> None:
        if complete:
            self.progress.setValue(1000)
        self.rate_label.setText("")
        self._rate.reset()


class ProgressLine(QProgressBar):
    """A download's progress bar whose text, its percentage and message ("45% · downloading train-images-idx3-ubyte.gz:
    13.2 MB of 26.4 MB"), is elided to the bar's width ("…", ``widgets.probe.bar_text``) instead of wrapping or being
    cut; the whole text is its tooltip. A report without a fraction keeps the bar where it was and says its
    message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0, 1000)
        self.setValue(0)
        self.setTextVisible(True)
        self.message = ""
        self.known = False  # a fraction was reported (else no percentage is said)
        elide_bar_text(self)  # its text elided to its width

    def start(self, message: str) -> None:
        """A download starts: an empty bar saying ``message``."""
        self.setValue(0)
        self.known = False
        self._say(message)

    def show_progress(self, p: Any) -> None:
        """An ``app.tasks.Progress`` of the download."""
        if p.fraction is not None:
            self.known = True
            self.setValue(int(round(1000 * p.fraction)))
        self._say(p.message or self.message)

    def percent(self) -> int | None:
        """The share done in percent (None before a fraction was reported)."""
        return int(self.value() / 10) if self.known else None

    def _say(self, message: str) -> None:
        self.message = message
        pct = self.percent()
        text = " · ".join(t for t in (f"{pct}%" if pct is not None else "", message) if t)
        self.setFormat(re.sub(r"%(?=[pvm])", "%\u200b", text))  # a literal text: no "%p", "%v" or "%m" in it
        self.setToolTip(text)


def batch_failed(ws, n_ok: int, total: int, failures: list[str]) -> None:
    """A batch with failed runs has ended (``ProbeWorkspace._finish_batch``): the panels agree and the reason is in
    view. The stage line and the Training tab say it failed (no "Extracting…" left over), the bar shows the share of
    runs that finished (none: hidden), and on a narrow window (the Reflow tabs) the tab holding the red banner is
    brought to the front."""
    ws.stage.setText(f"Failed: {n_ok} of {total} run{'s' if total != 1 else ''} finished; the reason is in the red "
                     "box below.")
    if n_ok:
        ws.progress.setValue(int(1000 * n_ok / max(1, total)))
    else:
        ws.progress.hide()
    ws.curves.show_failed(f"{n_ok} of {total} run{'s' if total != 1 else ''} finished", failures)
    reflow = getattr(ws, "reflow", None)
    if reflow is not None and reflow.narrow:
        reflow.tabs.setCurrentWidget(ws.middle_column)
