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
import traceback

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

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


def _settings_file() -> str:
    try:
        from app import paths

        return str(paths.settings_file())
    except Exception:  # noqa: BLE001 - a hint only
        return "the settings file"


class BuildFailed(QWidget):
    """What a tab holds in place of a workspace that could not be built (its import, constructor or a build step
    raised): which workspace, at which point, the error's message, and where the details are (the traceback, printed
    on the terminal and shown here under "Show details"). It answers the ``Workspace`` protocol, so the start-up goes
    on with the other workspaces and the window treats the tab as built."""

    def __init__(self, key: str, title: str, what: str, exc: BaseException, details: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.errors import message

        self.key, self.what, self.error = key, what, exc
        self.summary = f"The {title} workspace could not be built ({what}): {type(exc).__name__}: {message(exc)}"
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 24, 24, 24)
        head = QLabel(f"The {title} workspace could not be built")
        head.setStyleSheet("color: #a93226; font-weight: bold; font-size: 14pt;")
        self.message = QLabel(f"It failed {what}:\n\n{type(exc).__name__}: {message(exc)}\n\n"
                              "The other workspaces are not affected. The details (the traceback) are printed on "
                              "the terminal that started Filter Explorer and shown below (Show details). Restart the "
                              "app once the cause is fixed to build this workspace again (the settings it remembers "
                              f"are in {_settings_file()}).")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QPlainTextEdit(details)
        self.details.setReadOnly(True)
        self.details.hide()
        self.details_btn = QPushButton("Show details")
        self.details_btn.setCheckable(True)
        self.details_btn.toggled.connect(self._toggle)
        lay.addWidget(head)
        lay.addWidget(self.message)
        lay.addWidget(self.details_btn, 0, Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.details, 1)
        lay.addStretch(0)

    def _toggle(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_btn.setText("Hide details" if shown else "Show details")

    # --- the Workspace protocol: nothing runs here ---------------------------------------------------------
    def set_active(self, active: bool) -> None:
        pass

    def shortcuts(self) -> list[str]:
        return []

    def wait_ready(self, ms: int) -> None:
        pass

    def shutdown(self) -> None:
        pass


class BackgroundBuild:
    """The workspaces built in the background, one per event-loop turn (see the module's docstring). A workspace
    whose import, construction or build step raises gets a ``BuildFailed`` panel in its tab, and the others are
    built all the same (``_failed``)."""

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
            try:
                self._install(key, ws, settle=True)
            except Exception as exc:  # noqa: BLE001 - said in its tab; the start-up goes on
                self._install_failed(key, ws, exc)
            finally:
                self.startup_steps.append(Step(f"show {key}", threading.get_ident(), t, time.perf_counter() - t))
                if len(self._built) < len(self.ORDER) and not self._closed:
                    QTimer.singleShot(10, self._build_next)
            return
        ready = [k for k in self._preloader.order if k in missing and self._preloader.ready(k)]
        if not ready:  # poll: the imports hold no lock the GUI thread needs, it stays free meanwhile
            QTimer.singleShot(20, lambda: self._build_next(waited))
            return
        try:
            if self._building is None:
                current = self.current_workspace()
                key = current if current in ready else ready[0]
                pending = [m for m in self._preloader.modules.get(key, []) if m not in sys.modules]
                if pending:  # its widget modules first, one per turn (widgets.startup.widget_modules)
                    try:
                        self._import_slice(pending[0])
                    except Exception as exc:  # noqa: BLE001 - this workspace fails, the others are built
                        self._installing = (key, self._failed(key, exc, f"while loading {pending[0]}"))
                else:
                    self._build_slice(key)
            else:
                self._build_slice(self._building[0])
        finally:  # whatever happened, the next turn comes (an exception here left every later tab "Loading")
            if len(self._built) < len(self.ORDER) and not self._closed:
                # 10 ms, not 0: zero timers run back to back, starving the others
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
        ws, n = None, 1
        try:
            if self._building is None:
                self._constructing = key  # the workers its constructor starts are not yet its children
                try:  # (_hidden_worker)
                    ws = _construct(key, self, stepwise=True)
                finally:
                    self._constructing = None
                done = not getattr(type(ws), "STEPWISE", False)
            else:
                _, ws, n = self._building
                n += 1
                done = next(ws.build_steps, StopIteration) is StopIteration
        except Exception as exc:  # noqa: BLE001 - this workspace fails (said in its tab), the others are built
            self._building = None
            what = "while constructing it" if n == 1 else f"in step {n - 1} of its build"
            self._installing = (key, self._failed(key, exc, what, ws))
            self.startup_steps.append(Step(f"build {key} (failed)", threading.get_ident(), t,
                                           time.perf_counter() - t))
            return
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
        partial = None
        try:
            if self._building is not None and self._building[0] == key:
                ws = partial = self._building[1]
                self._building = None
                for _ in ws.build_steps:
                    pass
            else:
                ws = _construct(key, self)
        except Exception as exc:  # noqa: BLE001 - said in its tab (as at start-up), the window goes on
            ws = self._failed(key, exc, "while building it" if partial is not None else "while constructing it",
                              partial)
        self.startup_steps.append(Step(f"build {key}", threading.get_ident(), t, time.perf_counter() - t))
        try:
            return self._install(key, ws)
        except Exception as exc:  # noqa: BLE001
            return self._install_failed(key, ws, exc)

    def _tab_title(self, key: str) -> str:
        try:
            return self.tabs.tabText(self.ORDER.index(key)).replace("&", "")
        except (AttributeError, RuntimeError, ValueError):
            return key.capitalize()

    def _failed(self, key: str, exc: BaseException, what: str, partial: QWidget | None = None) -> BuildFailed:
        """Workspace ``key`` could not be built (``what``: at which point): its traceback on standard error, what is
        left of it stopped and hidden, a ``BuildFailed`` panel to put in its tab instead, a note in the status bar."""
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            sys.stderr.write(f"Filter Explorer: the {key} workspace could not be built ({what}); the other "
                             f"workspaces are built all the same:\n{details}")
        except Exception:  # noqa: BLE001 - a closed stderr must not turn a report into a crash
            pass
        for left in [partial, *(w for w in self._orphans(key) if w is not partial)]:
            if left is not None:
                self._discard(left)
        panel = BuildFailed(key, self._tab_title(key), what, exc, details)
        try:
            self.statusBar().showMessage(f"{panel.summary}; its tab says more", 30000)
        except (AttributeError, RuntimeError):
            pass
        return panel

    def _discard(self, left: QWidget) -> None:
        """What is left of a workspace that failed: hidden, its workers and session listeners stopped
        (``shutdown``), then deleted; the settings its ``shutdown`` writes are put back as they were (a half-built
        workspace would otherwise replace the user's remembered choices with its defaults). One too incomplete to
        stop stays, hidden."""
        left.hide()
        s = getattr(self, "settings", None)
        before = {k: s.value(k) for k in s.allKeys()} if s is not None else None
        try:
            left.shutdown()
        except Exception:  # noqa: BLE001
            return
        finally:
            if before is not None:
                for k in s.allKeys():
                    if k not in before:
                        s.remove(k)
                    elif s.value(k) != before[k]:
                        s.setValue(k, before[k])
        left.deleteLater()

    def _orphans(self, key: str) -> list[QWidget]:
        """The window's children of workspace ``key``'s class that no tab holds: what a constructor that raised
        left behind (a child of the window, shown with it otherwise)."""
        try:
            cls = workspace_class(key)
        except Exception:  # noqa: BLE001 - its import is what failed: nothing of it was made
            return []
        held = [*self._built.values(), *(p[1] for p in (self._building, self._installing) if p is not None)]
        return [w for w in self.findChildren(cls, options=Qt.FindChildOption.FindDirectChildrenOnly)
                if not any(w is h for h in held)]

    def _install_failed(self, key: str, ws: QWidget, exc: BaseException) -> QWidget:
        """Putting ``ws`` in its tab raised (its ``set_active``, say): a ``BuildFailed`` panel there instead (once;
        a panel that fails to go in is left as it is), so that the tab does not say "Loading" for ever."""
        if isinstance(ws, BuildFailed):
            self._built[key] = ws
            return ws
        self._built.pop(key, None)
        if self._settling is ws:
            self._settling = None
        panel = self._failed(key, exc, "while putting it in its tab", ws)
        try:
            return self._install(key, panel)
        except Exception:  # noqa: BLE001
            self._built[key] = panel
            return panel

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
