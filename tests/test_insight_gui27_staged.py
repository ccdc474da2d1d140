"""Insight as a user opens it: the workspace is on screen before its opening computation starts (started in the tab's
click, the worker ran beside the workspace's first paint and stretched it), the Filter statistics tab paints its four
plots one at a time, and a result moves no plot (each value axis keeps its width when the numbers arrive: it used to
change it, re-laying out and repainting every plot two to four times in one go).

How long the GUI thread is held is a benchmark (a heartbeat script prints it), never a timed assertion here; these
tests check what the user sees and the order of what happens."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QLabel, QTabWidget

pytestmark = pytest.mark.gui

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}


class Paints(QObject):
    """Which plots paint in which window update: a zero timer counts the event loop's passes (the window paints
    between them, in the posted events of a pass)."""

    def __init__(self, plots: dict) -> None:
        super().__init__()
        self.names = {p.viewport(): name for name, p in plots.items()}
        self.log: list[tuple[int, str]] = []
        self.turn = 0
        self.timer = QTimer()
        self.timer.setInterval(0)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        for vp in self.names:
            vp.installEventFilter(self)

    def _tick(self) -> None:
        self.turn += 1

    def eventFilter(self, obj, ev):  # noqa: N802 (a test helper, never in the app)
        if ev.type() == QEvent.Type.Paint and obj in self.names:
            self.log.append((self.turn, self.names[obj]))
        return False

    def first(self) -> dict[str, int]:
        """Each plot's first paint: the pass of the event loop it came in."""
        out: dict[str, int] = {}
        for turn, name in self.log:
            out.setdefault(name, turn)
        return out

    def stop(self) -> None:
        self.timer.stop()
        for vp in self.names:
            vp.removeEventFilter(self)


@pytest.fixture
def window(qtbot, fe_home, tmp_path):
    """The Insight workspace in a tab beside another, switched to as the main window does (``set_active`` in the
    tab's change)."""
    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.analysis.workspace import InsightWorkspace
    from widgets.application import make_app

    make_app()
    session = Session()
    session.put_model("tiny simple", ModelSpec.make("simple", label="tiny simple", options=TINY,
                                                    weight_state="random"))
    tabs = QTabWidget()
    tabs.addTab(QLabel("another workspace"), "Other")
    ws = InsightWorkspace(session, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    tabs.addTab(ws, "Insight")
    tabs.currentChanged.connect(lambda i: ws.set_active(i == 1))
    qtbot.addWidget(tabs)
    tabs.resize(1024, 700)
    tabs.show()
    qtbot.waitExposed(tabs)
    qtbot.wait(50)
    yield tabs, ws
    ws.shutdown()


def _open_insight(qtbot, tabs) -> None:
    qtbot.mouseClick(tabs.tabBar(), Qt.MouseButton.LeftButton, pos=tabs.tabBar().tabRect(1).center())
    assert tabs.currentIndex() == 1


def test_opening_insight_shows_the_workspace_before_its_first_compute_starts(qtbot, window, monkeypatch):
    tabs, ws = window
    p = ws.cka
    p.n.setValue(40)  # the default pair on a smaller sample: the same path, sooner
    painted = Paints({"cka": p.plot})
    started: list[int] = []
    compute = p.compute

    def spy() -> None:
        started.append(sum(1 for _t, name in painted.log if name == "cka"))
        compute()

    monkeypatch.setattr(p, "compute", spy)
    _open_insight(qtbot, tabs)
    assert ws.busy()  # the opening compute is on its way (wait_ready and the window wait for it)
    qtbot.waitUntil(lambda: p.result is not None and not ws.busy(), timeout=60_000)
    painted.stop()
    assert len(started) == 1
    assert started[0] >= 1, "the computation started before the workspace was painted"
    # and the workspace opens on an answer: the default trained model against its random twin
    assert p.image.image is not None and p.image.image.shape == p.result.matrix.shape
    assert p.readout.text().startswith("Rows: the layers of")
    assert p.bar.status.text() == "Done."


def test_the_filter_statistics_tab_paints_its_plots_one_at_a_time(qtbot, window):
    tabs, ws = window
    tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: not ws.busy(), timeout=60_000)  # its opening CKA
    f = ws.filters
    painted = Paints({"spectrum": f.spectrum, "orientation": f.orient, "pca": f.pca, "sparsity": f.sparse})
    i = ws.tabs.indexOf(f)
    qtbot.mouseClick(ws.tabs.tabBar(), Qt.MouseButton.LeftButton, pos=ws.tabs.tabBar().tabRect(i).center())
    assert ws.tabs.currentWidget() is f
    qtbot.waitUntil(lambda: {name for _t, name in painted.log} == {"spectrum", "orientation", "pca", "sparsity"},
                    timeout=5000)
    qtbot.waitUntil(lambda: not f.drawing(), timeout=5000)
    painted.stop()
    first = painted.first()
    # every plot shown, each painted first in a window update of its own (a plot's first paint is its costly one: its
    # axes' texts and pictures); the spectrum at once, the others after, in their order
    assert len(set(first.values())) == 4, painted.log
    assert sorted(first, key=first.get) == ["spectrum", "orientation", "pca", "sparsity"], painted.log
    assert all(p.updatesEnabled() for p in (f.spectrum, f.orient, f.pca, f.sparse))  # none left held


def test_a_filter_statistics_result_moves_no_plot(qtbot, window):
    tabs, ws = window
    tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: not ws.busy(), timeout=60_000)
    f = ws.filters
    ws.tabs.setCurrentWidget(f)
    qtbot.waitUntil(lambda: not ws.busy(), timeout=5000)
    qtbot.wait(100)
    areas = {name: p.getViewBox().sceneBoundingRect() for name, p in zip("spectrum orientation pca sparsity".split(),
                                                                          (f.spectrum, f.orient, f.pca, f.sparse))}
    assert f.model.currentText() == "simple (trained, MNIST)"  # its default: a shipped trained model
    qtbot.mouseClick(f.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(f.sets) > 0 and not ws.busy(), timeout=60_000)
    qtbot.wait(100)
    # what the user reads: the layers listed, the legend, every plot with the model and its random twin
    assert f.layer.isEnabled() and f.layer.currentText().startswith("conv1")
    assert "simple (trained, MNIST)" in f.legend.text() and "simple (random)" in f.legend.text()
    for p in (f.spectrum, f.orient, f.pca):
        assert len(p.getPlotItem().listDataItems()) == 2
        assert all(np.isfinite(item.yData).all() for item in p.getPlotItem().listDataItems())
    assert len(f.sparse.getPlotItem().items) >= 2  # a bar pair per series
    moved = {name: (areas[name], p.getViewBox().sceneBoundingRect())
             for name, p in zip(areas, (f.spectrum, f.orient, f.pca, f.sparse)) if p.getViewBox().sceneBoundingRect() != areas[name]}
    assert moved == {}, moved  # the plot areas stay where they were when their numbers arrive
