"""The main window: one tab per workspace, the compute device in the status bar, remembered settings."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget

from app import device
from app.session import Session
from widgets.common.settings import settings  # noqa: F401  (re-exported: widgets.main_window.settings)
from widgets.common.workspace import Workspace

WORKSPACES = ["kernels", "models", "live", "probe", "experiments", "insight"]


class MainWindow(QMainWindow):
    def __init__(self, workspace: str | None = None, session: Session | None = None, persist: bool = True) -> None:
        super().__init__()
        self.persist = persist  # False for --screenshot: a picture must not change the user's remembered layout
        self.setWindowTitle("Filter Explorer")
        self.session = session or Session()
        self.settings = settings()

        from widgets.kernels.workspace import KernelWorkspace
        from widgets.live.workspace import LiveWorkspace
        from widgets.models.workspace import ModelsWorkspace
        from widgets.analysis.workspace import InsightWorkspace
        from widgets.experiments.workspace import ExperimentsWorkspace
        from widgets.probe.workspace import ProbeWorkspace

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.kernels = KernelWorkspace(self.session, self.settings, self)
        self.models = ModelsWorkspace(self.session, self.settings, self)
        self.live = LiveWorkspace(self.session, self.settings, self)
        self.probe = ProbeWorkspace(self.session, self.settings, self)
        self.experiments = ExperimentsWorkspace(self.session, self.settings, self)
        self.insight = InsightWorkspace(self.session, self.settings, self)
        self.workspaces: dict[str, Workspace] = {"kernels": self.kernels, "models": self.models, "live": self.live,
                                                 "probe": self.probe, "experiments": self.experiments, "insight": self.insight}
        titles = {"kernels": "&Kernels", "models": "&Models", "live": "&Live", "probe": "&Probe",
                  "experiments": "&Experiments", "insight": "&Insight"}
        tips = {
            "kernels": "Kernel Workbench: generate, freeze and hand-design convolution kernels (Ctrl+1)",
            "models": "Model builder: random, hand-designed and trained CNNs, layer by layer (Ctrl+2)",
            "live": "Live: feature maps of several networks side by side, in real time (Ctrl+3)",
            "probe": "Probe: train a linear head on frozen features and compare accuracies (Ctrl+4)",
            "experiments": "Experiments: the papers' claims as recipes, run as grids with seeds, with reports (Ctrl+5)",
            "insight": "Insight: CKA similarity, top-activating patches, filter statistics, LC fold (Ctrl+6)",
        }
        for i, key in enumerate(WORKSPACES):
            idx = self.tabs.addTab(self.workspaces[key], titles[key].replace("&", ""))
            self.tabs.setTabToolTip(idx, tips[key])
            act = QAction(self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            self.addAction(act)
        self.setCentralWidget(self.tabs)

        info = device.describe()
        self.device_label = QLabel(f"Device: {info.name}")
        self.device_label.setToolTip("Compute device (override with --device cpu|cuda|mps)")
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().showMessage("Ready", 3000)

        quit_act = QAction("Quit", self)
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.close)
        self.addAction(quit_act)
        help_act = QAction("Keyboard shortcuts", self)
        help_act.setShortcut(QKeySequence("F1"))
        help_act.triggered.connect(self.show_shortcuts)
        self.addAction(help_act)

        geo = self.settings.value("main/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
        ws = workspace or self.settings.value("main/workspace", "kernels")
        if ws in WORKSPACES:
            self.tabs.setCurrentIndex(WORKSPACES.index(ws))
        self.tabs.currentChanged.connect(self._on_tab)
        self._on_tab(self.tabs.currentIndex())
        # "Use in Live" (Probe): the Live workspace attaches the head (its own listener, first), then it is shown
        self._unsubscribe = self.session.subscribe(
            lambda kind, _name: self.tabs.setCurrentIndex(WORKSPACES.index("live")) if kind == "live-head" else None)

    @Slot()
    def _noop(self) -> None:
        """Target of the timer that lets Python handle Ctrl+C / SIGTERM while Qt's loop waits."""

    def _on_tab(self, index: int) -> None:
        for i, key in enumerate(WORKSPACES):
            ws = self.workspaces[key]
            if isinstance(ws, Workspace):  # every workspace, once the Kernels one has set_active too
                ws.set_active(i == index)

    def current_workspace(self) -> str:
        return WORKSPACES[self.tabs.currentIndex()]

    def show_shortcuts(self) -> None:
        lines = ["Ctrl+1..6: switch workspace", "Ctrl+Q: quit", "F1: this list"]
        for key in WORKSPACES:
            lines += [f"{key}: {line}" for line in self.workspaces[key].shortcuts()]
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(lines))

    def wait_ready(self, timeout_ms: int) -> None:
        """For screenshots: give the current workspace a chance to finish its first render."""
        self.workspaces[self.current_workspace()].wait_ready(timeout_ms)

    def closeEvent(self, event) -> None:  # noqa: N802
        for ws in self.workspaces.values():
            keep = getattr(ws, "maybe_keep_changes", None)  # optional part of the protocol
            if keep is not None and not keep():
                event.ignore()
                return
        if self.persist:
            self.settings.setValue("main/geometry", self.saveGeometry())
            self.settings.setValue("main/workspace", self.current_workspace())
        for ws in self.workspaces.values():
            ws.shutdown()
        self.settings.sync()
        super().closeEvent(event)
