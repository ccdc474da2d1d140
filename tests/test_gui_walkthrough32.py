"""A GUI walkthrough (session 32) found small defects a user sees; each test pins what is on the screen:

1. Live: a ridge/SVM head's Top-5 values ("score -0.946") were cut off at the pane's right edge;
2. Live: "Use in Live" (Probe) showed the head's backbone at its default layer, not the head's, and the head's
   title elided its layer away;
3. Experiments: "Finished experiments" cut each line's end (its state and date) off in the column;
4. Models: the "Taps" table's headers ("channels", "downsampling") ran together;
5. Experiments: the plot's legend covered data points (fixed at the top left);
6. Kernels: the dotted square on the centre cell was unexplained.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QFontMetrics, QImage

from app.live.config import Prediction

pytestmark = pytest.mark.gui

DIGITS = tuple(str(i) for i in range(10))


def _ink_columns(img: QImage, y0: int, y1: int) -> list[int]:
    """The x of every column holding a dark (text) pixel between rows y0 and y1."""
    cols = set()
    for y in range(max(0, y0), min(img.height(), y1)):
        for x in range(img.width()):
            c = QColor(img.pixel(x, y))
            if max(c.red(), c.green(), c.blue()) < 110:
                cols.add(x)
    return sorted(cols)


# --- 1: a ridge head's scores fit the pane ---------------------------------------------------------------------
@pytest.mark.parametrize("width", [250, 275, 340])
def test_ridge_head_scores_are_drawn_whole_inside_the_pane(qtbot, width):
    from widgets.live.predictions import ROW, PredictionView

    scores = (("8", 1.32), ("7", 0.984), ("9", -0.33), ("6", -0.946), ("0", -0.951))
    pred = Prediction("conv3 · ridge probe head · simple", scores, kind="head", scores="ridge", span=(-1.1, 1.32))
    view = PredictionView()
    qtbot.addWidget(view)
    view.resize(width, 200)
    view.set_predictions((pred,))
    view.resize(width, view.height())
    img = view.grab().toImage()
    fm = QFontMetrics(view.font())
    for i, (_, value) in enumerate(scores):
        text = pred.value_text(value)
        y = ROW * (1 + i)  # the title's row first
        bar_end = max(x for x in range(width) if QColor(img.pixel(x, y + ROW // 2)).name() in ("#c0591a", "#e8e8e8"))
        text_left = min(x for x in _ink_columns(img, y + 2, y + ROW - 2) if x > bar_end)
        # the whole value fits between its first glyph and the pane's right edge (a cut one ran past it)
        assert text_left + fm.horizontalAdvance(text) <= width, (text, text_left, fm.horizontalAdvance(text), width)


# --- 2: "Use in Live" shows the head's layer, and the pane's title names it --------------------------------------
HEAD_BACKBONE_OPTIONS = {"widths": (4, 6, 8)}  # conv1, conv2, conv3: a pane opens on conv1 (``default_layer``)


def _write_head(folder, layer: int = 2, layer_name: str = "conv3", head: str = "ridge"):
    """A stored ridge head on a small random backbone's ``layer`` (8 pooled features of conv3), as a probe run
    writes it (``save_head``)."""
    from types import SimpleNamespace

    from app.models.inputs import input_spec
    from app.models.spec import ModelSpec
    from app.probe.head_export import save_head

    spec = ModelSpec.make("simple", label="simple (random)", options=HEAD_BACKBONE_OPTIONS)
    rng = np.random.default_rng(0)
    record = SimpleNamespace(head=head, model=spec, layer=layer, layer_name=layer_name, pooling="gap",
                             input=input_spec(spec), dataset="digits", whiten=False, feature_budget=None)
    result = SimpleNamespace(classes=DIGITS, top1=0.91, created="2026-12-03T10:00:00+00:00")
    state = {"W": rng.normal(size=(10, 8)).astype(np.float32), "b": np.zeros(10, np.float32)}
    return save_head(result, record, SimpleNamespace(state=state), mean=np.zeros(8), inv_std=np.ones(8),
                     size=(8, 8), folder=folder)


@pytest.fixture
def live(qtbot, fe_home, tmp_path):
    """A Live workspace on a short test video with one pane ("tiny", another backbone than the head's)."""
    import json

    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from app.live.synthetic import write_test_video
    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    video = write_test_video(tmp_path / "cam.avi", frames=20, width=80, height=60, fps=30)
    s = settings()
    s.setValue("live/source", "video")
    s.setValue("live/video_path", str(video))
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": "tiny", "layer": 1, "page": 0}]))
    session = Session()
    session.put_model("tiny", ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)}))
    window = QWidget()
    lay = QVBoxLayout(window)
    w = LiveWorkspace(session, s)
    lay.addWidget(w)
    qtbot.addWidget(window)
    window.resize(900, 600)
    window.show()
    qtbot.waitExposed(window)
    yield w
    w.shutdown()


def _shown_title(view) -> str:
    """A prediction's title as the pane draws it: bold, elided to the view's width."""
    from PySide6.QtCore import Qt

    font = view.font()
    font.setBold(True)
    return QFontMetrics(font).elidedText(view.predictions[0].title, Qt.TextElideMode.ElideRight, view.width() - 4)


def _await_head(qtbot, pane) -> None:
    qtbot.waitUntil(lambda: bool(pane.predictions.predictions) and pane.predictions.predictions[0].kind == "head"
                    and pane.layer_combo.count() > 1, timeout=30_000)


def test_use_in_live_opens_the_heads_layer_and_the_title_shows_it(qtbot, live, tmp_path):
    path = _write_head(tmp_path / "heads")
    live.set_active(True)
    live.session.request("live-head", str(path))  # what Probe's "Use in Live" sends
    pane = next(p for p in live.panes if p.head == str(path))
    assert pane is not live.panes[0]  # a new pane on the head's backbone
    assert pane.layer == 2
    _await_head(qtbot, pane)
    # the maps shown are those of the head's layer (conv3), not the backbone's first one
    assert pane.layer_combo.currentIndex() == 2 and pane.layer_combo.currentText().startswith("conv3")
    assert pane.config().layer == 2
    # the title drawn names the layer, whatever it elides; the tooltip holds the whole title
    view = pane.predictions
    for width in (250, view.width()):
        view.resize(width, view.height())
        assert _shown_title(view).startswith("conv3 · ridge"), _shown_title(view)
    assert "probe head: ridge · simple (random) · conv3 · gap · digits (91.0% on its test split)" in view.toolTip()


def test_use_in_live_switches_a_pane_already_on_the_backbone_to_the_heads_layer(qtbot, live, tmp_path):
    from app.models.spec import ModelSpec
    from widgets.live.pane import probe_spec

    live.set_active(True)
    spec = probe_spec(ModelSpec.make("simple", label="simple (random)", options=HEAD_BACKBONE_OPTIONS))
    first = live.add_pane(spec, 0)
    qtbot.waitUntil(lambda: first.layer_combo.count() > 1, timeout=30_000)
    assert first.layer_combo.currentIndex() == 0
    path = _write_head(tmp_path / "heads")
    live.session.request("live-head", str(path))
    assert first.head == str(path) and first.layer == 2
    _await_head(qtbot, first)
    # (a frame still in flight when the head came showed the old layer: the next one's is shown)
    qtbot.waitUntil(lambda: first.layer_combo.currentText().startswith("conv3"), timeout=10_000)
    assert first.layer_combo.currentIndex() == 2 and first.config().layer == 2


# --- 3: each finished experiment reads whole in the column -------------------------------------------------------
def test_finished_experiments_are_shown_whole_in_the_column_at_1280x720(qtbot, tmp_path):
    from PySide6.QtCore import QRect, Qt

    from app.experiments.store import Store
    from widgets.experiments.workspace import ExperimentsWorkspace

    store = Store(tmp_path / "exp.sqlite")
    for name, quick, cells, state, done in (("probe-every-layer", True, 6, "finished", 6),
                                            ("untrained-features", True, 10, "cancelled", 3),
                                            ("ablation-cifar10", False, 24, "stopped: the worker died", 11)):
        store.finish_run(store.start_run(name, quick, cells), None, state, done)
    ws = ExperimentsWorkspace(store=store)
    qtbot.addWidget(ws)
    ws.resize(1272, 650)  # the main window's tab page at 1280 x 720
    ws.show()
    qtbot.waitExposed(ws)
    ws._refresh_history()
    h = ws.history
    qtbot.wait(50)
    assert h.count() == 3
    assert h.viewport().width() < 400  # the narrow column the walkthrough saw
    assert not h.horizontalScrollBar().isVisible()
    fm = QFontMetrics(h.font())
    for i in range(h.count()):
        item = h.item(i)
        rect = h.visualItemRect(item)
        assert rect.right() <= h.viewport().width()
        # the text as it is laid out in its item (wrapped at its words): every line of it inside the item's box
        need = fm.boundingRect(QRect(0, 0, rect.width() - 8, 10_000), int(Qt.TextFlag.TextWordWrap), item.text())
        assert need.width() <= rect.width() - 4 and need.height() <= rect.height(), (item.text(), need, rect)
        assert item.text() in item.toolTip()
    cancelled = h.item(1).text()
    assert cancelled.startswith("untrained-features (quick) (cancelled, 3 of 10 cells), ")
    assert "cancelled after 3 of 10" in h.item(1).toolTip()
    ws.shutdown()


# --- 4: the Taps table's columns are apart ----------------------------------------------------------------------
def _cell_text_boxes(doc):
    """Per row of the document's table, each cell's text box (x from, x to) as laid out."""
    table = next(f for f in doc.rootFrame().childFrames() if f.__class__.__name__ == "QTextTable")
    rows = []
    for r in range(table.rows()):
        boxes = []
        for c in range(table.columns()):
            block = table.cellAt(r, c).firstCursorPosition().block()
            origin = doc.documentLayout().blockBoundingRect(block).topLeft()
            line = block.layout().lineAt(0).naturalTextRect()
            boxes.append((origin.x() + line.left(), origin.x() + line.right(), block.text()))
        rows.append(boxes)
    return rows


def test_the_taps_tables_headers_and_columns_are_apart(qtbot):
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QLabel

    from app.models import viz
    from app.models.build import build
    from app.models.spec import ModelSpec
    from widgets.models.words import stages_html

    spec = ModelSpec.make("resnet20", label="resnet20 (random)")
    html = stages_html(viz.snapshot(build(spec), spec))
    label = QLabel()
    qtbot.addWidget(label)
    doc = QTextDocument()
    doc.setDefaultFont(label.font())
    doc.setHtml(html)
    doc.setTextWidth(380)  # the Build form's width at 1280 x 720
    rows = _cell_text_boxes(doc)
    assert [t for _, _, t in rows[0]] == ["layer", "channels", "downsampling"]
    gaps = [row[c + 1][0] - row[c][1] for row in rows for c in range(len(row) - 1)]
    assert min(gaps) >= 8, (min(gaps), rows[0])


# --- 5: the plot's legend covers no point -----------------------------------------------------------------------
VARIANTS = ["random (Kaiming)", "Gabor", "classic", "DCT", "trained"]


def _legend_and_points(plot):
    """The legend's box and every drawn point (with its error bar's ends), in scene coordinates."""
    from PySide6.QtCore import QPointF

    vb = plot.plot.getViewBox()
    legend = plot.plot.plotItem.legend
    box = legend.mapRectToScene(legend.boundingRect())
    points = []
    for curve, bars in plot._items:
        x, y = curve.getData()
        for xi, yi in zip(x if x is not None else (), y if y is not None else ()):
            points.append(vb.mapViewToScene(QPointF(float(xi), float(yi))))
        h = bars.opts["height"]
        for xi, yi, hi in zip(bars.opts["x"], bars.opts["y"], h):
            for end in (yi - hi / 2, yi + hi / 2):
                points.append(vb.mapViewToScene(QPointF(float(xi), float(end))))
    return box, points


@pytest.mark.parametrize("case", ["categories", "lines"])
def test_the_experiment_plots_legend_covers_no_point(qtbot, case):
    from widgets.experiments.plot import ExperimentPlot

    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    plot.resize(980, 420)  # the plot at 1280 x 720
    plot.show()
    qtbot.waitExposed(plot)
    if case == "categories":  # the walkthrough's: the first variant's point at the top left
        series = {v: [] for v in VARIANTS}
        series["random (Kaiming)"] = [("random (Kaiming)", 0.972, 0.004)]
        series["Gabor"] = [("Gabor", 0.911, 0.012)]
        plot.set_series(series, [], {"x": "variant", "y": "test_top1"}, xs=VARIANTS)
    else:  # two lines over the layers: high at the left, low at the right (top left and bottom right taken)
        xs = [0, 1, 2, 3, 4]
        series = {"simple (random)": [(x, 0.95 - 0.1 * x, 0.01) for x in xs],
                  "simple (trained, MNIST)": [(x, 0.97 - 0.08 * x, 0.01) for x in xs],
                  "resnet20 (random)": [(x, 0.6 + 0.01 * x, 0.0) for x in xs]}
        plot.set_series(series, [], {"x": "layer", "y": "test_top1"}, xs=xs)
    qtbot.wait(50)
    legend = plot.plot.plotItem.legend
    assert legend.isVisible() and len(legend.items) >= 2
    box, points = _legend_and_points(plot)
    assert points
    assert not [p for p in points if box.contains(p)], (box, [p for p in points if box.contains(p)])
    # still inside the plot's area (readable, not cut off)
    assert plot.plot.getViewBox().sceneBoundingRect().contains(box)


# --- 6: the kernel grid says what its dotted square is --------------------------------------------------------
def test_the_kernel_grid_explains_its_dotted_centre_square(qtbot):
    from widgets.kernels.grid import KernelGrid

    grid = KernelGrid()
    qtbot.addWidget(grid)
    k = 5
    grid.set_kernel(np.zeros((k, k), np.float32), np.full((k, k, 3), 247, np.uint8), np.ones((k, k), bool))
    tip = grid.toolTip()
    assert "Dotted square: the kernel's centre (its anchor)" in tip
    # what the user reads names the square that is drawn: a dotted outline inside the centre cell only
    grid.resize(300, 300)
    grid.cursor_rc = (0, 0)  # the cursor's own square elsewhere
    img = grid.grab().toImage()
    mid = grid.cell_rect(k // 2, k // 2)
    edge = [QColor(img.pixel(x, mid.top() + 2)).name() for x in range(mid.left() + 2, mid.right() - 2)]
    assert "#5a5a5a" in edge and "#f7f7f7" in edge  # dotted: grey dots with gaps
    other = grid.cell_rect(1, 3)
    assert "#5a5a5a" not in [QColor(img.pixel(x, other.top() + 2)).name() for x in range(other.left() + 2,
                                                                                          other.right() - 2)]


def test_a_head_attached_from_the_panes_own_menu_opens_on_its_layer(qtbot, live, tmp_path, monkeypatch):
    """Only "Use in Live" moved the pane to the head's layer; the pane's own Head menu kept conv1 under a conv3 head."""
    import widgets.live.pane as pane_mod
    from app.models.spec import ModelSpec
    from app.probe.head_export import head_info
    from widgets.live.pane import probe_spec

    live.set_active(True)
    spec = probe_spec(ModelSpec.make("simple", label="simple (random)", options=HEAD_BACKBONE_OPTIONS))
    pane = live.add_pane(spec, 0)
    qtbot.waitUntil(lambda: pane.layer_combo.count() > 1, timeout=30_000)
    path = _write_head(tmp_path / "heads")
    info = head_info(path)
    assert info.layer == 2
    monkeypatch.setattr(pane_mod, "list_heads", lambda: [info])
    pane._fill_head_menu()
    action = next(a for a in pane.head_menu.actions() if a.text() == info.title)
    action.trigger()
    assert pane.head == str(info.path) and pane.layer == 2
    _await_head(qtbot, pane)
    qtbot.waitUntil(lambda: pane.layer_combo.currentText().startswith("conv3"), timeout=10_000)
