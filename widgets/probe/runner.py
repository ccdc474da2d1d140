"""The Probe's run queue: jobs run one after another in ``widgets.common.worker`` workers.

Each job's task runs the probe (``app.probe.run.run_probe`` or the trained baseline ``evaluate_model``) and then,
still on the worker thread, stores the finished run in the history (``record``) and builds the typed ``RunView``
the views show: the GUI thread never writes to the database and never reads a result back from a dict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

from app.errors import AppError, message
from widgets.common.worker import Worker, WorkerPool
from widgets.probe.model import Job, RunView
from app.probe.history import record


@dataclasses.dataclass(frozen=True)
class Finished:
    """What a job's task returns: the run as the views read it, and why it was not stored (None when it was)."""

    run: RunView
    store_error: str | None = None
    check: str | None = None  # a rerun: whether it reproduced its stored run (``app.probe.paired.rerun_check``)


def job_task(job: Job, history_path: Path | None) -> Callable[[Any], Any]:
    """The worker task of one job (a generator function of the cancel token)."""
    cfg = job.config

    def task(token):
        stored = None
        if job.kind == "rerun":  # the stored record read here, on the worker: the GUI thread reads no result dict
            from app.probe.history import History
            from app.probe.run import rerun

            if history_path is None:
                raise AppError("the history is not available: there is no stored run to rerun")
            with History(history_path, readonly=True) as h:  # a read: works while the file cannot be written
                try:
                    stored = h.get(job.run_id)
                except KeyError:
                    raise AppError(f"run {job.run_id} is no longer in the history") from None
            result = yield from rerun(stored, cancel=token)
        elif job.kind == "baseline":
            from app.probe.run import evaluate_model

            result = yield from evaluate_model(cfg.model, cfg.dataset, cfg.data_root, cfg.test_limit, cancel=token)
        else:
            from app.probe.run import run_probe

            result = yield from run_probe(cfg, cancel=token)
        if history_path is None:
            return Finished(RunView.from_result(result), "the history is not available")
        note = f"rerun of run {job.run_id}" if stored is not None else ""
        try:
            run_id = record(result, history_path, note=note)  # committed before anything else happens
        except (AppError, OSError) as exc:
            return Finished(RunView.from_result(result), message(exc))
        check = None
        if stored is not None:
            from app.probe.paired import rerun_check

            check = rerun_check(stored, dataclasses.replace(result, run_id=run_id).to_dict())["text"]
        return Finished(RunView.from_result(result, run_id), check=check)

    return task


class ProbeQueue(QObject):
    """Runs a batch of jobs in order; a failed job is reported and the next one still runs."""

    jobStarted = Signal(int, int, str)  # index (1-based), total, title
    progress = Signal(int, object)  # index, app.tasks.Progress
    runFinished = Signal(int, object)  # index, Finished
    batchDone = Signal(bool, list)  # cancelled, failure messages

    def __init__(self, pool: WorkerPool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.history_path: Path | None = None
        self._queue: list[Job] = []
        self._job: Job | None = None
        self.index = 0
        self.total = 0
        self.worker: Worker | None = None
        self.failures: list[str] = []

    @property
    def job(self) -> Job | None:
        return self._job

    def is_running(self) -> bool:
        """From a job's start (``jobStarted``: its worker is made after) to the batch's end (``batchDone``): the
        batch's last job, popped from the queue before its worker exists, counts too."""
        return self._job is not None or self.worker is not None or bool(self._queue)

    def start(self, jobs: list[Job]) -> None:
        self.failures = []
        self._queue = list(jobs)
        self.index = 0
        self.total = len(jobs)
        self._next()

    def cancel(self) -> bool:
        """Drop the queued jobs and cancel the running one; True when something was running."""
        self._queue.clear()
        if self.worker is not None:
            self.worker.cancel()
            return True
        return False

    def forget(self) -> None:
        """After the pool was shut down: nothing runs any more."""
        self._queue.clear()
        self.worker = None
        self._job = None

    def _next(self) -> None:
        if not self._queue:
            self._job = None
            self.batchDone.emit(False, list(self.failures))
            return
        job = self._queue.pop(0)
        self._job = job
        self.index += 1
        self.jobStarted.emit(self.index, self.total, job.title)
        w = self.pool.start(job_task(job, self.history_path), name=f"probe {job.title}")
        w.on(progress=lambda p, i=self.index: self.progress.emit(i, p), finished=self._on_finished,
             failed=self._on_failed, cancelled=self._on_cancelled)
        self.worker = w

    @Slot(object)
    def _on_finished(self, out: Finished) -> None:
        self.worker = None
        if out.store_error:
            self.failures.append(f"the run finished ({100 * out.run.top1:.1f}% top-1) but could not be stored: "
                                 f"{out.store_error}")
        self.runFinished.emit(self.index, out)
        self._next()

    @Slot(str)
    def _on_failed(self, msg: str) -> None:
        self.worker = None
        job = self._job
        what = ("the run" if job is None else job.title if job.config is None  # a rerun: its title names the run
                else f"{job.title} on '{job.config.dataset}'")
        self.failures.append(f"{what} failed: {msg}")
        self._next()  # the other queued runs still go ahead

    @Slot()
    def _on_cancelled(self) -> None:
        self.worker = None
        self._queue.clear()
        self._job = None
        self.batchDone.emit(True, list(self.failures))
