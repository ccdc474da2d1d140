"""Helpers shared by the head tests (not a test module): features standardised as the heads standardise them, and
a task generator drained to its steps and result."""

from __future__ import annotations

import numpy as np

from app.probe.headcore import standardizer


def standardised(Xtr: np.ndarray, X: np.ndarray | None = None) -> np.ndarray:
    """``X`` (default ``Xtr``) standardised with ``Xtr``'s column statistics, in float64."""
    m, inv = standardizer(Xtr, True)
    return ((Xtr if X is None else X) - m) * inv


def drain(gen):
    """(every step yielded, the return value) of a generator task."""
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as stop:
        return steps, stop.value
