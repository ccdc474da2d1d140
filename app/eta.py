"""Progress read-outs: percentage, items per second and the time left, from the ``app.tasks.Progress`` reports of a
run (plain arithmetic). The headless commands' progress line (``app.tasks.cli_progress``), the Probe's run panel,
the Train… dialog, Insight's task bars and the Experiments run.

``Rate`` is fed ``(done, total, now)`` and keeps the first report of the current stage as its origin, so a stage
that starts over (test features after train features) starts a new rate.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Rate:
    min_seconds: float = 0.5  # no rate or ETA before this much of a stage has run (the first batches are noisy)
    _start: tuple[float, float] | None = None  # (time, done) at the stage's first report
    _total: float | None = None
    _left: float | None = None  # seconds left at the last update

    def reset(self) -> None:
        self._start = None
        self._total = None
        self._left = None

    def update(self, done: float | None, total: float | None, now: float, unit: str | None = "images") -> str:
        """A short read-out such as ``"42% · 1,250 images/s · 3 s left"`` ('' when nothing can be said); with
        ``unit`` None no rate (``"42% · 3 s left"``: a few slow items, whose rate would read "0 cells/s")."""
        self._left = None
        if done is None or not total or total <= 0:
            self.reset()
            return ""
        if self._start is None or total != self._total or done < self._start[1]:
            self._start = (now, float(done))
            self._total = total
        frac = min(1.0, max(0.0, done / total))
        parts = [f"{100 * frac:.0f}%"]
        t0, d0 = self._start
        dt = now - t0
        if dt >= self.min_seconds and done > d0:
            rate = (done - d0) / dt
            if unit is not None:
                parts.append(f"{rate:,.0f} {unit}/s")
            if done < total:
                self._left = (total - done) / rate
                parts.append(f"{format_seconds(self._left)} left")
        return " · ".join(parts)

    def about(self, done: float | None, total: float | None, now: float) -> str:
        """``update`` without a rate, as a suffix for a status line: ``" · about 1 min 30 s left"`` or ''. A new run
        needs no ``reset``: its first report (of unknown length, or done below this stage's start) starts over."""
        left = self.update(done, total, now, None) and self._left
        return f" · about {format_seconds(left)} left" if left else ""

    def left(self) -> float | None:
        """Seconds left at the last ``update`` (None before a rate could be measured, or when done)."""
        return self._left


def format_seconds(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"
