"""Load-robust threading: a compute loop picks its torch thread count (and the BLAS/OpenMP pools') from what it
measures, instead of a fixed count.

Why: torch's intra-op threads meet at a barrier after every parallel region. When another process takes a core, one
team thread is descheduled and the others spin or sleep waiting for it: measured on the 2-core development machine
with two busy processes, ``bench live`` fell from 42-47 FPS to 2.4 FPS with 2 threads, where 1 thread keeps about
its fair share. Which count is faster depends on the load of the moment, so the loop measures it::

    tuner = ThreadTuner("extract")
    for batch in batches:
        with tuner.step(items=len(batch)):     # only the compute: never a yield to the GUI inside
            feats = model(batch)
    result["threads"] = tuner.report()          # {"threads": 1, "max": 2, "adaptive": true, ...}

or, for a task generator that yields one ``Progress`` per batch: ``result = yield from tuned(extract(...), tuner)``
(``drive(gen, tuner)`` runs it to its end headless).

A tuner starts at its maximum, or at the cores other processes leave free where it finds some busy
(``busy_elsewhere``: a loop started on a busy machine no longer spends its first steps at a count that waits for a
core). Every ``every`` steps, and at once when a step is ``stall`` times slower than the running median (a stall), the
tuner runs ``trial`` steps with one thread fewer (or, when below its maximum, one more) and keeps the faster count
(by a ``margin``, so noise does not flip it; one more thread by ``UP_MARGIN``). A trial whose first step is far
slower ends at once, and each failed trial doubles the wait before the next (at least ``every``, up to 16 x
``every``), so that trying the bad count under load costs ~1%. A trial of one more thread is made only when
``busy_elsewhere`` finds a core free for it (else it is skipped, and looked at again ``every`` steps later).
Forced counts (``--threads N``, ``FILTER_EXPLORER_THREADS``) and ``FILTER_EXPLORER_TUNER=0`` turn adaptation off.

Create and use a tuner in the loop's own thread: with torch's OpenMP backend ``torch.set_num_threads`` sets the
calling thread's team size (measured: a worker's count is not changed by the main thread's call, nor the other way
round), while the BLAS pools that threadpoolctl limits are process-wide: one tuned loop at a time.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable, Generator, Iterator

from app import device

EVERY = 40  # steps between two trials when nothing stalls
TRIAL = 3  # timed steps per trial (after one unmeasured warm-up step at the new count)
STALL = 3.0  # a step this many times slower than the running median triggers a trial now
MARGIN = 0.05  # a new count must be at least this much faster to be kept
# ... and one more thread at least this much: on an idle machine one more is far faster (2 threads ~1.7x 1 here),
# while on a busy one a trial of a few steps can read a few percent faster by chance, and the count it kept then
# made its threads wait for a core (bench load, 2026-12-04: a loop started at 1 thread beside two busy processes
# kept 2 after its first trial and ran at 379 images/s, where 1 thread runs at ~430)
UP_MARGIN = 0.2
HISTORY = 9  # steps of the running median


def adaptive_default() -> bool:
    """Adaptation is on unless the user fixed the count (--threads / FILTER_EXPLORER_THREADS) or turned it off."""
    if os.environ.get("FILTER_EXPLORER_TUNER", "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    return device.forced_threads() is None


def _torch_setter(n: int) -> None:
    import torch

    restore = getattr(_local, "restore", None)
    if restore:  # inside ``one_thread()``: the count its outermost block restores (and ``workers()`` reports)
        restore[:] = [n] * len(restore)
        return
    torch.set_num_threads(n)


class ThreadTuner:
    """Chooses and adapts the thread count of one compute loop; see the module docstring.

    ``max_threads``: the most it will use (default: ``device.configured_threads()``, not the count of the moment,
    which an earlier tuned loop may have lowered); it starts there, or at the cores left free by busy processes.
    ``blas``: also limit the BLAS/OpenMP pools (numpy, scikit-learn in this process) through threadpoolctl.
    ``clock``, ``set_threads``: injectable for tests."""

    def __init__(self, name: str = "compute", max_threads: int | None = None, adaptive: bool | None = None,
                 every: int = EVERY, trial: int = TRIAL, stall: float = STALL, margin: float = MARGIN,
                 blas: bool = False, clock: Callable[[], float] = time.perf_counter,
                 set_threads: Callable[[int], None] | None = None, current: int | None = None,
                 watch_load: bool | None = None) -> None:
        self.name = name
        # inside a loop that an outer tuner already times (``tuned``/``drive``, e.g. ``bench load``): the outer one
        # decides; this one only counts its steps and never sets a count
        self.nested = getattr(_local, "depth", 0) > 0
        if not self.nested:
            _latest[name] = self  # reports(): what the loops of this process chose (``--json`` "threads")
        self._set = set_threads or _torch_setter
        pinned = getattr(_local, "fixed", None)  # inside ``fixed(n)``: n threads, never adapted
        if pinned is not None:
            max_threads, current, adaptive = pinned, pinned, False
        start = current if current is not None else (max_threads or device.configured_threads())
        self.max = max(1, int(max_threads or start))
        self.adaptive = (adaptive_default() if adaptive is None else bool(adaptive)) and not self.nested
        # where nothing else says where to start (a count given, a test's own setter): at the cores the other
        # processes leave free now (``busy_elsewhere``), so that a loop started on a busy machine does not spend its
        # first steps at a count that makes its threads wait for a core before its first trial
        self.busy_at_start = busy_elsewhere() if (self.adaptive and current is None and set_threads is None
                                                  and self.max > 1) else None
        if self.busy_at_start:
            start = min(int(start), max(1, device.available_cores() - self.busy_at_start))
        # before a trial of one more thread, look whether the other processes left a core for it: under load such a
        # trial's steps wait for a core (3x slower beside two busy processes here) and it fails anyway; looking
        # costs ~10 ms (``busy_elsewhere``) against one or two steps lost per trial (None: as ``busy_at_start``)
        self.watch_load = (self.adaptive and current is None and set_threads is None and self.max > 1) \
            if watch_load is None else bool(watch_load) and self.adaptive
        self.threads = max(1, min(int(start), self.max))
        self.started = self.threads
        self.every, self.trial, self.stall, self.margin = max(2, every), max(1, trial), stall, margin
        self._clock = clock
        self._blas = None
        if blas:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        self._hist: deque[float] = deque(maxlen=HISTORY)
        self._since = 0  # steps since the last trial ended
        self._interval = min(3, self.every)  # steps until the next trial: soon at first (a loop may start under
        # load and be short), then ``every``; doubles after each failed trial
        self._cand: int | None = None  # the count under trial
        self._trial_times: list[float] = []
        self._slow: list[float] = []  # consecutive stalled steps
        self._base = 0.0  # the per-step time the trial must beat
        self._warm = False  # the warm-up step at a new count was taken
        self._up_next = False  # alternate: try one fewer, then (when below max) one more
        self.steps = 0
        self.trials = 0
        self.skipped = 0  # trials of one more thread not made: the cores were still busy
        self.changes = 0
        self.stalls = 0
        self._apply(self.threads)

    # --- the loop's side ---------------------------------------------------------------------------------------
    @contextmanager
    def step(self, items: float = 1.0) -> Iterator["ThreadTuner"]:
        """Time one step of the loop (per item, so the last, smaller batch compares fairly)."""
        t0 = self._clock()
        yield self
        self.record((self._clock() - t0) / max(float(items), 1e-12))

    def record(self, seconds: float) -> None:
        """Feed one step's duration (for loops that time themselves); ``step()`` calls it."""
        self.steps += 1
        if not self.adaptive:
            return
        if self._cand is not None:
            self._trial_step(seconds)
            return
        if len(self._hist) >= 3 and seconds > self.stall * statistics.median(self._hist):
            self.stalls += 1
            self._slow.append(seconds)
            if len(self._slow) >= 2:  # two in a row: the load changed (one alone may be a page fault or a GC)
                self._start_trial(statistics.median(self._slow), prefer_fewer=True)
            return
        self._slow.clear()
        self._hist.append(seconds)
        self._since += 1
        if self._since >= self._interval:
            self._start_trial(statistics.median(list(self._hist)[-self.trial:]), prefer_fewer=False)

    def finish(self) -> None:
        """The loop ended: a trial still running is dropped and the kept count set again (a loop that ended in the
        middle of a trial left torch at the trial's count for whatever ran next: ``bench load``'s timed head fit
        ran on 1 thread after its warm-up fit's tuner had started a trial of 1)."""
        if self._cand is not None:
            self._cand, self._trial_times, self._warm = None, [], False
            self._apply(self.threads)

    def resume(self) -> None:
        """The loop goes on after other work used the threads (``bench load --rounds``: idle and loaded rounds,
        each with its own tuner): its kept count set again."""
        self.finish()
        self._apply(self.threads)

    # --- reporting ---------------------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """For ``--json`` outputs: ``{"threads", "max", "adaptive", "steps", "trials", "changes", "stalls"}``,
        ``"started"``, ``"busy_at_start"`` where it started below its maximum (busy cores found at its start), and
        ``"skipped"`` where trials of one more thread were not made (no core free for it)."""
        out = {"threads": self.threads, "max": self.max, "adaptive": self.adaptive, "steps": self.steps,
               "trials": self.trials, "changes": self.changes, "stalls": self.stalls}
        if self.busy_at_start and self.started < self.max:  # started lower: the processes found busy
            out.update(started=self.started, busy_at_start=self.busy_at_start)
        if self.skipped:  # trials of one more thread not made: no core was free for it
            out["skipped"] = self.skipped
        return out

    def describe(self) -> str:
        """For a status bar: ``"threads 1/2 (adapted to load)"``."""
        if not self.adaptive:
            return f"threads {self.threads} (fixed)"
        why = "adapted to load" if self.threads < self.max else "adaptive"
        return f"threads {self.threads}/{self.max} ({why})"

    # --- internals ---------------------------------------------------------------------------------------------
    def _start_trial(self, base: float, prefer_fewer: bool) -> None:
        down = self.threads - 1 if self.threads > 1 else None
        up = self.threads + 1 if self.threads < self.max else None
        cand = down if (prefer_fewer or not self._up_next) and down else (up or down)
        self._up_next = not self._up_next
        if cand is None:  # one thread of at most one: nothing to try
            self._since = 0
            self._settle()
            return
        if cand > self.threads and self.watch_load:
            busy = busy_elsewhere()
            if busy is not None and device.available_cores() - busy < cand:
                # no core free for it: not tried; looked at again after ``every`` steps (cheap), so that the end of
                # the load is found as soon as a trial would have found it
                self.skipped += 1
                self._since, self._interval = 0, self.every
                self._settle()
                return
        self.trials += 1
        self._cand, self._trial_times, self._warm, self._base = cand, [], False, base
        self._apply(cand)

    def _trial_step(self, seconds: float) -> None:
        # far slower at once (the warm-up step, which pays for waking the pool, gets the stall factor): give up now
        if seconds > (self.stall if not self._warm else 2.0) * self._base:
            self._end_trial(kept=False)
            return
        if not self._warm:
            self._warm = True
            return
        self._trial_times.append(seconds)
        if len(self._trial_times) >= self.trial:
            margin = max(self.margin, UP_MARGIN) if self._cand > self.threads else self.margin
            self._end_trial(kept=statistics.median(self._trial_times) < self._base * (1 - margin))

    def _end_trial(self, kept: bool) -> None:
        cand, self._cand, self._since = self._cand, None, 0
        if kept:
            self.threads = cand
            self.changes += 1
            self._interval = self.every
            self._hist.clear()
            self._hist.extend(self._trial_times)
            self._slow.clear()
        else:
            # at least ``every`` steps after a failed trial, even after the early first one (3 steps in): on an idle
            # machine a short loop otherwise paid trials at 3, 9, 21 and 45 steps (65 batches of bench load's
            # extraction: ~12% of it); a load that comes later is caught by its stalls at once
            self._interval = min(max(2 * self._interval, self.every), 16 * self.every)
            self._apply(self.threads)
            self._settle()

    def _settle(self) -> None:
        """After stalls that another count does not cure, the slower pace is the new normal."""
        if self._slow:
            self._hist.clear()
            self._hist.extend(self._slow)
            self._slow.clear()

    def _apply(self, n: int) -> None:
        if self.nested:
            return
        self._set(n)
        if self._blas is not None:
            self._blas.limit(limits=n, user_api="blas")


LOADAVG = "/proc/loadavg"


def busy_elsewhere(samples: int = 4, gap: float = 0.003, path: str = LOADAVG) -> int | None:
    """How many tasks besides the caller were running or runnable throughout a few samples ``gap`` s apart: the least
    of /proc/loadavg's "running" counts (its 4th field, R/total), less one for the caller itself. A process spinning
    on a core is runnable in every sample; a task that runs briefly is seldom in all of them. None where there is no
    such file (not Linux) or it cannot be read."""
    least = None
    try:
        for i in range(max(1, samples)):
            if i:
                time.sleep(gap)
            with open(path, encoding="ascii") as f:
                running = int(f.read().split()[3].split("/")[0])
            least = running if least is None else min(least, running)
    except (OSError, ValueError, IndexError):
        return None
    return max(0, least - 1)


_latest: dict[str, ThreadTuner] = {}
_local = threading.local()  # depth: how many ``tuned`` wrappers are stepping a generator in this thread


def reports() -> dict[str, dict[str, Any]]:
    """The report of the latest tuner of each loop name created in this process (``{"extract": {...}, ...}``): the
    ``"threads"`` field of ``probe --json`` and ``train --json``."""
    return {name: t.report() for name, t in list(_latest.items())}


def forget_reports() -> None:
    """Start a new command's ``reports()`` (tests run several commands in one process)."""
    _latest.clear()


def tuned(gen: Any, tuner: ThreadTuner) -> Generator[Any, None, Any]:
    """A task generator (``app.tasks`` protocol) with each step between two ``Progress`` reports timed by ``tuner``
    (per item: the ``done`` delta, so a smaller last batch compares fairly); yields the same reports and returns the
    same result. The one-line hook for a product loop that yields a Progress per batch or iteration::

        result = yield from tuned(extract(...), ThreadTuner("extract"))

    Only the time inside ``gen`` counts: the consumer's time (the GUI, a cancel check) between reports does not.
    The loop starts at the tuner's count (work run before it may have left another) and ends at its kept count
    (``ThreadTuner.finish``)."""
    done = 0.0
    if tuner._cand is None:
        tuner._apply(tuner.threads)
    try:
        while True:
            t0 = time.perf_counter()
            _local.depth = getattr(_local, "depth", 0) + 1
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            finally:
                _local.depth -= 1
            dt = time.perf_counter() - t0
            items = max(1.0, float(getattr(p, "done", 0.0) or 0.0) - done)
            done = max(done, float(getattr(p, "done", 0.0) or 0.0))
            tuner.record(dt / items)
            yield p
    finally:  # ended, failed or closed (a cancel): the kept count, not a trial's
        tuner.finish()


def slice_pool(workers: int, name: str) -> ThreadPoolExecutor | None:
    """``workers`` threads that each run torch with ONE thread, for the slices of one batch computed at once
    (``app.probe.extract.in_parts``, ``summed``): none of them waits at a team barrier for a descheduled thread, the
    collapse under load that the tuner otherwise only softens. None where ``workers`` <= 1. Shut it down after use."""
    if workers <= 1:
        return None
    return ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=_torch_setter, initargs=(1,))


def summed(fn: Callable[[Any], tuple], parts: Sequence[Any], workers: int, pool: ThreadPoolExecutor | None) -> tuple:
    """``fn(part)`` (a tuple of tensors or numbers) for every part, ``workers`` at once: the calling thread takes
    parts 0, w, 2w, ... and ``pool``'s single-threaded workers the others (worker i: parts i, i + w, ...), each with
    one torch thread; the results added term by term in the order of ``parts`` whoever computed them, so that for one
    set of parts the sum is the same whatever ``workers`` (1: all in turn in the calling thread). The caller takes
    a share, as an OpenMP team's master does. Its grad mode holds in the workers.

    Measured on the 5000 x 2048 ``bench head`` features, one softmax loss/gradient evaluation beside two busy
    processes at load ~3 (2026-11-30): one thread 43-48 ms, a torch team of two 169-248 ms, two slices 44-59 ms."""
    import torch

    w = max(1, min(int(workers), len(parts))) if pool is not None else 1
    grad = torch.is_grad_enabled()

    def run(group: Sequence[Any]) -> list[tuple]:
        with torch.set_grad_enabled(grad):
            return [fn(p) for p in group]

    futures = [pool.submit(run, parts[i::w]) for i in range(1, w)]
    results: list[Any] = [None] * len(parts)
    with one_thread():
        results[0::w] = run(parts[0::w])
    for i, fut in enumerate(futures, start=1):
        results[i::w] = fut.result()
    total = tuple(results[0])
    for r in results[1:]:
        total = tuple(a + b for a, b in zip(total, r))
    return total


@contextmanager
def fixed(n: int) -> Iterator[int]:
    """Every ``ThreadTuner`` made in this thread inside the block runs its loop on exactly ``n`` threads and does not
    adapt: an experiment cell gives the same numbers wherever and whenever it runs (a count that follows the load
    changes the order of float sums; training's results moved by up to 0.9 points between two runs)."""
    before = getattr(_local, "fixed", None)
    _local.fixed = max(1, int(n))
    try:
        yield _local.fixed
    finally:
        _local.fixed = before


@contextmanager
def one_thread() -> Iterator[int]:
    """torch with one thread in the calling thread for the block, restored after; yields ``workers()``: the number of
    slices to compute at once, while the small work around them (a triangular solve, a dot product) runs alone
    instead of as a team that waits at every barrier for a descheduled thread. Nests; a tuner that changes the count
    inside (``ThreadTuner``'s default setter) changes the count restored at the end and ``workers()`` at once."""
    import torch

    restore = _local.__dict__.setdefault("restore", [])
    n = restore[-1] if restore else torch.get_num_threads()
    restore.append(n)
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    try:
        yield n
    finally:
        n = restore.pop()
        if not restore and n != 1:
            torch.set_num_threads(n)


def workers() -> int:
    """The calling thread's torch thread count, or inside ``one_thread()`` the count it will have again after it:
    the number of slices to compute at once (``summed``)."""
    import torch

    restore = getattr(_local, "restore", None)
    return restore[-1] if restore else torch.get_num_threads()


def drive(gen: Any, tuner: ThreadTuner) -> Any:
    """``tuned(gen, tuner)`` run to its end (headless): its result."""
    it = tuned(gen, tuner)
    while True:
        try:
            next(it)
        except StopIteration as stop:
            return stop.value


# the background work's priority lives in app.priority (re-exported here, its home until 2026-12-04)
from app.priority import (BACKGROUND_NICE, background_nice, background_priority,  # noqa: E402,F401
                          forced_background_nice, set_background_nice)
