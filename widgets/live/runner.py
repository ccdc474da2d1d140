"""The owner of the live worker thread: starts ``app.live.pipeline.LiveLoop`` on a QThread, joins it on stop.

The loop publishes into a one-slot ``Mailbox``; the mailbox calls ``notify`` only when it goes from empty to full,
so at most one wake-up is ever queued on the GUI thread however fast the loop runs. ``_drain`` (a @Slot on the GUI
thread) takes the newest frame and the status lines and re-emits them as ``frameReady`` / ``statusChanged``.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from app.live.config import LiveConfig, LiveStatus
from app.live.engine import LiveEngine
from app.live.pipeline import LiveLoop, Mailbox
from app.probe.head_export import open_head
from app.tasks import CancelToken


class _LoopThread(QThread):
    def __init__(self, loop: LiveLoop, token: CancelToken) -> None:
        super().__init__()
        self._loop = loop
        self._token = token

    def run(self) -> None:  # worker thread
        try:
            self._loop.run(self._token)
        except Exception as exc:  # report as data; never touch Qt objects from here
            self._loop.mailbox.post(LiveStatus(f"The live pipeline stopped: {exc}", "error", running=False))


class LiveRunner(QObject):
    frameReady = Signal(object)  # app.live.pipeline.LiveFrame
    statusChanged = Signal(object)  # app.live.pipeline.LiveStatus
    _wakeup = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._wakeup.connect(self._drain, Qt.ConnectionType.QueuedConnection)
        self.mailbox = Mailbox(notify=self._wakeup.emit)
        self.loop: LiveLoop | None = None
        self._thread: _LoopThread | None = None
        self._token: CancelToken | None = None
        self._retired: list[_LoopThread] = []
        self._engine: LiveEngine | None = None

    # --- control (GUI thread) ---
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self, cfg: LiveConfig) -> None:
        self.stop(wait=False)
        self._retired = [t for t in self._retired if t.isRunning()]
        # the engine (its built models) is reused only when no old thread can still be using it; never wait here
        engine = self._engine if not self._retired else None
        if engine is None:
            engine = self._engine = LiveEngine(open_head=open_head)
        self._token = CancelToken()
        self.loop = LiveLoop(cfg, self.mailbox, engine)
        self._thread = _LoopThread(self.loop, self._token)
        self._thread.start()

    def stop(self, wait: bool = True, timeout_ms: int = 15000) -> bool:
        """Ask the loop to end; with ``wait``, join it (the source is released when it returns)."""
        ok = True
        if self._thread is not None:
            self._token.cancel()
            self.loop.wake()
            self._retired.append(self._thread)
            self._thread = None
        if wait:
            for t in list(self._retired):
                ok = t.wait(timeout_ms) and ok
            self._retired = [t for t in self._retired if t.isRunning()]
            self._drain()
        return ok

    def set_config(self, cfg: LiveConfig) -> None:
        if self.loop is not None:
            self.loop.set_config(cfg)

    def step(self) -> None:
        if self.loop is not None:
            self.loop.step()

    def retry(self) -> None:
        if self.loop is not None:
            self.loop.retry()

    def start_recording(self, path: str, fps: float) -> None:
        if self.loop is not None:
            self.loop.start_recording(path, fps)

    def stop_recording(self) -> None:
        if self.loop is not None:
            self.loop.stop_recording()

    @Slot()
    def _drain(self) -> None:
        frame, messages = self.mailbox.take()
        for m in messages:
            self.statusChanged.emit(m)
        if frame is not None:
            self.frameReady.emit(frame)
