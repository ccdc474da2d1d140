"""Class names along a plot's axis that are never piled over one another, run together or cut mid-letter: every
class named where the names fit, else every 2nd, 5th, 10th class (or none), each class keeping its tick mark.

The confusion matrix's axes (``widgets.probe.confusion``) and the per-class accuracy bars (``widgets.probe.results``)
name their classes this way. A name written across an axis (side by side with the next one) is whole where it fits
in the room its step gives it, else elided with "…" (``elide``: at least ``MIN_CHARS`` letters kept, or it does not
count as written); names stacked along a vertical axis need a text line each. Fashion-MNIST's "T-shirt/top",
"Pullover", ... on ten bars 24 px apart were written over one another ("TrouPullDressCoat"), and the matrix cut them
to six letters ("T-shir", "Pullov"): a name now reads whole or ends in "…", and the plot's hover names it whole.

API::

    fm = axis_metrics()                         # the font pyqtgraph's axes write their tick texts in
    elide(fm, name, room) -> str                # ``name`` in ``room`` px: whole, elided with "…", or "" (illegible)
    tick_step(cell, need, n) -> int             # every how many of ``n`` classes ``cell`` px apart a text of
                                                # ``need`` px is written (0: none)
    across(names, positions, cell, span, step)  # the texts of names side by side at ``step`` ("" where none)
    across_step(names, positions, cell, span)   # the least step whose names are all legible (0: none)
    named(step, n) -> int                       # how many of ``n`` classes a step names
"""

from __future__ import annotations

from typing import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetricsF

TICK_STEPS = (1, 2, 5, 10)  # every class named, every 2nd, every 5th, every 10th (then none)
TICK_GAP = 4  # px: the least room between two class names along an axis
MIN_CHARS = 3  # an elided name keeps at least this many letters before its "…" (else it is not written)
EDGE_SLACK = 2  # px kept free at an axis's end (pyqtgraph drops a tick text that reaches past its axis)


def axis_metrics() -> QFontMetricsF:
    """The metrics of the font pyqtgraph's axes write their tick texts in (no ``tickFont`` set: the default)."""
    return QFontMetricsF(QFont())


def elide(fm: QFontMetricsF, name: str, room: float) -> str:
    """``name`` as it is written in ``room`` pixels: whole where it fits, else ending in "…" with at least
    ``MIN_CHARS`` of its letters; "" where not even that fits."""
    if fm.horizontalAdvance(name) <= room:
        return name
    text = fm.elidedText(name, Qt.TextElideMode.ElideRight, max(0.0, room))
    return text if text.endswith("…") and len(text) - 1 >= MIN_CHARS else ""


def legible_step(n: int, fits: Callable[[int], bool]) -> int:
    """The least step of ``TICK_STEPS`` (fewer than ``n``: one name alone says nothing of ``n`` classes) for which
    ``fits(step)``; one class is named where it fits; 0: none."""
    for step in TICK_STEPS:
        if step < n and fits(step):
            return step
    return 1 if n == 1 and fits(1) else 0


def tick_step(cell: float, need: float, n: int) -> int:
    """Every how many of ``n`` classes a text of ``need`` pixels is written on cells of ``cell`` pixels (0: too few
    names would be left to say anything: none)."""
    return legible_step(n, lambda step: step * cell >= need)


def named(step: int, n: int) -> int:
    """How many of ``n`` classes a step of ``step`` names."""
    return -(-n // step) if step else 0


def across(names: Sequence[str], positions: Sequence[float], cell: float, span: tuple[float, float],
           step: int, fm: QFontMetricsF | None = None) -> list[str]:
    """The texts of ``names`` written side by side along a horizontal axis at every ``step``-th class ("" for the
    others): each in the room between its neighbours (``step`` cells less ``TICK_GAP``), and near an end of the axis
    (``span``: its first and last value; ``positions``: each name's value; ``cell``: pixels per class) no wider than
    twice its distance to that end, where pyqtgraph would drop it."""
    fm = fm or axis_metrics()
    lo, hi = min(span), max(span)
    out = []
    for i, (name, x) in enumerate(zip(names, positions)):
        if not step or i % step:
            out.append("")
            continue
        edge = 2 * (min(x - lo, hi - x) * cell - EDGE_SLACK)
        out.append(elide(fm, name, min(step * cell - TICK_GAP, edge)))
    return out


def across_step(names: Sequence[str], positions: Sequence[float], cell: float, span: tuple[float, float],
                fm: QFontMetricsF | None = None) -> int:
    """The least step at which every name ``across`` writes is legible (whole or elided to ``MIN_CHARS`` letters);
    0: none."""
    fm = fm or axis_metrics()
    n = len(names)
    if cell <= 0:
        return 0
    return legible_step(n, lambda step: all(t for i, t in enumerate(across(names, positions, cell, span, step, fm))
                                            if i % step == 0))
