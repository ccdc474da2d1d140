"""Loads a run's misclassified-examples gallery off the GUI thread (``app.probe.gallery``) into the results view;
a newer request cancels and supersedes the older one."""

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

    def busy(self) -> bool:
        return self.worker is not None

    def load(self, run: RunView) -> None:
        from app.probe.gallery import misclassified_gallery

        self.forget(cancel=True)
        if not run.n_misclassified:
            self.results.set_gallery(None, "no misclassified examples" if run.has_misclassified else "")
            return
        w = self.pool.start(lambda token, d=run.raw: misclassified_gallery(d, limit=40, cols=10, cancel=token),
                            name="gallery")
        w.finished.connect(self._on_gallery)
        w.failed.connect(self._on_failed)
        self.worker = w

    def forget(self, cancel: bool = False) -> None:
        if cancel and self.worker is not None:
            self.worker.cancel()
        self.worker = None

    @Slot(object)
    def _on_gallery(self, gallery: Any) -> None:
        if self.sender() is self.worker:
            self.worker = None
            self.results.set_gallery(gallery)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self.sender() is self.worker:
            self.worker = None
            self.results.set_gallery(None, f"Misclassified examples unavailable: {message}")
