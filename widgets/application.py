"""QApplication set-up, the GUI launch and the offscreen screenshot."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

if sys.platform.startswith("win"):  # torch's DLLs fail to load after Qt's there; elsewhere after the window shows
    import torch  # noqa: F401


def _platform_ok() -> str | None:
    """Return an error message when no display is usable (instead of Qt's misleading xcb abort)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return (
            "No display found (DISPLAY and WAYLAND_DISPLAY are unset). Run the app on a desktop, under Xvfb "
            "(xvfb-run python main.py), or render a picture with: python main.py --screenshot out.png"
        )
    return None


POOL_MAX_CPUS = 4  # machines of this many logical CPUs or fewer paint on the GUI thread alone


def paint_on_gui_thread_only(cpus: int | None, environ=os.environ) -> bool:
    """Whether to turn off Qt's GUI thread pool (``QT_NO_GUI_THREADPOOL``), before the first paint.

    Qt's raster engine splits a large fill (a plot's background, a style's frame, an image drawn scaled) into parts,
    hands them to its GUI thread pool and waits on a latch for every part. On a machine of few cores whose other core
    is busy (a probe's or a training's worker, another program), a part waits for a core, and so does the GUI thread:
    the same stall as torch's OpenMP team (issue 14). Measured on this 2-core VM, a Models training and a Probe run
    beside one busy process: longest GUI-thread gaps 50-63 / 70-112 ms with the pool, 30-39 / 47-59 ms without
    (docs/benchmarks/startup.md, "Training curves"). Machines of more than ``POOL_MAX_CPUS`` keep Qt's default; a
    ``QT_NO_GUI_THREADPOOL`` already in the environment is left as it is (set it to turn the pool off anywhere)."""
    if "QT_NO_GUI_THREADPOOL" in environ:
        return False
    return (cpus or 1) <= POOL_MAX_CPUS


SWITCH_INTERVAL_MS = 0.5  # the interpreter lock's switch interval in the desktop app (Python's default: 5 ms)


def gui_switch_interval(environ=os.environ) -> float:
    """The interpreter lock's switch interval for the desktop app, in seconds: ``SWITCH_INTERVAL_MS`` (0.5 ms), or
    ``FILTER_EXPLORER_SWITCH_INTERVAL_MS`` from the environment (``5`` is Python's own; a value that is not a positive
    number is ignored).

    Why: the GUI thread needs the lock for every Python slot, timer and override. A thread that waits for it asks the
    holder to let go only when a whole switch interval passed without *any* hand-over; a busy thread that releases
    and retakes the lock often on its own (a system call, one of torch's operators) keeps resetting that clock and
    the waiter starves: the "convoy effect" of CPython's lock (bpo-7946). Measured here (docs/benchmarks/startup.md,
    session 16) while the preload thread imports torch: a thread standing in for the GUI thread waited up to 60-200
    ms at a time with 5 ms; with 0.5 ms, no wait over 12 ms, and the import itself was no slower."""
    raw = environ.get("FILTER_EXPLORER_SWITCH_INTERVAL_MS")
    if raw:
        try:
            ms = float(raw)
        except ValueError:
            ms = 0.0
        if ms > 0 and math.isfinite(ms):
            return ms / 1000.0
    return SWITCH_INTERVAL_MS / 1000.0


def make_app():
    if paint_on_gui_thread_only(os.cpu_count()):
        os.environ["QT_NO_GUI_THREADPOOL"] = "1"  # read by Qt at the first paint that would use the pool
    sys.setswitchinterval(gui_switch_interval())  # the GUI thread gets the interpreter lock in time
    from widgets.common import feature_scan

    feature_scan.install()  # PySide6's scan of every module imported later, without inspect.getsource
    import pyqtgraph as pg
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")
    from widgets.common.qt_override import guard_modules

    guard_modules("pyqtgraph")  # no exception may leave its overrides either (widgets.common.qt_override)
    QCoreApplication.setOrganizationName("FilterExplorer")
    QCoreApplication.setApplicationName("Filter Explorer")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    main_thread_gc()
    icon = Path(__file__).resolve().parent.parent / "resources" / "icons" / "app.png"
    if icon.exists():
        app.setWindowIcon(QIcon(str(icon)))
    return app


_gc_guard = None


def main_thread_gc():
    """Python's cyclic garbage collector runs in whichever thread happens to allocate when a threshold is crossed.
    When it frees Qt objects there (a closed dialog's menus, a replaced plot) from a worker thread, PySide6 can
    deadlock: seen in this project's test suite (the CI run that never finished): the GUI thread, deleting a QObject
    with the GIL held, waited for a Qt mutex that the worker held while it waited for the GIL. So while a
    QApplication exists, automatic collection is off and a timer on the GUI thread collects by the same thresholds
    (as pyqtgraph's ``GarbageCollector``). Idempotent; returns the guard (``check()`` collects now if due)."""
    global _gc_guard
    if _gc_guard is None:
        from widgets.common.gcguard import MainThreadGC

        _gc_guard = MainThreadGC()
    return _gc_guard


def run_gui(args) -> int:
    msg = _platform_ok()
    if msg:
        print(f"error: {msg}", file=sys.stderr)
        return 2
    app = make_app()
    lock = None
    if not args.screenshot:  # a picture writes nothing the user keeps
        lock, other = single_instance()
        if lock is None:
            from PySide6.QtWidgets import QMessageBox

            text = (f"Filter Explorer is already open with this home folder ({other}). Two windows would write over "
                    "each other's autosaved kernel banks and session models: use the open window, or start this one "
                    "with another FILTER_EXPLORER_HOME.")
            print(f"error: {text}", file=sys.stderr)
            QMessageBox.warning(None, "Filter Explorer", text)
            return 2
    from widgets.main_window import MainWindow

    if args.screenshot:  # the banks restored for the picture are not written back (a window may own this home)
        from widgets.kernels import files

        files.AUTOSAVE = False
    win = MainWindow(workspace=args.workspace, persist=not args.screenshot)
    win._instance_lock = lock  # held while the window lives; a crashed process's lock is taken over (its pid)
    # the window frame paints first; the workspaces are built one per event-loop turn (MainWindow._build_next).
    # The ~300k objects of the start-up (torch, Qt, models) never die: once all are built, keep them out of full
    # collections, which otherwise stall the GUI thread for 100+ ms on a busy 2-core machine (Live heartbeat test)
    win.all_built.connect(_freeze_garbage)
    guard = main_thread_gc()  # young objects of the start-up and of big imports are frozen (gcguard.MainThreadGC)
    guard.starting = guard.freeze_imports = True
    show_startup_notes(win, getattr(args, "startup_notes", None) or [])
    if args.screenshot:
        w, h = 1400, 900
        if args.size:
            w, h = (int(v) for v in args.size.lower().split("x"))
        win.resize(w, h)
        return screenshot(app, win, Path(args.screenshot))
    _close_on_signals(win)
    win.show()
    code = app.exec()
    return int(code)


def single_instance():
    """(the lock of this home folder, "") when no other Filter Explorer holds it, else (None, who holds it: "pid N on
    HOST"). One window per home: two wrote over each other's autosaved banks and session models (the last to close
    won). A lock left by a crashed process (its pid gone) is taken over; its age never makes a live one stale."""
    from PySide6.QtCore import QLockFile

    from app import paths

    lock = QLockFile(str(paths.home() / "instance.lock"))
    lock.setStaleLockTime(0)
    if lock.tryLock(200):
        return lock, ""
    info = lock.getLockInfo()  # PySide6: (pid, hostname, appname)
    if isinstance(info, tuple) and len(info) == 4:  # (ok, pid, hostname, appname) in other bindings
        info = info[1:] if info[0] else ()
    who = f"pid {info[0]} on {info[1]}" if isinstance(info, tuple) and len(info) >= 2 else "another process"
    return None, who


def show_startup_notes(win, notes: list[str]) -> list:
    """A warning box per note (a bad setting the start-up ignored), shown without blocking: the window starts behind
    it and the user reads why. Returns the boxes (kept on the window)."""
    from PySide6.QtWidgets import QMessageBox

    boxes = []
    for text in notes:
        box = QMessageBox(QMessageBox.Icon.Warning, "Filter Explorer", text, QMessageBox.StandardButton.Ok, win)
        box.setModal(False)
        box.show()  # not open(): that makes it window-modal
        boxes.append(box)
    win._startup_notes = boxes
    return boxes


def _freeze_garbage() -> None:
    """Keep the start-up's objects out of later full collections. A full collection first would itself block the GUI
    thread ~230 ms here (220k objects) to free ~20 of them: the young generations only (7 ms), then freeze."""
    import gc

    gc.collect(1)
    gc.freeze()
    main_thread_gc().starting = False


def _close_on_signals(win) -> None:
    """Ctrl+C in the terminal (or SIGTERM) closes the window the normal way: workers stopped, settings saved."""
    import signal

    from PySide6.QtCore import QTimer

    def on_signal(*_):
        QTimer.singleShot(0, win.close)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, on_signal)
        except (ValueError, OSError):  # not the main thread / not supported here
            pass
    # Python runs signal handlers only between bytecodes: a light timer gives it the chance while Qt waits
    win._signal_timer = QTimer(win)
    win._signal_timer.start(250)
    win._signal_timer.timeout.connect(win._noop)


def _settled(win) -> bool:
    from widgets.main_window import WORKSPACES

    if len(win.built()) < len(WORKSPACES):
        return False
    ws = win.workspace(win.current_workspace())
    ready = getattr(ws, "is_ready", None)
    if ready is not None:
        return bool(ready())
    busy = getattr(ws, "busy", None)
    return not (busy() if busy is not None else False)


def screenshot(app, win, path: Path, settle_ms: int = 1500) -> int:
    """Show offscreen, let the workspace render real content for a moment, grab, write the PNG, close."""
    from PySide6.QtCore import QElapsedTimer

    win.show()
    app.processEvents()
    win.workspace(win.current_workspace())  # built now (the others fill in during the settle time)
    timer = QElapsedTimer()
    timer.start()
    # at least settle_ms, and until every workspace is built and the shown one has finished its first render (its
    # own workers: a model build, a preview), at most a minute on a busy machine
    while timer.elapsed() < settle_ms or (timer.elapsed() < 60_000 and not _settled(win)):
        app.processEvents()
        win.wait_ready(10)
    app.processEvents()
    pix = win.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(str(path), "PNG")
    win.close()
    app.processEvents()
    if not ok:
        print(f"error: could not write {path}", file=sys.stderr)
        return 1
    print(path)
    return 0
