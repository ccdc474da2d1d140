"""Audit W, Insight: after a Filter statistics or Fold compute the status line went blank (the bar at 100% alone);
it says what was computed, from the result."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from test_insight_gui_walkthrough import insight  # noqa: F401

pytestmark = pytest.mark.gui


def test_a_filters_compute_says_what_it_computed(qtbot, insight):  # noqa: F811
    p = insight.filters
    insight.tabs.setCurrentWidget(p)
    assert p.model.select("tiny simple")
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(p.sets) > 0 and not p.bar.busy(), timeout=60_000)
    status = p.bar.status
    assert status.isVisible() and p.bar.progress.value() == p.bar.progress.maximum()
    n = len(p.sets[0].stats)
    assert n == 2 and p.layer.count() == n
    assert status.text() == "Done: filter statistics of 2 layers of tiny simple. Choose a layer above."


def test_a_fold_says_what_it_folded(qtbot, insight):  # noqa: F811
    p = insight.fold
    insight.tabs.setCurrentWidget(p)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(p.folded) > 0 and not p.bar.busy(), timeout=60_000)
    n = len(p.folded)
    assert p.bar.status.isVisible()
    assert p.bar.status.text() == f"Done: folded {n} LC blocks of {p.model.currentText()}. Choose a block above."


def test_the_filters_status_names_the_twin_and_the_banks():
    import types

    from widgets.analysis.filters_panel import done_text

    def fs(label, kind, n):
        return types.SimpleNamespace(label=label, kind=kind, stats=(None,) * n)

    assert done_text((fs("simple (trained, MNIST)", "trained", 3), fs("simple (random)", "random", 3))) == \
        "Done: filter statistics of 3 layers of simple (trained, MNIST) and its random twin. Choose a layer above."
    assert done_text((fs("m", "trained", 1), fs("t", "random", 1), fs("b (bank)", "hand-designed", 1),
                      fs("c (bank)", "hand-designed", 1))) == \
        "Done: filter statistics of 1 layer of m, its random twin and 2 banks."
