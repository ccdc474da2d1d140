"""The priority of the desktop app's background work: a nice increment for its worker threads (Linux), chosen in
the app or by ``FILTER_EXPLORER_WORKER_NICE``; off by default (see ``background_priority``). Qt-free."""

from __future__ import annotations

import os
import threading


BACKGROUND_NICE = 0  # default nice increment of the desktop app's background work: none (see background_priority)


_chosen_nice: int | None = None  # the desktop app's choice (``set_background_nice``); the variable wins over it


def set_background_nice(increment: int | None) -> None:
    """The nice increment for background work started from now on, as the user chose it in the app (None: the
    default); ``FILTER_EXPLORER_WORKER_NICE``, where set, still wins. Work already running keeps its priority (a
    nice value cannot be lowered back without privileges)."""
    global _chosen_nice
    _chosen_nice = None if increment is None else max(0, min(19, int(increment)))


def forced_background_nice(environ=os.environ) -> int | None:
    """``FILTER_EXPLORER_WORKER_NICE`` as a valid increment (0..19), or None where it is unset or not a number."""
    text = environ.get("FILTER_EXPLORER_WORKER_NICE", "").strip()
    if not text:
        return None
    try:
        return max(0, min(19, int(text)))
    except ValueError:
        return None


def background_nice(environ=os.environ) -> int:
    """The nice increment for background work: ``FILTER_EXPLORER_WORKER_NICE`` (0..19), else the app's choice
    (``set_background_nice``), else ``BACKGROUND_NICE``."""
    forced = forced_background_nice(environ)
    if forced is not None:
        return forced
    return BACKGROUND_NICE if _chosen_nice is None else _chosen_nice


def background_priority(increment: int | None = None) -> int | None:
    """Run the calling thread (and the threads it starts later) ``increment`` nice steps below the rest of the
    process (default ``background_nice()``); the thread's nice value after, or None where nothing was done (not
    Linux, increment 0, refused).

    The desktop app's ``Worker`` threads call it. Off by default because of what it costs (issue 14, measured on
    this 2-core VM, docs/benchmarks/startup.md "Training curves"): with ``FILTER_EXPLORER_WORKER_NICE=10`` the GUI
    thread is served before the app's own worker when it wakes, and its longest gaps while a model trains fell from
    29-36 / 38-67 ms (Models training / a Probe run, one other process busy) to 18-30 / 23-34 ms, at no cost to the
    worker while a core is free; but on a saturated machine (two other busy processes) a niced single-threaded worker
    ran 6.3x slower than at nice 0 (2.8 s -> 18 s; nice 5: 2.3x), and a nice value cannot be lowered back without
    privileges. Linux only: there ``setpriority`` on a thread id changes that thread alone (elsewhere it would change
    the whole process). The live loop (its own thread) never calls it."""
    import sys

    if not sys.platform.startswith("linux"):
        return None
    step = background_nice() if increment is None else int(increment)
    if step <= 0:
        return None
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + step))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:
        return None
