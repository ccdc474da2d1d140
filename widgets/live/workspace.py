"""The Live workspace: a camera (or a video, images, dataset samples, a synthetic scene) and, side by side, what
several networks see, layer by layer, in real time.

Thin: it wires the panels (``controls.LiveControls`` toolbar, ``input_pane.InputPane``, one ``pane.PaneWidget`` per
model), keeps the settings (the panes as saved: ``saved_panes``) and the workspace protocol (``set_active``,
``shortcuts``, ``wait_ready``, ``shutdown``).
Every frame is processed by ``app.live`` on a worker thread owned by ``LiveRunner``; what arrives is a frozen
``LiveFrame``; the widgets only render it and forward intent.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app import paths
from app.live import mosaic as mz
from app.live.config import LiveConfig, LiveFrame, LiveStatus
from app.live.pipeline import default_pane_specs, model_choices
from app.models.spec import ModelSpec
from app.probe.head_export import HeadFileError, backbone_key, head_info
from app.session import Session
from widgets.common.qt_override import qt_override
from widgets.common.steady import reserve_lines
from widgets.common.workspace import install_shortcut, run_steps
from widgets.live.controls import LiveControls
from widgets.live.input_pane import InputPane
from widgets.live.pane import PER_PAGE, PaneWidget, probe_spec
from widgets.live.runner import LiveRunner
from widgets.live.saved_panes import SavedPane, panes_json, read_panes
from widgets.live.source_choice import SourceChoice

MAX_PANES = 4
# the loop's torch thread choice (``app.live.pipeline`` posts it as a LiveStatus when it changes): the main window's
# status bar shows it (``widgets.main_window.LIVE_THREADS``); the workspace's own status line does not repeat it
THREADS_STATUS = "Live: threads"
# the status line while paused (the frame's own time is under the input, the panes' under each pane)
PAUSED_HINT = "Paused: Space resumes; Right or S steps one frame"


RECORD_FALLBACK_FPS = 15.0  # a recording's rate where the loop's is not measured (paused, or just started)


def recording_rate(fps: float) -> tuple[float, str]:
    """(frames per second to record at, what the status line says of it): the loop's measured rate, however slow
    (a 0.5 FPS loop recorded at 15 FPS made a file of 30 copies of each frame), to three significant figures (0.04
    FPS was rounded to 0.0); ``RECORD_FALLBACK_FPS`` where none is measured, said so. The recorder lays the frames
    on the loop's clock (``app.live.recorder.Recorder``), so the video plays at the pace the loop ran even when its
    rate changes while recording."""
    if fps > 0:
        rate = float(f"{fps:.3g}")
        return rate, f"at {rate:g} FPS, the loop's rate: it plays back at the pace it was computed"
    return RECORD_FALLBACK_FPS, (f"at {RECORD_FALLBACK_FPS:g} FPS: the loop's rate is not measured yet (paused or "
                                 "just started); frames are placed on the clock, so it plays back at the pace it ran")


def _stamp() -> str:
    """The time in snapshot and recording names (to the second; ``new_file`` keeps two in one second apart)."""
    return time.strftime("%Y%m%d-%H%M%S")


def new_file(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/<stem><suffix>``, else ``<stem>-2<suffix>``, ``-3``, ... (``app.storage.free_stem``): a snapshot or
    a recording is always a new file: two in the same second (paused, the same frame index in the name) never replace
    one another or a user's file."""
    from app.storage import free_stem

    base = free_stem(folder, stem, lambda p: [p.with_name(p.name + suffix)])
    return base.with_name(base.name + suffix)


class LiveWorkspace(SourceChoice, QWidget):
    STEPWISE = True  # the frame, then one pane per step (widgets.common.workspace): no long start-up block

    def __init__(self, session: Session, settings: QSettings, parent: QWidget | None = None, *,
                 stepwise: bool = False) -> None:
        super().__init__(parent)
        self.session = session
        self.settings = settings
        self.runner = LiveRunner(self)
        self.runner.frameReady.connect(self._on_frame)
        self.runner.statusChanged.connect(self._on_status)
        self._active = False
        self.paused = False
        self.recording: Path | None = None  # the file being recorded to
        self._record_note = ""  # the recording's rate, said after the worker's "Recording to ..."
        self.source_ok = True  # False after a source error, until a source shows frames again
        self.status_level = "info"
        self._status_until = 0.0  # a message from the worker stays this long before the rates replace it
        self._last: LiveFrame | None = None
        self._frames_shown = 0
        self._source_kind = "synthetic"  # the source kind in use (the combo returns to it when a dialog is cancelled)
        self._choices = model_choices(session.models)
        self._config_timer = QTimer(self)  # coalesce bursts of changes (typing in a spin box) into one config
        self._config_timer.setSingleShot(True)
        self._config_timer.setInterval(30)
        self.panes: list[PaneWidget] = []
        self._built = False  # resizes and shows before the last build step push nothing (its end does, if shown)
        self.build_steps = self._build(session)
        if not stepwise:
            run_steps(self.build_steps)

    def _build(self, session: Session):
        models = tuple(session.models)  # a model added between the steps is replayed at the end
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 4)
        root.setSpacing(4)
        self.controls = LiveControls(MAX_PANES)
        root.addWidget(self.controls)
        self.panes_row = QHBoxLayout()
        self.panes_row.setSpacing(6)
        self.input = InputPane()
        self.panes_row.addWidget(self.input, 2)
        root.addLayout(self.panes_row, 1)
        # one line kept for it: empty while frames play (the rates are under the input), its messages move nothing
        self.status = reserve_lines(QLabel(""), 1)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        root.addWidget(self.status)

        yield
        yield from self._restore()
        self._unsubscribe = session.subscribe(self._on_session)
        self._config_timer.timeout.connect(self._push_config)
        self._connect()
        self._make_shortcuts()
        if tuple(session.models) != models:
            self._on_session("models", "")
        self._built = True
        if self.isVisible():
            self._schedule()

    def _connect(self) -> None:
        c = self.controls
        c.source_combo.currentIndexChanged.connect(self._on_source_kind)
        for sig in (c.camera_spin.valueChanged, c.res_combo.currentIndexChanged, c.dataset_combo.currentIndexChanged):
            sig.connect(self._on_source_changed)
        c.open_btn.clicked.connect(lambda: self._choose_path())
        c.play_btn.clicked.connect(self.toggle_play)
        c.step_btn.clicked.connect(self.step)
        c.snap_btn.clicked.connect(self.snapshot)
        c.rec_btn.toggled.connect(self._on_record)
        for sig in (c.cmap_combo.currentIndexChanged, c.size_combo.currentIndexChanged,
                    c.contrast_combo.currentIndexChanged, c.precision_combo.currentIndexChanged):
            sig.connect(self._schedule)
        c.add_btn.clicked.connect(lambda: self.add_pane())

    def _make_shortcuts(self) -> None:
        """Window-wide while this workspace is shown (no click inside it needed first)."""
        for key, slot, text in (("Space", self.toggle_play, "Play / pause"), ("Right", self.step, "Step"),
                                ("S", self.step, "Step"), ("Ctrl+Shift+S", self.snapshot, "Snapshot"),
                                ("Ctrl+Shift+R", self.controls.rec_btn.toggle, "Record"),
                                ("Escape", self._unfocus_all, "Back from an enlarged map")):
            install_shortcut(self, key, slot, text)

    def shortcuts(self) -> list[str]:
        return ["Space: play / pause", "Right or S: one frame forward (paused)", "Ctrl+Shift+S: snapshot PNG",
                "Ctrl+Shift+R: start / stop recording", "Click a map: enlarge it with a colour bar; Esc: back",
                "Wheel / drag on a pane: zoom / pan; double-click: fit; hover: channel, position, value"]

    # --- settings ---
    def _restore(self):
        """The controls and the panes as they were (one pane per step of ``build_steps``; ``saved_panes``)."""
        self.controls.restore(self.settings)
        self._source_kind = self.controls.kind()
        restored = read_panes(str(self.settings.value("live/panes", "[]")), self._choices)
        if not restored:
            restored = [SavedPane(sp, None, 0, PER_PAGE, False, None) for sp in default_pane_specs(self._choices)]
        for spec, layer, page, per_page, predict, head in restored[:MAX_PANES]:
            self.add_pane(spec, layer, page, push=False, per_page=per_page, predict=predict, head=head)
            yield

    def _save(self) -> None:
        self.controls.save(self.settings)
        self.settings.setValue("live/panes", panes_json(self.panes))

    # --- panes ---
    def add_pane(self, spec: ModelSpec | None = None, layer: int | None = None, page: int = 0,
                 push: bool = True, per_page: int = PER_PAGE, predict: bool = False,
                 head: str | None = None) -> PaneWidget | None:
        if len(self.panes) >= MAX_PANES:
            self._show_status(f"At most {MAX_PANES} panes (each costs a forward pass per frame)", "warning")
            return None
        if spec is None:
            used = {p.spec.label for p in self.panes}
            spec = next((c for c in self._choices if c.label not in used), self._choices[0])
        pane = PaneWidget(self._choices, spec, layer, page, per_page, predict=predict, head=head)
        if head:
            pane.attach_head(head)
        pane.changed.connect(self._schedule)
        pane.removeRequested.connect(self.remove_pane)
        self.panes.append(pane)
        self.panes_row.addWidget(pane, 3)
        self._update_pane_buttons()
        if push:
            self._schedule()
        return pane

    @Slot(object)
    def remove_pane(self, pane: PaneWidget) -> None:
        if pane not in self.panes or len(self.panes) <= 1:
            return
        self.panes.remove(pane)
        self.panes_row.removeWidget(pane)
        pane.deleteLater()
        self._update_pane_buttons()
        self._schedule()

    def _update_pane_buttons(self) -> None:
        for p in self.panes:
            p.remove_btn.setEnabled(len(self.panes) > 1)
        self.controls.add_btn.setEnabled(len(self.panes) < MAX_PANES)

    def attach_head(self, path: str) -> PaneWidget | None:
        """Show the stored probe head ``path`` in a pane on its backbone: a pane already showing that backbone, else
        a new pane, else the last pane switched to it. The pane (None: the head cannot be read; the status says)."""
        try:
            info = head_info(path)
        except HeadFileError as exc:
            self._show_status(str(exc), "error")
            return None
        key = backbone_key(info.backbone)
        layer = info.layer  # the layer the head was trained on: the pane shows its maps
        pane = next((p for p in self.panes if backbone_key(p.spec) == key), None)
        if pane is None and len(self.panes) < MAX_PANES:
            pane = self.add_pane(probe_spec(info.backbone), layer, push=False)
        replaced = None
        if pane is None:  # every pane in use by other models: the last one switches (said, not silent)
            pane = self.panes[-1]
            replaced = pane.spec.label
        pane.attach_head(str(info.path), probe_spec(info.backbone), layer)
        if replaced:
            self._show_status(f"Probe head attached: {info.title}, in the last pane in place of {replaced} (at most "
                              f"{MAX_PANES} panes; close one to keep it)", "warning")
        else:
            self._show_status(f"Probe head attached: {info.title}", "info")
        self._schedule()
        return pane

    def _on_session(self, kind: str, name: str) -> None:
        if kind == "live-head":
            self.attach_head(name)
            return
        if kind == "tap" and name in self.session.taps:  # the Models workspace's architecture view
            self.tap(name, self.session.taps[name])
            return
        if kind != "models":
            return
        self._choices = model_choices(self.session.models)
        for p in self.panes:
            p.set_choices(self._choices)

    def tap(self, label: str, layer: int) -> None:
        """Show ``layer`` of model ``label``: in the first pane showing it, else the last pane switches to it."""
        pane = next((p for p in self.panes if p.spec.label == label), None) or self.panes[-1]
        pane.tap(label, layer)

    @Slot()
    def _unfocus_all(self) -> None:
        for p in self.panes:
            p.unfocus()

    # --- config to the worker ---
    def config(self) -> LiveConfig:
        c = self.controls
        panes = tuple(replace(p.config(), aspect=self._aspect(p)) for p in self.panes)
        return LiveConfig(source=c.source_config(), panes=panes, colormap=c.cmap_combo.currentText(),
                          size=c.processing_size(), paused=self.paused,
                          contrast="shared" if c.shared_contrast() else "map", precision=c.precision())

    @staticmethod
    def _aspect(pane: PaneWidget) -> float:
        v = pane.view
        return max(0.2, min(5.0, max(1, v.width()) / max(1, v.height())))

    @qt_override
    def resizeEvent(self, ev) -> None:  # noqa: N802 - the mosaics follow the panes' shape
        super().resizeEvent(ev)
        if self.panes:
            self._schedule()

    @qt_override
    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        self._schedule()

    @Slot()
    def _schedule(self, *_a) -> None:
        if self._built:  # half built (the window shown or resized between build steps): the last step schedules
            self._config_timer.start()

    @Slot()
    def _push_config(self) -> None:
        self._save()
        if self._active:
            if self.runner.is_running():
                self.runner.set_config(self.config())
            else:
                self.runner.start(self.config())

    # --- the workspace protocol ---
    def set_active(self, active: bool) -> None:
        if active == self._active:
            return
        self._active = active
        if active:
            self.runner.start(self.config())
        else:
            if self.controls.rec_btn.isChecked():
                self.controls.rec_btn.setChecked(False)
            self.runner.stop(wait=False)  # releases the camera in the worker; nothing blocks the GUI

    def shutdown(self) -> None:
        """Stop the worker and release the camera/video (called by the main window on close)."""
        self._config_timer.stop()
        self._active = False
        self._unsubscribe()
        self._save()
        self.runner.stop(wait=True)

    def wait_ready(self, ms: int) -> bool:
        """Process events until every pane shows a mosaic (the first call waits up to 60 s for the first one:
        building the models and the first forward pass take a moment). True when ready."""
        if not self._active:
            self.set_active(True)
        first = self._frames_shown < 3
        limit = max(ms, 60000) if first else ms
        t = QElapsedTimer()
        t.start()
        app = QApplication.instance()
        while t.elapsed() < limit:
            # the first call waits for a few frames so the FPS/latency figures are real ones
            if self.is_ready() and (not first or self._frames_shown >= 3):
                return True
            app.processEvents()
            time.sleep(0.005)
        return self.is_ready()

    def is_ready(self) -> bool:
        lf = self._last
        return lf is not None and len(lf.panes) == len(self.panes) and all(
            p.mosaic is not None or p.error for p in lf.panes)

    # --- frames and status from the worker ---
    @Slot(object)
    def _on_frame(self, lf: LiveFrame) -> None:
        if not self._active or not self.source_ok:
            return  # (a frame read before the source failed, delivered with the failure: stale)
        self._last = lf
        self._frames_shown += 1
        self.input.show_frame(lf)
        for pane, r in zip(self.panes, lf.panes):
            if r.label != pane.spec.label:
                continue  # a frame computed before the user changed this pane's model
            pane.show_result(r, lf.colormap)
        self._show_rates(lf)

    def _show_rates(self, lf: LiveFrame) -> None:
        """The loop's rate and the frame's latency once, under the input (beside the panes' own times); each pane its
        own time on the frame. The status line repeats none of them (it said the source, rate and latency a second
        time): it holds the worker's and the actions' messages, and while paused how to go on. Paused (a held frame,
        a step) no rate is claimed: the frame's own time only."""
        self.input.show_rates(lf, self.paused)
        for pane, r in zip(self.panes, lf.panes):
            if r.label == pane.spec.label:
                pane.show_timing(r.ms, self.paused)
        if self.source_ok and self.recording is None and time.monotonic() >= self._status_until:
            self._show_status(PAUSED_HINT if self.paused else "", "info")

    @Slot(object)
    def _on_status(self, st: LiveStatus) -> None:
        if st.message.startswith(THREADS_STATUS) and st.running and not st.opened:
            return  # the status bar's (said once, there); the rates stay on this line
        if st.opened:
            self.source_ok = True
        elif not st.running:  # the source is closed: no stale picture, label or rates
            self.source_ok = False
            self.input.reset(st.message if st.level == "error" else "")
            for p in self.panes:
                p.reset_timing()
        self._status_until = time.monotonic() + 3.0
        message = st.message
        if self._record_note and message.startswith("Recording to "):
            message = f"{message} {self._record_note}"
        self._show_status(message, st.level)

    def _show_status(self, text: str, level: str = "info") -> None:
        colour = {"error": "#b00020", "warning": "#a15c00"}.get(level, "#222")
        self.status.setStyleSheet(f"color: {colour};")
        self.status.setText(text)
        self.status_level = level

    # --- actions ---
    @Slot()
    def toggle_play(self) -> None:
        self.paused = not self.paused
        self.controls.set_paused(self.paused)
        if self.paused and self._last is not None and self.source_ok:
            self._show_rates(self._last)  # the last rates would stand under a held picture: say paused at once
        if not self.paused and not self.source_ok:
            self.source_ok = True
            self.runner.retry()
        self._schedule()

    @Slot()
    def step(self) -> None:
        if not self.paused:
            self.toggle_play()
        self._push_config()
        self.runner.step()

    @Slot()
    def snapshot(self) -> Path | None:
        if self._last is None:
            self._show_status("Nothing to save yet: no frame has been shown", "warning")
            return None
        # paused, two snapshots (another colour map, layer...) have the same second and frame index: a new name
        path = new_file(paths.user_files() / "snapshots", f"live-{_stamp()}-{self._last.index}", ".png")
        try:
            saved = mz.save_png(path, self._last.composite(480))
        except OSError as exc:
            self._show_status(f"Snapshot failed: {exc}", "error")
            return None
        self._show_status(f"Snapshot saved: {saved}", "info")
        return saved

    @Slot(bool)
    def _on_record(self, on: bool) -> None:
        if on:
            self.recording = new_file(paths.user_files() / "recordings", f"live-{_stamp()}", ".avi")
            fps, self._record_note = recording_rate(self._last.fps if self._last is not None else 0.0)
            self.runner.start_recording(str(self.recording), fps)
        else:
            self.recording = None
            self.runner.stop_recording()
        self.controls.set_recording(on)

