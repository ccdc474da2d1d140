"""What the Insight panels share: a model chooser (the zoo, the session's models, each trained model's random twin)
and a task bar (Run, Cancel, progress, status) that runs one ``app.analysis.jobs`` task at a time in a ``Worker``; at
its end the status line says what was computed ("Done: ...", from the result), not nothing beside a full bar."""

from __future__ import annotations

import time
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.analysis.jobs import random_twin
from app.eta import Rate
from widgets.common.worker import Worker, WorkerPool


def model_choices(session: Any) -> list[tuple[str, Any]]:
    """(label, spec): the zoo's models, then the session's, then a random twin of every trained one."""
    from app.models.zoo import default_specs

    out: list[tuple[str, Any]] = []
    seen: set[str] = set()

    def add(label: str, spec: Any) -> None:
        if label not in seen:
            seen.add(label)
            out.append((label, spec))

    specs = list(default_specs())
    for s in specs:
        add(s.label or s.backbone, s)
    for name, s in (getattr(session, "models", None) or {}).items():
        add(name, s)
        specs.append(s)
    for s in specs:
        if s.weights is not None or s.banks:
            t = random_twin(s)
            add(t.label, t)
    return out


DEFAULT_TRAINED = "simple (trained, MNIST)"  # the views' first choice where it exists: a trained model shipped offline


class ModelCombo(QComboBox):
    """A model of the zoo or the session; refreshed when the session's models change."""

    def __init__(self, session: Any, tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setToolTip(tooltip)
        self.setMinimumContentsLength(26)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.refresh()

    def refresh(self) -> None:
        keep = self.currentText()
        self.blockSignals(True)
        self.clear()
        for label, spec in model_choices(self.session):
            self.addItem(label, spec)
        if keep:
            self.select(keep)
        self.blockSignals(False)

    def select(self, label: str) -> bool:
        i = self.findText(label)
        if i >= 0:
            self.setCurrentIndex(i)
        return i >= 0

    def spec(self) -> Any:
        return self.currentData()


class TaskBar(QWidget):
    """Run / Cancel / progress / status for one panel; ``run(make_task, on_result)`` starts a worker (a newer run
    cancels the older one)."""

    run_clicked = Signal()

    def __init__(self, pool: WorkerPool, run_text: str = "Compute", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.worker: Worker | None = None
        self._rate = Rate()  # the time left of the stage under way
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.run_btn = QPushButton(run_text)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.setToolTip("Stop the computation (Esc)")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #5b6472;")
        for w in (self.run_btn, self.cancel_btn, self.progress):
            lay.addWidget(w)
        lay.addWidget(self.status, 1)
        self.run_btn.clicked.connect(self.run_clicked)
        self.cancel_btn.clicked.connect(self.cancel)

    def busy(self) -> bool:
        return self.worker is not None

    def run(self, make_task: Callable, on_result: Callable[[Any], None], name: str = "insight",
            done: Callable[[Any], str] | None = None) -> Worker:
        """``done(result)``: what the status line says once the result is shown ("Done." without it): the bar at
        100% alone said nothing of what was computed."""
        self.cancel()
        w = self.pool.start(make_task, name=name)
        self.worker = w
        self.cancel_btn.setEnabled(True)
        self.progress.setRange(0, 0)
        self._rate.reset()
        self.status.setText("working…")
        w.on(progress=lambda p, w=w: self._on_progress(w, p),
             finished=lambda r, w=w: self._on_finished(w, r, on_result, done),
             failed=lambda m, w=w: self._end(w, f"failed: {m}"), cancelled=lambda w=w: self._end(w, "cancelled"))
        return w

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _on_progress(self, w: Worker, p: Any) -> None:
        if w is not self.worker:
            return
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, p.done / p.total)))
        else:
            self.progress.setRange(0, 0)
        self.status.setText((p.message or "") + self._rate.about(p.done, p.total, time.monotonic()))

    def _end(self, w: Worker, text: str) -> bool:
        if w is not self.worker:
            return False
        self.worker = None
        self.cancel_btn.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if text == "done" else 0)
        self.status.setText("" if text == "done" else text)
        return True

    def _on_finished(self, w: Worker, result: Any, on_result: Callable[[Any], None],
                     done: Callable[[Any], str] | None = None) -> None:
        if self._end(w, "done"):
            on_result(result)
            self.status.setText(done(result) if done is not None else "Done.")
