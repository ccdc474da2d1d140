"""The Probe's comparison fed from the stored runs without holding the GUI thread: the runs not read yet (the first
comparison after start-up, another dataset) are read a slice per event-loop turn (``HistoryPanel.comparison_steps``,
~20 ms each: 1,000 runs had taken 125-390 ms in one go), the view says how many are left, and the comparison is
shown when done. A refresh while one is reading replaces it."""

from __future__ import annotations

from typing import Any


class CompareFeed:
    def __init__(self, panel: Any, view: Any, turns: Any) -> None:
        self.panel = panel  # HistoryPanel
        self.view = view  # CompareView
        self.turns = turns  # widgets.common.turns.Turns: the later slices
        self._steps = None  # the comparison being read

    def busy(self) -> bool:
        """A comparison is still being read (its slices queued on later turns)."""
        return self._steps is not None

    def refresh(self, dataset: str) -> None:
        self._steps = steps = self.panel.comparison_steps(dataset)
        self._step(steps, dataset)

    def _step(self, steps, dataset: str) -> None:
        if steps is not self._steps:  # replaced by a later refresh
            return
        try:
            left = next(steps)
        except StopIteration as stop:
            self._steps = None
            self.view.set_groups(*stop.value, dataset)
            return
        except BaseException:
            self._steps = None  # not busy any more (what waits for it, the batch's end, goes on)
            raise
        self.view.show_reading(left, dataset)
        self.turns.later(self._step, steps, dataset)
