"""The protocol of long work.

Long work (training, extraction, downloads, the live loop) is a plain generator in ``app/``::

    def train_head(..., cancel: CancelToken | None = None) -> Generator[Progress, None, Result]:
        for step in ...:
            check(cancel)                       # raises Cancelled when the user asked to stop
            ...
            yield Progress(step, total, "training", payload=snapshot)   # payload: immutable snapshot
        return result

It runs as is in a script or a test (``run_to_end(gen)``), and ``widgets.worker.Worker`` runs it off the GUI
thread, turning each ``Progress`` into a signal. Payloads must be immutable snapshots (numpy copies, frozen
dataclasses, plain numbers), never views of buffers the generator reuses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Generator, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside a task when its CancelToken was set."""


class CancelToken:
    """Thread-safe flag a GUI (or a test) sets to ask a task to stop at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def check(token: CancelToken | None) -> None:
    if token is not None and token.cancelled:
        raise Cancelled()


@dataclass(frozen=True)
class Progress:
    done: float
    total: float | None = None  # None: unknown length (busy indicator)
    message: str = ""
    payload: Any = None  # an immutable snapshot: partial result, plot point, frame ...

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


Task = Generator[Progress, None, T]


def run_to_end(gen: Task[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive a task generator in the calling thread; return its result."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(p)


def cli_progress(prefix: str = "") -> Callable[[Progress], None]:
    """A progress printer for headless commands (one line, rewritten; stderr)."""
    import sys
    import time

    from app.eta import Rate, format_seconds

    last = [0.0]
    rate = Rate(min_seconds=2.0)  # the time left of the stage under way, once it has run 2 s

    def show(p: Progress) -> None:
        now = time.monotonic()
        left = rate.update(p.done, p.total, now, None) and rate.left()
        # at most two lines a second, but never a stage's announcement (no total: "scanning train", "building rdsn"):
        # dropped, the line said the last stage while the next one ran (a folder's 3 s scan showed as "loading")
        if now - last[0] < 0.5 and p.total is not None and p.done < p.total:
            return
        last[0] = now
        frac = p.fraction
        pct = f"{100 * frac:5.1f}%" if frac is not None else "  ..."
        eta = f" · {format_seconds(left)} left" if left and left >= 1 else ""
        sys.stderr.write(f"\r{prefix}{pct} " + f"{p.message[:70]}{eta}".ljust(88))
        if frac is not None and frac >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
