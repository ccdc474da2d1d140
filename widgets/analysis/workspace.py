"""The Insight workspace: why random and trained networks differ, in numbers and pictures. Four panels of one
purpose each, every computation in a worker with progress and Cancel (Ctrl+Return computes the shown panel, Esc
cancels it):

- CKA: similarity of every layer of model A with every layer of model B (default: a trained model vs its random twin);
- Top patches: the dataset crops that excite one channel most (``show_patches(spec, layer, channel)`` opens it
  from elsewhere);
- Filters: spectrum, orientation, PCA and sparsity of a layer's kernels, trained vs random (vs hand-designed);
- LC fold: an LC model's effective filters beside its frozen random basis.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from widgets.common.settings import read_int
from widgets.analysis.cka_panel import CKAPanel
from widgets.analysis.filters_panel import FiltersPanel
from widgets.analysis.fold_panel import FoldPanel
from widgets.analysis.patches_panel import PatchesPanel
from widgets.common.worker import WorkerPool
from widgets.common.workspace import install_shortcut, run_steps


OPEN_AFTER_MS = 1  # the opening compute's timer (``set_active``): it fires once the window has painted


class InsightWorkspace(QWidget):
    STEPWISE = True  # one panel per step (widgets.common.workspace): the start-up never blocks for all four

    def __init__(self, session: Any = None, settings: QSettings | None = None, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.pool = WorkerPool(self)
        self.build_steps = self._build(session, settings)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Any, settings: QSettings | None):
        models = tuple(getattr(session, "models", ()))  # a model added between the steps is replayed at the end
        self.cka = CKAPanel(session, self.pool, stepwise=True)
        yield from self.cka.build_steps
        yield  # its last piece and the next panel apart (issue 14: one step of 35-115 ms at load 2-3 before)
        self.patches = PatchesPanel(session, self.pool)
        yield
        self.filters = FiltersPanel(session, self.pool, stepwise=True)
        yield from self.filters.build_steps
        yield
        self.fold = FoldPanel(session, self.pool)
        yield
        self.tabs = QTabWidget()
        for panel, title, tip in (
                (self.cka, "CKA similarity", "How similar the layers of two models are (CKA on a dataset sample)"),
                (self.patches, "Top patches", "The dataset crops that excite one channel most"),
                (self.filters, "Filter statistics", "A layer's kernels: trained vs random twin vs hand-designed"),
                (self.fold, "LC fold", "An LC model's effective filters beside the basis they combine (frozen "
                                       "random, or learned with learn_spatial=true)")):
            i = self.tabs.addTab(panel, title)
            self.tabs.setTabToolTip(i, tip)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.tabs)
        self._active = False
        self._opening = False  # the opening compute is queued (``set_active``)
        self._waited = False
        self._unsubscribe = session.subscribe(self._on_session) if hasattr(session, "subscribe") else None
        install_shortcut(self, "Ctrl+Return", self.compute, "Compute the shown panel")
        install_shortcut(self, "Esc", self.cancel, "Cancel the shown panel's computation")
        if settings is not None:
            self.tabs.setCurrentIndex(read_int(settings, "insight/tab", 0, 0, self.tabs.count() - 1))
        self.tabs.currentChanged.connect(self._save_tab)
        if tuple(getattr(session, "models", ())) != models:
            self._on_session("models", "")

    # --- Workspace protocol ----------------------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        first = active and not self._active and self.cka.result is None and not self.cka.bar.busy()
        self._active = active
        if first and self.tabs.currentWidget() is self.cka:
            # the default pair, so the workspace opens on an answer: started after the workspace's first paint.
            # Started in the tab's click, its worker (imports, model builds: Python, the GIL) ran beside that paint
            # and stretched it (the opening's heartbeat: 50-125 ms). A timer, not a zero-delay call: Qt runs one of
            # those as a posted event, ahead of the window's paint (a low-priority posted event); timers come after.
            self._opening = True
            QTimer.singleShot(OPEN_AFTER_MS, self, self._open)

    def _open(self) -> None:
        if self._opening:
            self._opening = False
            if self._active and self.tabs.currentWidget() is self.cka and self.cka.result is None \
                    and not self.cka.bar.busy():
                self.cka.compute()

    def shortcuts(self) -> list[str]:
        return ["Ctrl+Return: compute the shown panel", "Esc: cancel it"]

    def wait_ready(self, ms: int) -> bool:
        """Process events until the shown panel's computation ended (the first call waits up to 60 s for the
        default CKA pair, like Live's first frame). True when nothing is left running."""
        if not self._active:
            self.set_active(True)
        limit = max(ms, 60000) if not self._waited else ms
        self._waited = True
        timer = QElapsedTimer()
        timer.start()
        while timer.elapsed() < limit and self.busy():
            QCoreApplication.processEvents()
            time.sleep(0.005)
        QCoreApplication.processEvents()
        return not self.busy()

    def busy(self) -> bool:
        panel = self.tabs.currentWidget()
        picker = getattr(panel, "picker", None)
        drawing = getattr(panel, "drawing", None)  # a result's plots still drawn, one per turn (FiltersPanel)
        return panel.bar.busy() or (picker is not None and picker.worker is not None) or \
            bool(getattr(panel, "_run_when_ready", False)) or (drawing is not None and drawing()) or \
            (self._opening and panel is self.cka)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.pool.shutdown()

    # --- actions ---------------------------------------------------------------------------------------------
    def panels(self) -> list[QWidget]:
        return [self.cka, self.patches, self.filters, self.fold]

    def compute(self) -> None:
        self.tabs.currentWidget().compute()

    def cancel(self) -> None:
        self.tabs.currentWidget().bar.cancel()

    def show_patches(self, spec: Any, layer: int, channel: int) -> None:
        """Show the top-activating patches of ``channel`` at ``layer`` (feature_info index) of ``spec``."""
        self.tabs.setCurrentWidget(self.patches)
        self.patches.show_patches(spec, layer, channel)

    def _save_tab(self, i: int) -> None:
        if self.settings is not None and getattr(self.window(), "persist", True):  # a screenshot changes nothing
            self.settings.setValue("insight/tab", i)

    def _on_session(self, kind: str, _name: str) -> None:
        if kind == "models":
            for p in self.panels():
                combos = [p.picker.model] if hasattr(p, "picker") else [getattr(p, a) for a in ("model", "model_a",
                                                                                                "model_b")
                                                                        if hasattr(p, a)]
                for c in combos:
                    c.refresh()
