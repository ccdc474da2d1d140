"""The main window: one tab per workspace, the compute device in the status bar, remembered settings."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from PySide6.QtCore import QEvent, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QTabWidget

from app import device
from app.errors import AppError
from app.session import Session
from widgets.common.background import BackgroundChoice
from widgets.common.qt_override import add_listener, qt_override
from widgets.common.settings import read_state, read_str, settings  # noqa: F401  (settings re-exported)
from widgets.common.worker import Worker, hold_workers, start_deferred
from widgets.common.workspace import Workspace
from widgets.startup import Preloader, Step, shortcut_text
from widgets.tab_holder import TabHolder
from widgets.window_build import BackgroundBuild

WORKSPACES = ["kernels", "models", "live", "probe", "experiments", "insight"]
LIVE_THREADS = "Live: threads"  # the LiveStatus that app.live.pipeline posts when its thread choice changes
TITLES = {"kernels": "&Kernels", "models": "&Models", "live": "&Live", "probe": "&Probe",
          "experiments": "&Experiments", "insight": "&Insight"}
TIPS = {
    "kernels": "Kernel Workbench: generate, freeze and hand-design convolution kernels (Ctrl+1)",
    "models": "Model builder: random, hand-designed and trained CNNs, layer by layer (Ctrl+2)",
    "live": "Live: feature maps of several networks side by side, in real time (Ctrl+3)",
    "probe": "Probe: train a linear head on frozen features and compare accuracies (Ctrl+4)",
    "experiments": "Experiments: the papers' claims as recipes, run as grids with seeds, with reports (Ctrl+5)",
    "insight": "Insight: CKA similarity, top-activating patches, filter statistics, LC fold (Ctrl+6)",
}


class _Workspaces(Mapping):
    """``win.workspaces[key]``: the workspace, built on first access (iteration order = WORKSPACES)."""

    def __init__(self, win: "MainWindow") -> None:
        self._win = win

    def __getitem__(self, key: str) -> Workspace:
        if key not in WORKSPACES:
            raise KeyError(key)
        return self._win.workspace(key)

    def __iter__(self):
        return iter(WORKSPACES)

    def __len__(self) -> int:
        return len(WORKSPACES)


class MainWindow(BackgroundBuild, QMainWindow):
    ORDER = WORKSPACES
    all_built = Signal()  # every workspace exists (emitted once)
    painted = False  # set at the first Paint event (Qt sends events during __init__ already)
    built_at_first_paint: list[str] | None = None  # which workspaces existed at the first paint

    def __init__(self, workspace: str | None = None, session: Session | None = None, persist: bool = True) -> None:
        super().__init__()
        self.persist = persist  # False for --screenshot: a picture must not change the user's remembered layout
        self.setWindowTitle("Filter Explorer")
        self.session = session or Session()
        self.settings = settings()
        # the models of the last session (added, trained, opened) come back; kept at every change from now on
        self.session_notes: list[str] = []
        self._unrestored: list[dict] = []  # entries whose checkpoint is not there today: kept in the file
        if session is None and persist:
            from app.models import session_models

            restored, self.session_notes = session_models.load(kept=self._unrestored)
            for name, spec in restored.items():
                self.session.models[name] = spec
            # their names stay taken: a new model named like one of them would replace it in the file
            # (session_models.new_name, the one place that names new session models)
            self.session.kept_models = self._unrestored

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # the frame first (tabs with light placeholders), the workspaces one per event-loop turn afterwards
        # (issue 14: the window paints before the heavy imports and constructors; see docs/benchmarks/startup.md)
        self._built: dict[str, Workspace] = {}
        self._building: tuple[str, Workspace, int] | None = None  # a stepwise build in progress (key, ws, steps)
        self._installing: tuple[str, Workspace] | None = None  # built, shown in its tab on the next turn
        self._constructing: str | None = None  # the workspace whose constructor runs in _build_slice
        self._preloader: Preloader | None = None  # the start-up's imports and warm-ups, off the GUI thread
        # a workspace was just put in its tab by _build_next: the preloader's next imports and (when it is the shown
        # one) its own held workers wait for its first layout and paint, on the next turn (issue 14: they competed
        # with it for the GIL: the longest start-up gap, 50-65 ms at load 2-3)
        self._settling: Workspace | None = None
        self._first_render: tuple[Workspace, float] | None = None  # the shown one, rendering (until a deadline)
        self._go_on = False
        self.startup_steps: list[Step] = []  # what the start-up did, where and how long (widgets.startup.Step)
        self._torch_done = False
        self._closed = False
        self._holders: dict[str, TabHolder] = {}
        self.workspaces = _Workspaces(self)
        for i, key in enumerate(WORKSPACES):
            holder = TabHolder(TITLES[key].replace("&", ""))  # a placeholder, then the workspace; scrolls
            self._holders[key] = holder
            idx = self.tabs.addTab(holder, TITLES[key].replace("&", ""))
            self.tabs.setTabToolTip(idx, TIPS[key])
            act = QAction(self)
            act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, i=i: self.tabs.setCurrentIndex(i))
            self.addAction(act)
        self.setCentralWidget(self.tabs)

        self.device_label = QLabel("Device: ...")
        if "torch" in sys.modules:
            self._show_device()
        self.device_label.setToolTip("Compute device (override with --device cpu|cuda|mps)")
        self.threads_label = QLabel("")  # the live loop's torch thread choice (app.threads, via LiveStatus)
        self.threads_label.setToolTip("Torch threads of the Live loop: adapted to the machine's load unless forced "
                                      "with --threads N or FILTER_EXPLORER_THREADS")
        self.background = BackgroundChoice(self.settings)  # how the workers share the machine (issue 14)
        self.statusBar().addPermanentWidget(self.background)
        self.statusBar().addPermanentWidget(self.threads_label)
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().showMessage("Ready", 3000)
        self._unlisten = add_listener(self._on_caught)  # an exception in a Qt override, caught (qt_override)
        Worker.notice = self._on_notice  # the product's own warnings from any job (an older checkpoint's settings)

        quit_act = QAction("Quit", self)
        quit_act.setShortcut(QKeySequence.StandardKey.Quit)
        quit_act.triggered.connect(self.close)
        self.addAction(quit_act)
        help_act = QAction("Keyboard shortcuts", self)
        help_act.setShortcut(QKeySequence("F1"))
        help_act.triggered.connect(self.show_shortcuts)
        self.addAction(help_act)

        geo = read_state(self.settings, "main/geometry")  # an empty or edited value: the default size
        if geo is None or not self.restoreGeometry(geo):
            self.resize(1400, 900)
        ws = workspace or read_str(self.settings, "main/workspace", "kernels")
        if ws in WORKSPACES:
            self.tabs.setCurrentIndex(WORKSPACES.index(ws))
        self.tabs.currentChanged.connect(self._on_tab)
        QTimer.singleShot(0, self._build_next)
        # "Use in Live" (Probe): the Live workspace attaches the head (its own listener, first), then it is shown
        self._unsubscribe = self.session.subscribe(self._on_session)
        if self.session_notes:
            QTimer.singleShot(0, lambda: self.statusBar().showMessage(
                "Session models: " + "; ".join(self.session_notes), 20000))

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "models" and self.persist:  # the session's models kept between launches
            from app.models import session_models

            try:
                session_models.save(self.session.models, kept=self._unrestored)
            except (OSError, AppError) as exc:  # AppError: a newer version's file, not written over
                self.statusBar().showMessage(f"Could not keep the session's models: {exc}", 20000)
        if kind in ("live-head", "tap") and "live" not in self._built:
            # not built yet: its listener missed this request; build it now and hand the request over (a Live that
            # could not be built has none: its tab says why)
            handler = getattr(self.workspace("live"), "_on_session", None)
            if handler is not None:
                handler(kind, name)
        if kind == "live-head":
            self.tabs.setCurrentIndex(WORKSPACES.index("live"))

    @Slot()
    def _noop(self) -> None:
        """Target of the timer that lets Python handle Ctrl+C / SIGTERM while Qt's loop waits."""

    def _torch_ready(self) -> None:
        """Once, in the GUI thread, before the first workspace: torch loaded (waiting for the loading thread if it
        runs), this thread's torch thread count set (per thread with OpenMP; the import hook may have run in the
        loading thread), the device shown."""
        if self._torch_done:
            return
        import torch  # after Qt on Linux/macOS (main.py imports it first on Windows)

        if self._preloader is not None and self._preloader.loaded_torch:  # its import hook set that thread's count
            torch.set_num_threads(device.configured_threads())
        self._show_device()
        self._torch_done = True

    def _on_caught(self, report: str) -> None:
        self.statusBar().showMessage(f"An internal error was caught and the window carries on ({report}); the "
                                     "details are on the terminal", 20000)

    def _on_notice(self, text: str) -> None:
        self.statusBar().showMessage(f"Note: {text}", 30000)

    def _show_device(self) -> None:
        self.device_label.setText(f"Device: {device.describe().name}")

    @qt_override
    def event(self, ev) -> bool:  # noqa: D401
        if not self.painted and ev.type() == QEvent.Type.Paint and hasattr(self, "_built"):
            self.painted = True
            self.built_at_first_paint = list(self._built)
        return super().event(ev)

    def _on_live_status(self, st) -> None:
        if st.message.startswith(LIVE_THREADS):
            self.threads_label.setText(st.message)

    def built(self) -> list[str]:
        """The workspaces built so far, in build order."""
        return list(self._built)

    def _on_tab(self, index: int) -> None:
        start_deferred()  # the work the hidden workspaces began while they were built in the background
        key = WORKSPACES[index]
        if key not in self._built and self._starting_up():
            # a tab opened before its turn: its imports and build come next, a step per turn as the others' (built
            # at once here, it held the window 1.2-1.6 s when opened 0.3 s after the first paint); its tab shows
            # "Loading ..." meanwhile. Before the start-up's first turn there is no preloader yet: that turn starts
            # it with the shown workspace first
            if self._preloader is not None:
                self._preloader.prefer(key)
        else:
            self.workspace(key)
        for i, other in enumerate(WORKSPACES):
            ws = self._built.get(other)
            if ws is not None:
                ws.set_active(i == index)

    @qt_override
    def keyPressEvent(self, event) -> None:  # noqa: N802
        """A shortcut pressed on a tab whose workspace is still being built (its actions do not exist yet) reaches
        the window: said in the status bar instead of lost without a word."""
        key, combo = self.current_workspace(), shortcut_text(event)
        if key not in self._built and combo:
            self.statusBar().showMessage(f"{TITLES[key].replace('&', '')} is still loading: {combo} did nothing; "
                                         "press it again once it shows", 5000)
            event.accept()
            return
        super().keyPressEvent(event)

    def current_workspace(self) -> str:
        return WORKSPACES[self.tabs.currentIndex()]

    def show_shortcuts(self) -> None:
        lines = ["Ctrl+1..6: switch workspace", "Ctrl+Q: quit", "F1: this list"]
        for key in WORKSPACES:
            lines += [f"{key}: {line}" for line in self.workspaces[key].shortcuts()]
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(lines))

    def wait_ready(self, timeout_ms: int) -> None:
        """For screenshots: build the current workspace (if not yet) and give it a chance to finish its first
        render."""
        self.workspace(self.current_workspace()).wait_ready(timeout_ms)

    @qt_override
    def closeEvent(self, event) -> None:  # noqa: N802
        for ws in list(self._built.values()):  # a workspace not yet built has nothing to keep or stop
            keep = getattr(ws, "maybe_keep_changes", None)  # optional part of the protocol
            if keep is not None and not keep():
                event.ignore()
                return
        if self.persist:
            self.settings.setValue("main/geometry", self.saveGeometry())
            self.settings.setValue("main/workspace", self.current_workspace())
        self._closed = True  # no more workspaces built after this
        self._unlisten()
        if Worker.notice == self._on_notice:
            Worker.notice = None
        if self._preloader is not None:
            self._preloader.stop()
        if self._building is not None:  # half built: finish it, so that its shutdown finds what it stops
            self.workspace(self._building[0])
        if self._installing is not None:  # built, not yet shown: the same
            self.workspace(self._installing[0])
        for ws in list(self._built.values()):
            ws.shutdown()
        hold_workers(None)
        start_deferred()  # forgets the held workers: their workspaces cancelled and waited for them
        self.settings.sync()
        super().closeEvent(event)


def _lazy(key: str) -> property:
    return property(lambda self: self.workspace(key), doc=f"The {key} workspace (built on first access).")


for _key in WORKSPACES:
    setattr(MainWindow, _key, _lazy(_key))
