"""Run an ``app`` task generator off the GUI thread and turn its reports into signals.

One helper for every long job (training, extraction, downloads, the live loop)::

    worker = Worker(lambda token: train_head(..., cancel=token))
    worker.progress.connect(self.on_progress)     # app.tasks.Progress
    worker.finished.connect(self.on_result)       # the generator's return value
    worker.failed.connect(self.on_error)          # str: a message for the user
    worker.cancelled.connect(...)
    worker.start()
    ...
    worker.cancel(); worker.wait()                # the owner does this on close

(the four connections in one call: ``worker.on(progress=..., finished=..., failed=..., cancelled=...)``).

Exactly one of finished / failed / cancelled is emitted, then ``done``. Progress reports are coalesced: if the
GUI falls behind, only the newest report per ``min_interval`` reaches it (the queue never fills). Python warnings
raised in the worker thread are caught there and delivered as ``warned(str)`` on the GUI thread (a warning that
reached Qt from a worker thread would touch Qt objects there); the product's own warnings (raised in ``app/``: an
older checkpoint loaded as it was trained) also go to ``Worker.notice`` when the window set one (its status line).
After a cancel only ``cancelled`` is emitted.
``failed`` carries the exception's message (``app.errors.message``); the traceback is kept in ``last_traceback``.
"""

from __future__ import annotations

import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from app.errors import AppError, message
from app.tasks import Cancelled, CancelToken, Progress
from app.priority import background_priority


class _Deferral:
    """Workers that ``hold`` selects wait in ``queue`` when started (GUI thread only): see ``hold_workers``;
    ``serial``: released ones that start one after another (``start_deferred(one_at_a_time=True)``)."""

    hold: Callable[["Worker"], bool] | None = None
    queue: list["Worker"] = []
    serial: list["Worker"] = []
    current: "Worker | None" = None  # the one of ``serial`` running now


SERIAL_CAP_MS = 1000  # a released worker that runs longer than this no longer delays the next one


def hold_workers(hold: Callable[["Worker"], bool] | None) -> None:
    """From now on a worker for which ``hold(worker)`` is true waits when started, until ``start_deferred()``
    (``None``: none waits). The main window holds the hidden workspaces' workers while it builds them at start-up,
    so that their first model builds and dataset loads do not compete with the building of the others for the
    interpreter (issue 14: they made the GUI thread's build steps 2-10x slower). ``is_running()`` is True meanwhile."""
    _Deferral.hold = hold


def start_deferred(where: Callable[["Worker"], bool] | None = None, one_at_a_time: bool = False) -> None:
    """Start every held worker (those cancelled and waited for meanwhile are dropped); ``where``: only those for
    which ``where(worker)`` is true (the others go on waiting). ``one_at_a_time``: each once the one before is done
    (its results delivered) or has run ``SERIAL_CAP_MS``: the start-up's held workers (model builds, dataset loads)
    all at once made the GUI thread wait for the GIL behind three or four busy threads (issue 14: 50-80 ms gaps)."""
    if where is None:
        queue, _Deferral.queue = _Deferral.queue, []
        if not one_at_a_time:  # those released one at a time and not yet started too
            queue, _Deferral.serial = _Deferral.serial + queue, []
    else:
        queue = [w for w in _Deferral.queue if where(w)]
        _Deferral.queue = [w for w in _Deferral.queue if not any(w is q for q in queue)]
    if one_at_a_time:
        _Deferral.serial += queue
        if _Deferral.current is None:
            _next_serial()
        return
    for w in queue:
        _launch(w)


def _launch(w: "Worker") -> bool:
    if w._running and not w._thread.isRunning():
        w._thread.start()
        return True
    return False


def _next_serial(after: "Worker | None" = None) -> None:
    """Start the next released worker of ``serial`` (``after``: only if that one is still the current one)."""
    if after is not None and _Deferral.current is not after:
        return
    _Deferral.current = None
    while _Deferral.serial:
        w = _Deferral.serial.pop(0)
        if _launch(w):
            _Deferral.current = w
            w.done.connect(lambda w=w: _next_serial(w))  # emitted on the GUI thread, after its results
            QTimer.singleShot(SERIAL_CAP_MS, w, lambda w=w: _next_serial(w))
            return


_APP = Path(__file__).resolve().parents[2] / "app"


def _ours(filename: str) -> bool:
    """Whether a warning was raised by the product's core (``app/``)."""
    try:
        return Path(filename).resolve().is_relative_to(_APP)
    except (OSError, ValueError):
        return False


class _Runner(QThread):
    def __init__(self, worker: "Worker") -> None:
        super().__init__()
        self._worker = worker

    def run(self) -> None:  # worker thread
        self._worker._run_in_thread()


class Worker(QObject):
    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    warned = Signal(str)
    done = Signal()

    _deliver = Signal()
    # where the product's own warnings are shown besides ``warned`` (the main window's status line; None: nowhere)
    notice: ClassVar[Callable[[str], None] | None] = None

    def __init__(
        self,
        make_task: Callable[[CancelToken], Any],
        *,
        min_interval: float = 0.03,
        parent: QObject | None = None,
        name: str = "task",
    ) -> None:
        super().__init__(parent)
        self._make_task = make_task
        self._token = CancelToken()
        self._lock = threading.Lock()
        self._pending: Progress | None = None
        self._warnings: list[str] = []
        self._notices: list[str] = []
        self.last_traceback = ""
        self._outcome: tuple[str, Any] | None = None
        self._min_interval = min_interval
        self.name = name
        self.nice: int | None = None  # the worker thread's nice value once it runs (None: not lowered)
        self._thread = _Runner(self)
        self._thread.finished.connect(self._on_thread_finished)
        self._deliver.connect(self._flush)
        self._running = False
        self._last_emit = 0.0

    # --- GUI thread API -------------------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        if _Deferral.hold is not None and _Deferral.hold(self):
            _Deferral.queue.append(self)
            return
        self._thread.start()

    def on(self, *, progress: Callable | None = None, finished: Callable | None = None,
           failed: Callable | None = None, cancelled: Callable | None = None, warned: Callable | None = None,
           done: Callable | None = None) -> "Worker":
        """Connect each slot given to its signal (in this order) and return the worker: one job's wiring in one
        call, ``pool.start(task).on(finished=self._show, failed=self._fail)``. Connect before ``start`` returns to
        the event loop (a worker delivers nothing until then)."""
        for signal, slot in ((self.progress, progress), (self.finished, finished), (self.failed, failed),
                             (self.cancelled, cancelled), (self.warned, warned), (self.done, done)):
            if slot is not None:
                signal.connect(slot)
        return self

    def cancel(self) -> None:
        self._token.cancel()

    @property
    def token(self) -> CancelToken:
        return self._token

    def is_running(self) -> bool:
        return self._running

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread ends (used on close). Pending results are still delivered. A held worker
        (``hold_workers``) starts now, unless it was cancelled."""
        for held in (_Deferral.queue, _Deferral.serial):
            if any(self is w for w in held):
                held.remove(self)
                if not self._token.cancelled:
                    self._thread.start()
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._flush()
            self._on_thread_finished()
        return ok

    def stop(self, timeout_ms: int = 30000) -> bool:
        self.cancel()
        return self.wait(timeout_ms)

    # --- worker thread -------------------------------------------------------------------------------
    def _run_in_thread(self) -> None:
        self.nice = background_priority()  # FILTER_EXPLORER_WORKER_NICE: below the GUI thread (issue 14)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            self._run_task()
        if caught:
            with self._lock:
                self._warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)
                # the product's own warnings (UserWarning raised in app/); a ResourceWarning or DeprecationWarning
                # is for developers (an unclosed file read in app/device.py reached the status line)
                self._notices.extend(str(w.message) for w in caught
                                     if w.category is UserWarning and _ours(w.filename))

    def _run_task(self) -> None:
        try:
            # grad mode is per thread: tasks that only infer wrap themselves in torch.inference_mode()
            gen = self._make_task(self._token)
            if not hasattr(gen, "__next__"):  # a plain function already ran
                self._set_outcome("finished", gen)
                return
            try:
                while True:
                    if self._token.cancelled:
                        self._set_outcome("cancelled", None)
                        return
                    try:
                        p = next(gen)
                    except StopIteration as stop:
                        self._set_outcome("finished", stop.value)
                        return
                    with self._lock:
                        self._pending = p
                    now = time.monotonic()
                    if now - self._last_emit >= self._min_interval:
                        self._last_emit = now
                        self._deliver.emit()
            finally:
                gen.close()
        except Cancelled:
            self._set_outcome("cancelled", None)
        except AppError as exc:  # the user's problem: its message says what to change
            self._set_outcome("failed", (message(exc), traceback.format_exc()))
        except Exception as exc:  # a bug of ours: report it, never crash the GUI
            tb = traceback.format_exc()
            self._set_outcome("failed", (message(exc), tb))

    def _set_outcome(self, kind: str, value: Any) -> None:
        with self._lock:
            self._outcome = (kind, value)

    # --- delivery on the GUI thread --------------------------------------------------------------------
    @Slot()
    def _flush(self) -> None:
        with self._lock:
            p, self._pending = self._pending, None
        if p is not None:
            self.progress.emit(p)

    @Slot()
    def _on_thread_finished(self) -> None:
        if not self._running:
            return
        self._flush()
        with self._lock:
            outcome, self._outcome = self._outcome, None
        self._running = False
        with self._lock:
            warned, self._warnings = self._warnings, []
            notices, self._notices = self._notices, []
        for w in warned:
            self.warned.emit(w)
        if Worker.notice is not None:
            for text in dict.fromkeys(notices):
                Worker.notice(text)
        if outcome is None:
            outcome = ("cancelled", None)
        kind, value = outcome
        if kind == "finished":
            self.finished.emit(value)
        elif kind == "failed":
            msg, tb = value
            self.last_traceback = tb
            self.failed.emit(msg)
        else:
            self.cancelled.emit()
        self.done.emit()


class WorkerPool(QObject):
    """Owns every worker a workspace starts; ``shutdown()`` cancels and joins them all (call it on close)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[Worker] = []

    def start(self, make_task: Callable[[CancelToken], Any], **kw: Any) -> Worker:
        w = Worker(make_task, parent=self, **kw)
        self._workers.append(w)
        w.done.connect(lambda w=w: self._forget(w))
        w.start()
        return w

    def _forget(self, w: Worker) -> None:
        # keep the Python reference until the QThread really ended (avoids "Destroyed while running")
        QTimer.singleShot(0, lambda: self._workers.remove(w) if w in self._workers and not w._thread.isRunning() else None)

    def running(self) -> list[Worker]:
        return [w for w in self._workers if w.is_running()]

    def shutdown(self, timeout_ms: int = 30000) -> None:
        for w in list(self._workers):
            w.cancel()
        for w in list(self._workers):
            w.wait(timeout_ms)
        self._workers.clear()
