"""Loads a run's pictures off the GUI thread into the results view: the misclassified-examples gallery
(``app.probe.gallery``; one confusion cell's only, ``app.analysis.jobs.pair_gallery``, when the user clicks it) and
the feature projection (``app.analysis.jobs.projector_job``, when asked). A newer request cancels and supersedes the
older one of its kind."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Slot

from widgets.common.worker import Worker, WorkerPool
from widgets.probe.model import RunView
from widgets.probe.results import ResultsView


class GalleryLoader(QObject):
    def __init__(self, pool: WorkerPool, results: ResultsView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = pool
        self.results = results
        self.worker: Worker | None = None
        self.projector_worker: Worker | None = None
        results.cell_clicked.connect(self.load_pair)
        results.projector.requested.connect(self.project)

    def busy(self) -> bool:
        return self.worker is not None or self.projector_worker is not None

    def load(self, run: RunView) -> None:
        from app.probe.gallery import misclassified_gallery

        self.forget(cancel=True)
        if not run.n_misclassified:
            self.results.set_gallery(None, "no misclassified examples" if run.has_misclassified else "")
            return
        w = self.pool.start(lambda token, d=run.raw: misclassified_gallery(d, limit=40, cols=10, cancel=token),
                            name="gallery")
        w.on(finished=self._on_gallery, failed=self._on_failed)
        self.worker = w

    @Slot(int, int)
    def load_pair(self, true: int, predicted: int) -> None:
        """The gallery of one confusion cell (true, predicted); (-1, -1): every misclassified example again."""
        from app.analysis.jobs import pair_gallery

        run = self.results.run
        if run is None:
            return
        if true < 0:
            self.load(run)
            return
        if self.worker is not None:
            self.worker.cancel()
        w = self.pool.start(lambda token, d=run.raw: pair_gallery(d, true, predicted, limit=40, cols=10,
                                                                  cancel=token), name="gallery")
        w.on(finished=self._on_gallery, failed=self._on_failed)
        self.worker = w

    @Slot(str)
    def project(self, method: str) -> None:
        from app.analysis.jobs import projector_job

        run = self.results.run
        view = self.results.projector
        if run is None:
            return
        if self.projector_worker is not None:
            self.projector_worker.cancel()
        w = self.pool.start(lambda token, d=run.raw: projector_job(d, method, cancel=token), name="projector")
        w.on(progress=lambda p, w=w: view.set_busy(p.message) if w is self.projector_worker else None,
             finished=lambda r, w=w: self._on_projection(w, r), failed=lambda m, w=w: self._on_projection_failed(w, m))
        self.projector_worker = w
        view.set_busy("projecting…")

    def forget(self, cancel: bool = False) -> None:
        for w in (self.worker, self.projector_worker):
            if cancel and w is not None:
                w.cancel()
        self.worker = None
        self.projector_worker = None

    def _on_projection(self, w: Worker, data: Any) -> None:
        if w is self.projector_worker:
            self.projector_worker = None
            self.results.projector.show_projection(data)

    def _on_projection_failed(self, w: Worker, message: str) -> None:
        if w is self.projector_worker:
            self.projector_worker = None
            self.results.projector.set_busy(f"Projection unavailable: {message}")

    @Slot(object)
    def _on_gallery(self, gallery: Any) -> None:
        if self.sender() is self.worker:
            self.worker = None
            note = "no examples in this cell" if self.results.pair is not None and not gallery.cells else ""
            self.results.set_gallery(gallery, note)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.sender() is self.worker:
            self.worker = None
            self.results.set_gallery(None, f"Misclassified examples unavailable: {message}")
