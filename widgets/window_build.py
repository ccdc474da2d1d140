"""The main window's start-up in the background (issue 14): the window paints first with a placeholder in each tab,
then the workspaces are built one per event-loop turn, the shown one first, each once the preloader (a thread,
``widgets.startup.Preloader``) has imported its modules; a tab opened before its turn is built next. The
workers of hidden workspaces wait until every workspace is built, the shown one's until its first paint. A mixin of
``widgets.main_window.MainWindow``, which holds the state it reads (``_built``, ``_building``, ``_installing`` ...)."""

from __future__ import annotations

import importlib
import sys
import threading
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from widgets.common.worker import hold_workers, start_deferred
from widgets.common.workspace import Workspace
from widgets.startup import Preloader, Step, workspace_class

FIRST_RENDER_CAP_S = 1.5  # the longest the start-up's preloading waits for the shown workspace's first render


def _construct(key: str, win, stepwise: bool = False) -> Workspace:
    """Import (if the preloader has not yet) and build one workspace; ``stepwise``: a workspace that supports it
    (``STEPWISE``) leaves its ``build_steps`` to the caller (``widgets.common.workspace``)."""
    cls = workspace_class(key)
    if stepwise and getattr(cls, "STEPWISE", False):
        return cls(win.session, win.settings, win, stepwise=True)
    return cls(win.session, win.settings, win)


class BackgroundBuild:
    """The workspaces built in the background, one per event-loop turn (see the module's docstring)."""

    ORDER: list[str] = []  # the workspaces' keys, in tab order (MainWindow: WORKSPACES)

    def _build_next(self, waited: int = 0) -> None:
        """One workspace per event-loop turn, the current one first, each once the preloader (a thread started after
        the first paint, which waits up to ~0.5 s) has imported its module; the GUI thread only builds widgets."""
        if self._closed:
            return
        if self.isVisible() and not self.painted and waited < 100:
            QTimer.singleShot(5, lambda: self._build_next(waited + 1))
            return
        missing = [k for k in self.ORDER if k not in self._built]
        if not missing:
            return
        if self._preloader is None:
            current = self.current_workspace()
            self._preloader = Preloader([current] + [k for k in self.ORDER if k != current],
                                        self.startup_steps.append)
            self._preloader.start()
            hold_workers(self._hidden_worker)  # until every workspace is built (start_deferred in _install)
        self._settled()  # the turn after an install: its layout and first paint are done (posted events come first)
        if self._installing is not None:  # a turn of its own: its first layout and paint apart from its last step
            key, ws = self._installing
            self._installing = None
            t = time.perf_counter()
            self._install(key, ws, settle=True)
            self.startup_steps.append(Step(f"show {key}", threading.get_ident(), t, time.perf_counter() - t))
            if len(self._built) < len(self.ORDER):
                QTimer.singleShot(10, self._build_next)
            return
        ready = [k for k in self._preloader.order if k in missing and self._preloader.ready(k)]
        if not ready:  # poll: the imports hold no lock the GUI thread needs, it stays free meanwhile
            QTimer.singleShot(20, lambda: self._build_next(waited))
            return
        if self._building is None:
            current = self.current_workspace()
            key = current if current in ready else ready[0]
            pending = [m for m in self._preloader.modules.get(key, []) if m not in sys.modules]
            if pending:  # its widget modules first, one per turn (widgets.startup.widget_modules)
                self._import_slice(pending[0])
            else:
                self._build_slice(key)
        else:
            self._build_slice(self._building[0])
        if len(self._built) < len(self.ORDER):  # 10 ms, not 0: zero timers run back to back, starving the others
            QTimer.singleShot(10, self._build_next)

    def _import_slice(self, name: str) -> None:
        """One event-loop turn: import one widget module (its Qt classes: on the GUI thread only)."""
        self._torch_ready()
        t = time.perf_counter()
        importlib.import_module(name)
        self.startup_steps.append(Step(f"load {name}", threading.get_ident(), t, time.perf_counter() - t))

    def _build_slice(self, key: str) -> None:
        """One event-loop turn's share of building ``key`` in the background: its construction, or one of its
        ``build_steps`` (a workspace that is ``STEPWISE``); it is shown once the last step ran."""
        self._torch_ready()
        t = time.perf_counter()
        if self._building is None:
            self._constructing = key  # the workers its constructor starts are not yet its children (_hidden_worker)
            try:
                ws, n = _construct(key, self, stepwise=True), 1
            finally:
                self._constructing = None
            done = not getattr(type(ws), "STEPWISE", False)
        else:
            _, ws, n = self._building
            n += 1
            done = next(ws.build_steps, StopIteration) is StopIteration
        name = f"build {key}" if n == 1 else f"build {key} ({n})"
        self.startup_steps.append(Step(name, threading.get_ident(), t, time.perf_counter() - t))
        self._building = None if done else (key, ws, n)
        if done:
            self._installing = (key, ws)

    def workspace(self, key: str) -> Workspace:
        """The workspace ``key``, built now if it is not yet (the rest of its steps when it is being built)."""
        ws = self._built.get(key)
        if ws is not None:
            return ws
        if self._installing is not None and self._installing[0] == key:  # built, not yet in its tab
            ws = self._installing[1]
            self._installing = None
            return self._install(key, ws)
        self._torch_ready()
        t = time.perf_counter()
        if self._building is not None and self._building[0] == key:
            ws = self._building[1]
            self._building = None
            for _ in ws.build_steps:
                pass
        else:
            ws = _construct(key, self)
        self.startup_steps.append(Step(f"build {key}", threading.get_ident(), t, time.perf_counter() - t))
        return self._install(key, ws)

    def _settled(self) -> None:
        """The workspace that the last turn put in its tab has been laid out and painted: the preloader goes on, and
        that workspace's workers (held since its construction when it is the shown one) start."""
        ws, self._settling = self._settling, None
        if ws is not None:
            start_deferred(lambda w: self._owner(w) is ws)
            self._first_render = (ws, time.perf_counter() + FIRST_RENDER_CAP_S)
        if self._go_on and not self._rendering():
            self._go_on = False
            self._preloader.built()

    def _rendering(self) -> bool:
        """The shown workspace's first render (its workers, ``busy()``) still runs: the preloader's next imports wait
        for it (``FIRST_RENDER_CAP_S`` at most; measured: both at once, gaps of 50-80 ms at load 3-4)."""
        if self._first_render is None:
            return False
        ws, until = self._first_render
        busy = getattr(ws, "busy", None)
        if busy is not None and time.perf_counter() < until and self._built.get(self.current_workspace()) is ws \
                and busy():
            return True
        self._first_render = None
        return False

    def _install(self, key: str, ws: Workspace, settle: bool = False) -> Workspace:
        """Put a built workspace in its tab (in place of the placeholder) and activate it when shown. ``settle``
        (a start-up turn): the preloader and the workspace's held workers go on after its first paint
        (``_settled``, next turn); otherwise at once."""
        self._built[key] = ws
        self._settled()  # an earlier one's, if any
        if self._preloader is not None:
            self._go_on = settle and len(self._built) < len(self.ORDER)
            if not self._go_on:
                self._preloader.built()
        if key == self.current_workspace():  # a hidden one's workers wait until every workspace is built
            if settle:
                self._settling = ws
            else:
                start_deferred(lambda w: self._owner(w) is ws)
        self._holders[key].put(ws)
        runner = getattr(ws, "runner", None) if key == "live" else None
        if runner is not None:
            runner.statusChanged.connect(self._on_live_status)
        ws.set_active(self.current_workspace() == key)
        if len(self._built) == len(self.ORDER):
            hold_workers(None)
            start_deferred(one_at_a_time=True)  # all at once, they and the GUI thread waited for the GIL in turn
            self.all_built.emit()
        return ws

    def _hidden_worker(self, worker) -> bool:
        """During the start-up: ``worker`` belongs to a workspace that is not shown (it waits: ``hold_workers``)."""
        try:
            current = self.current_workspace()
        except RuntimeError:  # this window is gone (deleted without a close): hold nothing
            hold_workers(None)
            return False
        if self._constructing is not None:  # the shown one's too: they start after its first paint (_settled)
            return True
        hidden = [ws for k, ws in self._built.items() if k != current]
        for pending in (self._building, self._installing):  # the shown one's too, as above
            if pending is not None:
                hidden.append(pending[1])
        if self._settling is not None:
            hidden.append(self._settling)
        owner = self._owner(worker)
        return any(owner is ws for ws in hidden)

    def _owner(self, worker) -> QWidget | None:
        """The workspace (a child of a tab's holder) that ``worker`` belongs to, or None."""
        known = [*self._built.values(), *(p[1] for p in (self._building, self._installing) if p is not None)]
        obj = worker.parent()
        while obj is not None:
            if any(obj is ws for ws in known):
                return obj
            obj = obj.parent()
        return None

    def _starting_up(self) -> bool:
        """The start-up builds the workspaces in the background (``_build_next``) and has not finished: its
        preloader runs, or the window has painted and its first turn (which starts the preloader, the shown
        workspace first) is still to come."""
        return (self._preloader is not None or self.painted) and not self._closed and \
            len(self._built) < len(self.ORDER)
