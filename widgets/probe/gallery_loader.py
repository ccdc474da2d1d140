"""Loads a run's pictures off the GUI thread into the results view: the misclassified-examples gallery
(``app.probe.gallery``; one confusion cell's only, ``app.analysis.projector_jobs.pair_gallery``, when the user clicks it) and
the feature projection (``app.analysis.projector_jobs.projector_job``, when asked). A newer request cancels and supersedes the
older one of its kind."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from widgets.common.worker import Worker, WorkerPool
from widgets.probe.model import RunView
from widgets.probe.results import ResultsView


class GalleryLoader(QObject):
    """Each worker remembers the run shown when it started (``gallery_run``: the gallery's): when the results show a
    run (``ResultsView.runShown``: another, or the same one again, its pictures emptied) the workers still running are
    cancelled, and a result that comes for a run no longer shown is dropped: one run's projection or gallery never
    appears under another's header."""

    def __init__(self, pool: WorkerPool, results: ResultsView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.results = results
        self.worker: Worker | None = None
        self.projector_worker: Worker | None = None
        self.gallery_run: RunView | None = None  # the run whose gallery is shown or being made
        results.cell_clicked.connect(self.load_pair)
        results.projector.requested.connect(self.project)
        results.runShown.connect(self._on_run_shown)

    def busy(self) -> bool:
        return self.worker is not None or self.projector_worker is not None

    def has_gallery(self, run: RunView) -> bool:
        """Whether ``run``'s gallery is shown or being made."""
        return run is not None and self.gallery_run is run

    def _shown(self, run: RunView | None) -> bool:
        return run is not None and self.results.run is run

    def _start_gallery(self, run: RunView, task) -> None:
        if self.worker is not None:
            self.worker.cancel()
        w = self.pool.start(task, name="gallery")
        w.on(finished=lambda g, w=w: self._on_gallery(w, run, g), failed=lambda m, w=w: self._on_failed(w, run, m))
        self.worker = w
        self.gallery_run = run

    def load(self, run: RunView) -> None:
        """Every misclassified example of ``run`` (the run shown)."""
        from app.probe.gallery import misclassified_gallery

        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        self.gallery_run = run
        if not run.n_misclassified:
            if self._shown(run):
                self.results.set_gallery(None, "no misclassified examples" if run.has_misclassified else "")
            return
        if self._shown(run):
            self.results.set_gallery(None, "loading the misclassified examples…")
        self._start_gallery(run, lambda token, d=run.raw: misclassified_gallery(d, limit=40, cols=10, cancel=token))

    @Slot(int, int)
    def load_pair(self, true: int, predicted: int) -> None:
        """The gallery of one confusion cell (true, predicted); (-1, -1): every misclassified example again."""
        from app.analysis.projector_jobs import pair_gallery

        run = self.results.run
        if run is None:
            return
        if true < 0:
            self.load(run)
            return
        self._start_gallery(run, lambda token, d=run.raw: pair_gallery(d, true, predicted, limit=40, cols=10,
                                                                       cancel=token))

    @Slot(str)
    def project(self, method: str) -> None:
        from app.analysis.projector_jobs import projector_job

        run = self.results.run
        view = self.results.projector
        if run is None:
            return
        if self.projector_worker is not None:
            self.projector_worker.cancel()
        w = self.pool.start(lambda token, d=run.raw: projector_job(d, method, cancel=token), name="projector")
        w.on(progress=lambda p, w=w: view.set_busy(p.message) if self._current_projection(w, run) else None,
             finished=lambda r, w=w: self._on_projection(w, run, r),
             failed=lambda m, w=w: self._on_projection_failed(w, run, m))
        self.projector_worker = w
        view.set_busy("projecting…")

    def forget(self, cancel: bool = False) -> None:
        for w in (self.worker, self.projector_worker):
            if cancel and w is not None:
                w.cancel()
        self.worker = None
        self.projector_worker = None
        self.gallery_run = None

    @Slot(object)
    def _on_run_shown(self, run: RunView | None) -> None:
        """The results show ``run`` now (None: none), their gallery and projector emptied: what was being made
        before is cancelled (its result would be dropped anyway) and the busy state goes with it. The caller asks
        for the new run's gallery (``load``)."""
        self.forget(cancel=True)

    def _current_projection(self, w: Worker, run: RunView) -> bool:
        return w is self.projector_worker and self._shown(run)

    def _on_projection(self, w: Worker, run: RunView, data: Any) -> None:
        if w is not self.projector_worker:
            return
        self.projector_worker = None
        if self._shown(run):  # else another run is shown: this one's projection is dropped
            self.results.projector.show_projection(data)

    def _on_projection_failed(self, w: Worker, run: RunView, message: str) -> None:
        if w is not self.projector_worker:
            return
        self.projector_worker = None
        if self._shown(run):
            self.results.projector.set_busy(f"Projection unavailable: {message}")

    def _on_gallery(self, w: Worker, run: RunView, gallery: Any) -> None:
        if w is not self.worker:
            return
        self.worker = None
        if self._shown(run):  # else another run is shown: this one's gallery is dropped
            note = "no examples in this cell" if self.results.pair is not None and not gallery.cells else ""
            self.results.set_gallery(gallery, note)

    def _on_failed(self, w: Worker, run: RunView, message: str) -> None:
        if w is not self.worker:
            return
        self.worker = None
        if self._shown(run):
            self.results.set_gallery(None, f"Misclassified examples unavailable: {message}")
