"""The Experiments workspace as a user sees it at a 1024 px wide window (the walkthrough's findings)."""

from __future__ import annotations

import pytest

from app.experiments.store import Store

pytestmark = pytest.mark.gui


def _label_shown_whole(axis) -> bool:
    """Whether the axis' label lies inside the axis from end to end (pyqtgraph centres it; wider: cut both ends)."""
    x = axis.label.pos().x()
    return x >= 0 and x + axis.label.boundingRect().width() <= axis.width() + 1


def test_the_ablation_plots_x_label_is_whole_at_a_1024_px_window(qtbot, tmp_path):
    """The shipped ablation's change view at the width a 1024 px window gives the workspace: its x label is shown
    whole (a shorter form of it), the whole text in the axis' tooltip; a wide window shows the long form."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.resize(1016, 640)  # the main window's tab page at 1024 x 700
    ws.show()
    qtbot.waitExposed(ws)
    i = ws.recipe_combo.findText("ablation-mnist")
    if i < 0:
        pytest.skip("the shipped ablation-mnist recipe is missing")
    ws.recipe_combo.setCurrentIndex(i)
    assert ws.plot.shows_change(ws.recipe.plot)
    axis = ws.plot.plot.getAxis("bottom")
    qtbot.waitUntil(lambda: axis.width() > 100, timeout=5000)
    qtbot.wait(50)
    full = ("change of test top-1 against the baseline arm above it (points; mean ± std over seeds; ** / *: beyond "
            "chance in every / some seed)")
    assert axis.labelText.startswith("change of test top-1")
    assert _label_shown_whole(axis), (axis.labelText, axis.label.pos().x(), axis.width())
    if axis.labelText != full:
        assert axis.toolTip() == full  # the whole text a rest of the mouse away
    ws.resize(1900, 900)
    qtbot.waitUntil(lambda: axis.labelText == full, timeout=5000)
    qtbot.wait(50)
    assert _label_shown_whole(axis) and axis.toolTip() == ""
    ws.shutdown()
