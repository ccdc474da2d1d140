"""The Experiments workspace's run: Run starts ``app.experiments.runner.run_experiment`` in a
``widgets.common.worker.Worker`` (on the chosen executor and workers), every finished cell fills its table row and
schedules a replot, Esc cancels (the download first, else the run: finished cells stay stored), and the buttons follow.
A mixin of ``ExperimentsWorkspace`` (its ``recipe``, ``store``, ``quick``, ``dataset``, ``executor``, ``workers``,
``run_btn``, ``cancel_btn``, ``report_btn``, ``recipe_combo``, ``progress``, ``status``, ``download_btn``, ``table``,
``is_downloading``, ``effective_recipe``, ``_reload``, ``_show_plan``, ``_invite``, ``_plan_count``,
``_refresh_history``, ``_replot``, ``_replot_timer`` and the ``worker``, ``result``, ``_results``, ``_cells``,
``_running_executor``, ``_store_error``, ``_recipe_error``, ``_reloaded_note`` state; ``_rate``, the finish time's
estimate, is its own)."""

from __future__ import annotations

import time

from PySide6.QtCore import Slot

from app.errors import AppError, message
from app.experiments.recipe import dataset_problem
from app.experiments.runner import ExperimentResult
from app.eta import Rate
from widgets.common.worker import Worker
from widgets.experiments.recipe_file import BROKEN


class RunControl:
    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def _set_running(self, running: bool) -> None:
        downloading = self.is_downloading()
        blocked = bool(self.dataset.problem()) and not self.download_btn.isVisibleTo(self)  # no fix but another
        blocked = blocked or self._store_error is not None  # its results could be neither reused nor kept
        self.run_btn.setEnabled(not running and not downloading and self.recipe is not None and not blocked)
        self.cancel_btn.setEnabled(running or downloading)
        self.report_btn.setEnabled(not running and self.result is not None and bool(self.result.report))
        self.recipe_combo.setEnabled(not running)
        self.quick.setEnabled(not running)
        self.dataset.setEnabled(not running)

    def run(self) -> None:
        if self.recipe is None or self.is_running() or self.is_downloading():
            return
        from app.experiments.runner import run_experiment

        quick = self.quick.isChecked()
        self._reload()  # the file as it is now (edited since it was read: its cells, not the old ones)
        if self._recipe_error is not None:
            self.status.setText(f"Not started: {BROKEN.lower()}: {self._recipe_error}")
            return
        reloaded, self._reloaded_note = self._reloaded_note, None
        try:
            recipe = self.effective_recipe()
        except AppError as exc:
            return self._refuse(message(exc))
        problem = dataset_problem(recipe, quick)
        if problem:
            return self._refuse(problem)
        ex, workers, store = self.executor.currentText(), self.workers.value(), self.store
        self._show_plan()
        if self._store_error is not None:  # (Ctrl+Return: Run is off meanwhile)
            self._invite()
            return
        self.result = None
        self._running_executor = ex
        self.worker = Worker(lambda token: run_experiment(recipe, quick, ex, workers, cancel=token, store=store),
                             parent=self, name="experiment")
        self.worker.on(progress=self._on_progress, finished=self._on_finished, failed=self._on_failed,
                       cancelled=self._on_cancelled, done=self._on_done)
        self.progress.setRange(0, max(1, len(self._cells)))
        self.progress.setValue(0)
        self.progress.show()
        self._rate = Rate(min_seconds=0.0)  # from the cells this run finishes (stored ones reused are its origin)
        self.status.setText("Starting…" + (f" {reloaded}" if reloaded else ""))
        self._set_running(True)
        self.worker.start()

    def _refuse(self, text: str) -> None:
        """Say inline why the run does not start (nothing is started)."""
        self.dataset.set_problem(text)
        self.status.setText(f"Not started: {text}")

    @Slot()
    def _on_done(self) -> None:
        self._set_running(False)
        self.progress.hide()

    def cancel(self) -> None:
        if self.download_btn.cancel():
            self.status.setText("Cancelling the download…")
            return
        if self.is_running():
            from app.experiments.executors import CANCEL_TEXT

            ex = self._running_executor or self.executor.currentText()
            self.status.setText(f"Cancelling ({ex}): {CANCEL_TEXT.get(ex, 'the finished cells stay stored')}…")
            self.worker.cancel()

    @Slot(object)
    def _on_progress(self, p) -> None:
        if p.total:
            self.progress.setRange(0, int(p.total))
            self.progress.setValue(int(p.done))
        rate = getattr(self, "_rate", None)
        left = rate.update(p.done, p.total, time.monotonic(), None) and rate.left() if rate is not None else None
        # a finish time, not a count-down: the next report comes only when a cell finishes (minutes apart)
        finish = time.strftime("%H:%M", time.localtime(time.time() + left)) if left else ""
        self.status.setText(p.message + (f" · done by about {finish}" if finish else ""))
        done = p.payload
        if done is not None and hasattr(done, "cell"):
            self._results[done.cell["key"]] = done.result
            self.table.update_cell(done.cell["key"], done.result)
            if not self._replot_timer.isActive():
                self._replot_timer.start()

    @Slot(object)
    def _on_finished(self, result: ExperimentResult) -> None:
        self.result = result
        self._results = dict(result.results)
        self.table.set_cells(list(result.cells), self._results)
        self._replot_timer.stop()
        self._replot()
        self.status.setText(f"Done: {len(result.cells)} cells ({result.reused} reused, {result.failed} failed) in "
                            f"{result.seconds:.0f} s. Report: {result.report.get('html', '')}")
        self._plan_count(result.recipe, list(result.cells))  # the run's cells are stored now
        self._refresh_history()

    @Slot(str)
    def _on_failed(self, msg: str) -> None:
        self.status.setText(f"The experiment stopped: {msg}")
        self._refresh_history()  # (a run whose report failed is recorded, with why)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status.setText("Cancelled; the finished cells are stored and will be reused by the next run.")
        self._refresh_history()  # listed as cancelled, with its cells done
        if self.recipe is not None and self._cells:
            try:
                self._plan_count(self.effective_recipe(), self._cells)
            except AppError:  # the dataset field changed meanwhile: its own banner says why
                pass
