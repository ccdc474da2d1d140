"""The Probe's runs, from a press to their views: Train (one job per checked model and seed), the trained baseline,
a stored run's Rerun, the queue's progress and finished runs, the end of a batch, Cancel (``ProbeWorkspace`` mixes
it in; the queue itself is ``widgets.probe.runner.ProbeQueue``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot

from app.probe.config import ProbeConfig
from widgets.probe.guards import baseline_refusal
from widgets.probe.jobs import probe_jobs
from widgets.probe.model import Job
from widgets.probe.run_panel import batch_failed
from widgets.probe.runner import Finished


class BatchRuns:
    """Uses the workspace's ``queue``, ``probe_settings``, ``models``, ``banner``, ``stage``, ``curves``,
    ``run_panel``, ``results``, ``gallery``, ``tabs``, ``compare``, ``history_panel``, ``turns``, ``browser`` and its
    ``runStored`` / ``batchDone`` signals."""

    def _configs(self) -> list[Job]:
        return probe_jobs(self.probe_settings, self.models.checked_specs(), self.dataset_name(), self.data_root(),
                          self.train_limit(), self._preset_specs)

    @Slot()
    def train(self) -> None:
        if self.is_running():
            return
        if not self.dataset_name():
            self.banner.show_message("Choose a dataset first.")
            return
        if self._not_ready():
            return
        jobs = self._configs()
        if not jobs:
            self.banner.show_message("Check at least one model in the list to train a probe on its features.")
            return
        self._start_batch(jobs)

    @Slot()
    def add_baseline(self) -> None:
        if self.is_running():
            return
        trained = [s for s in self.models.checked_specs() if s.weight_state == "trained"]
        if not trained:
            self.banner.show_message("Check a trained model (e.g. 'lenet5 (trained, MNIST)') first: the baseline "
                                     "is its own classifier on this dataset.", "note")
            return
        if self._not_ready():
            return
        dataset = self.dataset_name()
        refused = [msg for msg in (baseline_refusal(s, dataset) for s in trained) if msg]
        ok = [s for s in trained if not baseline_refusal(s, dataset)]
        if refused:
            self.banner.show_message("\n".join(refused), "note" if ok else "error")
        if not ok:
            return
        jobs = [Job("baseline", ProbeConfig(model=s, dataset=dataset, data_root=self.data_root(), head="own",
                                            test_limit=self.probe_settings.test_limit_value()),
                    f"{s.label} · own classifier") for s in ok]
        self._start_batch(jobs, keep_banner=bool(refused))

    @Slot(int)
    def rerun(self, run_id: int) -> None:
        """Run a stored run again (its record, seeds included, read on the worker) and say, when it is done, whether
        it reproduced the stored one (``app.probe.paired.rerun_check``)."""
        if self.is_running():
            return
        self._start_batch([Job("rerun", None, f"rerun of run {run_id}", run_id=run_id)])

    def _start_batch(self, jobs: list[Job], keep_banner: bool = False) -> None:
        if not keep_banner:
            self.banner.hide()
        self._last_stored = None
        self._last_finished = None
        self.curves.clear()
        self.run_panel.start_batch()
        self.tabs.setCurrentWidget(self.curves)
        self._save_settings()
        self.queue.start(jobs)
        self._update_buttons()

    @Slot(int, int, str)
    def _on_job_started(self, index: int, total: int, title: str) -> None:
        self.curves.add_run(index, title)
        self.stage.setText(f"{index}/{total} · {title}: starting")
        self._update_buttons()

    @Slot(int, object)
    def _on_progress(self, index: int, p: Any) -> None:
        job = self.queue.job
        self.run_panel.show_progress(index, self.queue.total, job.title if job else "", p)
        if p.payload is not None and hasattr(p.payload, "loss"):
            self.curves.add_point(index, p.payload)

    @Slot(int, object)
    def _on_run_finished(self, index: int, out: Finished) -> None:
        run = out.run
        self._last_finished = run
        self.curves.set_curves(index, list(run.curves))
        self.curves.set_note(index, run.label, run.curve_text())
        if run.run_id is not None:
            self._last_stored = run.run_id
            self.runStored.emit(run.run_id)
        self.results.show_run(run)
        self.gallery.load(run)  # its gallery now (off this thread), not at the batch's end: nor only when it is not
        # cancelled, nor only when the run was stored
        self._set_live_head(run)
        if out.check:  # a rerun: reproduced, or what differs
            self.banner.show_message(out.check, "note")
        # the history and the comparison on turns of their own: the window paints the results in between
        self.turns.later(self.refresh_history)
        self.turns.later(self.refresh_compare)

    @Slot(bool, list)
    def _finish_batch(self, cancelled: bool, failures: list[str]) -> None:
        self.curves.stop()
        total = self.queue.total
        n_ok = total - len(failures)
        self.run_panel.finish(complete=not cancelled and not failures)
        if cancelled:
            self.stage.setText("Cancelled. Finished runs were kept in the history.")
        else:
            self.stage.setText(f"Done: {total} run{'s' if total != 1 else ''} finished. "
                               "See Compare for the accuracies side by side.")
        if failures:
            self.banner.show_message("\n".join(failures))
            batch_failed(self, max(0, n_ok), total, failures)  # the stage, bar, Training tab agree; banner in view
        self._update_buttons()
        if not cancelled and n_ok > 0:  # on a turn of its own, after the history and comparison refreshes: the
            # page shown lays out and paints its plots for the first time (~25 ms here)
            self.turns.later(self.tabs.setCurrentWidget, self.compare if total > 1 else self.results)
        self.turns.later(self._finish_batch_views, cancelled)

    def _finish_batch_views(self, cancelled: bool) -> None:
        """The batch's last stored run selected in the history with its results and gallery, cancelled or not,
        keeping the whole batch's curves on the Training tab (a run that finished after it but could not be stored
        stays on show: the banner says why it is not in the history). ``batchDone`` comes after the comparison shows
        the batch's runs: on a busy machine it reads them over several turns, and this turn came first."""
        if self.compare_feed.busy():
            self.turns.later(self._finish_batch_views, cancelled)
            return
        shown = self.results.run
        unstored = shown is not None and shown.run_id is None and shown is self._last_finished
        if self._last_stored is not None and not unstored:
            self.history_panel.select(self._last_stored)
            if shown is not None and shown.run_id == self._last_stored:
                if not self.gallery.has_gallery(shown):  # loaded when the run finished, unless since replaced
                    self.gallery.load(shown)
            else:
                self.open_run(self._last_stored, show_curves=False)
        self.batchDone.emit()

    @Slot()
    def cancel(self) -> None:
        if self.queue.cancel():
            self.stage.setText("Cancelling…")
        else:
            self.browser.cancel()
