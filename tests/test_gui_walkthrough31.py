"""A new user's walkthrough at 1280 x 720 and at the default 1400 x 900 (audit g): three things the user could not see
or could not read as they were meant.

1. Models: the A-vs-B line of the kernel panels ("A vs B: std 0.111 vs 0.112; mean |w| ...") was squeezed to 40 px
   beside the Kernels controls: not one word of it showed at 1280 or 1400 wide.
2. Probe, Compare: at 1280 x 720 the chart was wider than its tab (its title and the bars' long names fixed its least
   width): the bars ran off the right edge, the axis stopped at 80%, the figures and the title's end were cut; the
   table's accuracy columns were far right, behind a horizontal scroll.
3. Probe, Results: the header said validation's uncertainty as a 95% interval and test's as an s.e. side by side,
   and "1,078 train / 450 test images" left out the 269 validation images of the 1,347."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QTextDocument

from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import hover, probe_page  # noqa: F401

pytestmark = pytest.mark.gui

WINDOWS = [(1280, 720), (1400, 900)]
# the Probe's page in those windows (the window's tab bar and status bar take 53 px: 1024 x 700 gives 1024 x 647)
PAGES = [(1280, 667), (1400, 847)]


def _whole(label) -> bool:
    """Whether ``label`` shows all of its text: wrapped in the height it has, or on one line in its width."""
    room = label.contentsRect()
    if label.wordWrap():
        return room.width() > 0 and label.heightForWidth(label.width()) <= label.height()
    return label.fontMetrics().horizontalAdvance(label.text()) <= room.width()


def _on_screen(widget) -> bool:
    """Whether all of ``widget`` is drawn: visible, none of it outside its window or under a scroll."""
    return widget.isVisible() and widget.visibleRegion().boundingRect() == widget.rect()


# --- 1. Models: the A-vs-B line ---------------------------------------------------------------------------------------
@pytest.fixture
def models_window(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="models", persist=False)
    qtbot.addWidget(win)
    win.resize(*WINDOWS[0])
    win.show()
    ws = win.workspace("models")
    qtbot.waitUntil(lambda: ws.builder_ready() and not ws.busy(), timeout=60_000)
    yield win
    win.close()


def test_the_models_a_vs_b_line_is_read_whole_at_1280_and_1400(qtbot, models_window):
    from widgets.models.kernel_compare import BUILDER

    ws = models_window.workspace("models")
    # B shows the builder's model too (no reference model to build): the two panels' layers compared at once
    ws.panel_b.source.setCurrentIndex(ws.panel_b.source.findData(BUILDER))
    qtbot.waitUntil(lambda: ws.compare.text().startswith("A vs B: std "), timeout=20_000)
    for size in WINDOWS:
        models_window.resize(*size)
        qtbot.wait(150)
        line = ws.compare
        assert _on_screen(line), (size, line.geometry(), line.visibleRegion().boundingRect())
        assert _whole(line), (size, line.geometry(), line.fontMetrics().horizontalAdvance(line.text()))
        assert line.width() >= 300, (size, line.geometry())  # a line of its own, not 40 px beside the controls
        # under the controls, above the two panels
        top = line.mapTo(ws, line.rect().topLeft()).y()
        assert ws.kernels.scale.mapTo(ws, ws.kernels.scale.rect().bottomLeft()).y() <= top
        assert top + line.height() <= ws.panel_a.mapTo(ws, ws.panel_a.rect().topLeft()).y()


# --- 2. Probe: the comparison at 1280 x 720 ---------------------------------------------------------------------------
def _stored(label: str, top1s: list[float], state: str = "random") -> list[dict]:
    """One run per seed of ``label`` on digits, as a tap of conv3 pooled on a 2x2 grid (a long bar name)."""
    from tests.test_history import fake_result

    runs = []
    for seed, top1 in enumerate(top1s):
        d = fake_result(label=label, state=state, top1=top1, seed=seed)
        d["config"]["layer"], d["config"]["pooling"] = 2, "grid2"
        d["settings"] = {"layer": 2, "layer_name": "conv3", "pooling": "grid2"}
        d["n_features"], d["val_top1"], d["n_val"] = 256, min(1.0, top1 + 0.01), 269
        d["selected"] = {"weight_decay": 0.01}
        runs.append(d)
    return runs


@pytest.mark.parametrize("page", PAGES)
def test_the_probe_comparison_fits_its_tab(qtbot, probe_page, fe_home, no_data, page):  # noqa: F811
    import pyqtgraph as pg

    from app.probe.history import History

    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        for d in (_stored("simple (random)", [0.953]) + _stored("rdsn (random)", [0.976])
                  + _stored("resnet20 (random)", [0.25, 0.18, 0.22])  # low: its figure past the bar
                  + _stored("simple (trained, MNIST)", [0.99, 1.0, 0.97], "trained")):  # its error bar past 100%
            h.add(d)
    ws = probe_page(page)
    view = ws.compare
    qtbot.waitUntil(lambda: view.table.rowCount() == 4, timeout=20_000)
    ws.tabs.setCurrentWidget(view)
    qtbot.waitExposed(view)
    qtbot.wait(200)
    chart = view.chart
    vb = chart.getViewBox()
    seen = chart.mapToScene(chart.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)  # what the widget shows

    # the whole plot (names, bars, axis) in the chart's width: nothing runs off its right edge
    assert seen.contains(chart.getPlotItem().sceneBoundingRect()), (page, chart.getPlotItem().sceneBoundingRect(), seen)
    # every bar and its error bar inside the axis's range
    (lo, hi), _ = vb.viewRange()
    ends = [g.top1_mean + g.top1_std for g in view.groups]
    assert lo <= 0 and max(ends) <= hi, (ends, hi)
    # the axis labelled past the longest bar, its last label drawn (within the range)
    major = chart.getAxis("bottom")._tickLevels[0]
    assert max(g.top1_mean for g in view.groups) <= major[-1][0] <= hi, (major, hi)
    assert major[-1][1] == "100%"
    # each bar's figure whole and inside the plot area
    figures = [it for it in chart.getPlotItem().items if isinstance(it, pg.TextItem) and it.isVisible()]
    assert len(figures) == 4
    area = vb.sceneBoundingRect()
    for t in figures:
        assert area.contains(t.sceneBoundingRect()), (t.toPlainText(), t.sceneBoundingRect(), area)
    # the title whole, above the chart
    assert _on_screen(view.title) and _whole(view.title), view.title.geometry()
    # the bars' names cut to a share of the width ("…"), the whole name on hover
    room = view.name_room()
    names = [name for _y, name in view._ticks]
    assert len(names) == 4 and all(chart.fontMetrics().horizontalAdvance(n) <= room for n in names), (names, room)
    assert any(n.endswith("…") for n in names)
    for i, whole in enumerate(view._titles):
        assert names[i].endswith("…") or names[i] == whole
        assert whole.startswith(names[i].rstrip("…"))
        qtbot.wait(60)  # the scene passes on one mouse move in ~50 ms
        hover(chart, vb.mapViewToScene(QPointF(0.05, i)))
        assert chart.toolTip().split("\n")[0] == whole, (chart.toolTip(), whole)
    # the table: the accuracies next to the model, in view without a scroll
    header = view.table.horizontalHeader()
    for name in ("Model", "Test top-1", "Val top-1"):
        c = view.column(name)
        assert header.sectionViewportPosition(c) + header.sectionSize(c) <= view.table.viewport().width(), name
    assert view.COLUMNS.index("Test top-1") < view.COLUMNS.index("Weights")


def test_a_long_model_name_never_pushes_the_accuracies_out_of_view(qtbot, fe_home):
    from app.probe.history import History
    from widgets.probe.compare import CompareView
    from widgets.probe.history_panel import HistoryPanel

    fe_home.mkdir(parents=True, exist_ok=True)
    with History(fe_home / "history.sqlite") as h:
        h.add(_stored("a model of the session with a very long name, trained for a long while (seed 3)", [0.9])[0])
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(507, 420)
    view.show()
    qtbot.waitExposed(view)
    view.set_groups(*panel.comparison("digits"), "digits")
    header = view.table.horizontalHeader()
    for name in ("Test top-1", "Val top-1"):  # in view, beside the model's name (cut with "…")
        c = view.column(name)
        assert header.sectionViewportPosition(c) + header.sectionSize(c) <= view.table.viewport().width(), name
    c = view.column("Model")
    assert view.table.columnWidth(c) <= view.table.viewport().width() // 2
    assert view.table.item(0, c).toolTip().startswith("Model: a model of the session with a very long name")


# --- 3. Probe: the Results header -------------------------------------------------------------------------------------
def _digits_run() -> dict:
    """The walkthrough's run: simple (random) on digits, 1,347 training images of which 269 held out for
    validation (263 right), 450 test images (429 right)."""
    from tests.test_history import fake_result

    d = fake_result(top1=429 / 450)
    d["n_train"], d["n_test"], d["n_val"], d["val_top1"] = 1078, 450, 269, 263 / 269
    return d


def _header(view) -> str:
    doc = QTextDocument()
    doc.setHtml(view.header.text())
    return doc.toPlainText().replace("\xa0", " ")


def test_the_results_header_says_one_kind_of_interval_and_every_split(qtbot):
    from widgets.probe.model import RunView
    from widgets.probe.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    view.projector.set_run = lambda run: None  # not what is tested here
    view.resize(WINDOWS[0][0] // 2, 500)
    view.show()
    view.show_run(RunView.from_dict(_digits_run()))
    text = _header(view)
    # validation and test: each a 95% interval (Wilson), in the same words
    assert "validation top-1 97.8% (95% CI 95.2-99.0)" in text, text
    assert "test top-1 95.3% (95% CI 93.0-96.9)" in text, text
    assert "s.e." not in text
    # every split's images, the validation images held out of the 1,347 said
    assert "1,078 train + 269 validation / 450 test images" in text, text
    assert view.header.toolTip().startswith("95% CI: the Wilson 95% interval")
    # a run without a validation split: no "+ 0 validation", no interval made up
    d = _digits_run()
    del d["n_val"], d["val_top1"]
    view.show_run(RunView.from_dict(d))
    text = _header(view)
    assert "1,078 train / 450 test images" in text and "validation top-1" not in text, text
    assert "test top-1 95.3% (95% CI 93.0-96.9)" in text, text
