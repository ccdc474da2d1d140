"""The Insight workspace's Filter statistics and LC fold panels as a user meets them (the walkthrough's findings):
before anything is computed their layer boxes are off and say what lists the layers (not empty boxes), and a
result is drawn one plot per turn of the event loop (one 140-200 ms block of the GUI thread before)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt

pytestmark = pytest.mark.gui

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}


@pytest.fixture
def insight(qtbot, fe_home, tmp_path):
    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.analysis.workspace import InsightWorkspace
    from widgets.application import make_app

    make_app()
    session = Session()
    session.put_model("tiny simple", ModelSpec.make("simple", label="tiny simple", options=TINY,
                                                    weight_state="random"))
    ws = InsightWorkspace(session, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1016, 640)
    ws.show()
    yield ws
    ws.shutdown()


def _items(plot) -> int:
    return len(plot.getPlotItem().items)


def test_the_layer_boxes_say_how_to_fill_them_before_anything_is_computed(qtbot, insight):
    for panel, button, hint in ((insight.filters, "Compare filters", "Compare filters"),
                                (insight.fold, "Fold", "Fold")):
        insight.tabs.setCurrentWidget(panel)
        qtbot.wait(20)
        box = panel.layer
        assert box.isVisible() and box.count() == 0
        assert not box.isEnabled()  # nothing to choose yet: off, not an empty box that opens on nothing
        assert box.currentIndex() == -1 and hint in box.placeholderText()  # what it shows in place of a layer
        assert panel.bar.run_btn.text() == button and f"Press {button} (Ctrl+Return)" in panel.bar.status.text()


def test_a_fold_fills_its_block_box_and_shows_the_first_block(qtbot, insight):
    p = insight.fold
    insight.tabs.setCurrentWidget(p)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(p.folded) > 0 and not p.bar.busy(), timeout=60_000)
    assert p.layer.isEnabled() and p.layer.count() == len(p.folded)
    assert p.layer.currentIndex() == 0 and p.layer.currentText() == p.folded[0].name
    assert p.basis.has_image() and p.effective.has_image()
    assert "Press Fold" not in p.bar.status.text()


def test_a_filters_result_is_drawn_one_plot_per_turn(qtbot, insight, monkeypatch):
    from widgets.analysis.filters_panel import FiltersPanel

    p = insight.filters
    insight.tabs.setCurrentWidget(p)
    assert p.model.select("tiny simple")
    at_result = []
    shown = FiltersPanel.show_result

    def spy(self, sets):
        shown(self, sets)
        at_result.append([_items(w) for w in (self.spectrum, self.orient, self.pca, self.sparse)])

    monkeypatch.setattr(FiltersPanel, "show_result", spy)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(p.sets) > 0 and not insight.busy(), timeout=60_000)
    assert p.layer.isEnabled() and p.layer.count() == 2 and p.layer.currentText().startswith("conv1")
    # the result's turn drew the spectrum only; the other three plots came on turns of their own
    assert len(at_result) == 1
    spectrum, orient, pca, sparse = at_result[0]
    assert spectrum > 0 and orient == pca == sparse == 0
    assert all(_items(w) > 0 for w in (p.spectrum, p.orient, p.pca, p.sparse))
    assert "tiny simple" in p.legend.text()
    # another layer: drawn again the same way (a draw pending for the old layer is dropped)
    p.layer.setCurrentIndex(1)
    assert p.drawing()
    qtbot.waitUntil(lambda: not p.drawing(), timeout=5000)
    assert len(p.pca.getPlotItem().listDataItems()) == len(p.series())
