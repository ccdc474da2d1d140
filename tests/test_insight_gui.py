"""Insight workspace and Probe's projector (qtbot, offscreen): the CKA heatmap of a tiny model with itself, top
patches of a channel, the LC fold view, the feature projector (points, click -> image) and the confusion-cell
filter of the misclassified gallery."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt

pytestmark = pytest.mark.gui

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}


def tiny(label: str = "tiny simple"):
    from app.models.spec import ModelSpec

    return ModelSpec.make("simple", label=label, options=TINY, weight_state="random")


@pytest.fixture
def insight(qtbot, fe_home, tmp_path):
    from app.session import Session
    from widgets.analysis.workspace import InsightWorkspace
    from widgets.application import make_app

    make_app()
    session = Session()
    session.put_model("tiny simple", tiny())
    ws = InsightWorkspace(session, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    yield ws
    ws.shutdown()


def test_cka_of_a_tiny_model_with_itself_has_ones_on_the_diagonal(qtbot, insight):
    p = insight.cka
    assert p.model_a.select("tiny simple") and p.model_b.select("tiny simple")
    p.n.setValue(40)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.result is not None and p.result.label_a == "tiny simple" and not p.bar.busy(),
                    timeout=60_000)
    M = p.result.matrix
    assert M.shape == (2, 2) and p.result.layers_a == p.result.layers_b == ("conv1", "conv2")
    np.testing.assert_allclose(np.diag(M), 1.0, atol=1e-6)
    shown = p.image.image
    assert shown is not None and shown.shape == (2, 2)
    np.testing.assert_allclose(np.diag(shown), 1.0, atol=1e-6)
    assert [t for _, t in p.plot.getAxis("left")._tickLevels[0]] == ["conv1", "conv2"]
    assert p.value_text(1, 1) == "A conv2 vs B conv2: CKA 1.000"
    assert "1.00" in p.values.texts()
    # one architecture on both sides: the scale of two random initialisations is shown under the matrix
    assert p.reference.isVisible() and p.reference.text() == f"{p.result.reference_text()}\nNote: {p.result.note}"
    assert "linear CKA then reads high" in p.result.note  # the tiny model's pooled features outnumber 40 images
    assert p.reference.text().startswith("Two random initialisations of this architecture (seeds 0 and 1)")


def test_top_patches_appear_for_a_channel(qtbot, insight):
    p = insight.patches
    insight.show_patches(tiny(), 1, 3)
    assert insight.tabs.currentWidget() is p
    qtbot.waitUntil(lambda: p.view_data is not None, timeout=60_000)
    v = p.view_data
    assert v.layer_name == "conv2" and v.channel == 3 and len(v.patches) == 16
    vals = [q.value for q in v.patches]
    assert vals == sorted(vals, reverse=True)
    assert p.view.has_image() and len(p.captions.texts()) == 16
    assert p.captions.texts()[0] == v.captions[0] and v.captions[0].startswith(f"{vals[0]:.3g} · ")
    assert "conv2 channel index 3" in p.title.text()  # counted from 0, as the spin box beside "channel index"
    # the same choice again comes from the cache (no new worker)
    p.compute()
    assert not p.bar.busy()


def test_fold_view_shows_an_lc_model(qtbot, insight):
    p = insight.fold
    insight.tabs.setCurrentWidget(p)
    assert p.model.spec().backbone.startswith("lc-")
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(p.folded) > 0, timeout=60_000)
    assert p.layer.count() == len(p.folded)
    assert p.basis.has_image() and p.effective.has_image()
    f = p.folded[0]
    assert f.shape_effective[0] * (f.shape_basis[0] // f.shape_effective[0]) == f.shape_basis[0]
    assert "Effective filters" in p.eff_title.text()


def test_fold_view_says_when_a_model_has_no_lc_blocks(qtbot, insight):
    p = insight.fold
    assert p.model.select("tiny simple")
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not p.bar.busy(), timeout=60_000)
    assert "no LC blocks" in p.bar.status.text() and "lc-resnet20" in p.bar.status.text()


def test_filters_panel_plots_trained_beside_random_twin(qtbot, insight):
    from app.models.zoo import default_specs

    if not any(s.label == "simple (trained, MNIST)" for s in default_specs()):
        pytest.skip("the shipped simple (trained, MNIST) is missing")
    p = insight.filters
    assert p.model.currentText() == "simple (trained, MNIST)"
    p.compute()
    qtbot.waitUntil(lambda: len(p.sets) == 2, timeout=60_000)
    assert [s.kind for s in p.sets] == ["trained", "random"]
    assert p.layer.count() == 3 and len(p.series()) == 2
    assert len(p.spectrum.getPlotItem().listDataItems()) == 2
    # one legend over the four plots, none inside them (a corner legend covered the data there)
    assert all(w.getPlotItem().legend is None for w in (p.spectrum, p.orient, p.pca, p.sparse))
    text = p.legend.text()
    assert "simple (trained, MNIST)" in text and "rgb(31, 119, 180)" in text and "rgb(214, 39, 40)" in text


# --- the projector and the confusion filter in Probe's results --------------------------------------------------
@pytest.fixture(scope="module")
def stored_run():
    """A real probe run on digits (tiny random backbone, ridge head), as the history stores it."""
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end

    cfg = ProbeConfig(model=tiny(), dataset="digits", head="ridge", train_limit=300, test_limit=150, seed=0)
    return run_to_end(run_probe(cfg)).to_dict()


@pytest.fixture
def results(qtbot, fe_home, stored_run):
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool
    from widgets.probe.gallery_loader import GalleryLoader
    from widgets.probe.model import RunView
    from widgets.probe.results import ResultsView

    make_app()
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1100, 900)
    view.show()
    pool = WorkerPool()
    loader = GalleryLoader(pool, view)
    run = RunView.from_dict(stored_run)
    view.show_run(run)
    loader.load(run)
    qtbot.waitUntil(lambda: not loader.busy(), timeout=30_000)
    yield view, loader, run
    pool.shutdown()


def test_projector_shows_points_and_a_click_opens_the_image(qtbot, results):
    view, loader, run = results
    pj = view.projector
    view.lower.setCurrentWidget(pj)
    qtbot.mouseClick(pj.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: pj.data is not None, timeout=60_000)
    n = run.n_test
    assert len(pj.scatter.data) == n == len(pj.data.projection.xy)
    assert "PCA" in pj.status.text()
    qtbot.wait(50)
    # click the point of test image k: its image appears with its label
    k = int(np.argmax(pj.data.projection.xy[:, 0]))  # an outermost point: no neighbour nearer than itself
    qtbot.mouseClick(pj.plot.viewport(), Qt.MouseButton.LeftButton, pos=pj.point_pos(k))
    qtbot.waitUntil(lambda: pj.selected is not None, timeout=5000)
    idx = int(pj.data.projection.indices[k])
    assert pj.selected == idx
    shown = pj.image.rgb()
    assert shown is not None and shown.shape[:2] == pj.data.images[idx].shape[:2]
    assert np.array_equal(shown[..., 0], pj.data.images[idx][..., 0])
    label = pj.data.classes[int(pj.data.labels[idx])]
    assert f"label <b>{label}</b>" in pj.caption.text()


def test_a_confusion_cell_click_filters_the_gallery(qtbot, results):
    view, loader, run = results
    conf = np.asarray(run.confusion)
    off = conf.copy()
    np.fill_diagonal(off, 0)
    if off.max() == 0:
        pytest.skip("the tiny run made no mistakes")
    i, j = (int(v) for v in np.unravel_index(np.argmax(off), off.shape))
    qtbot.wait(50)
    qtbot.mouseClick(view.confusion.viewport(), Qt.MouseButton.LeftButton, pos=view.cell_pos(i, j))
    assert view.pair == (i, j)
    qtbot.waitUntil(lambda: not loader.busy() and view.gallery_image.image is not None
                    and " shown (" in view.gallery_note.text(), timeout=30_000)
    names = run.classes
    expected = int(off[i, j])
    shown = "the 1 example" if expected == 1 else f"{min(expected, 40)} of {expected} examples"  # (audit W)
    assert view.gallery_note.text().startswith(f"{shown} of true {names[i]}")
    assert len(view.captions.texts()) == min(expected, 40)
    assert set(view.captions.texts()) == {f"{names[i][:5]}→{names[j][:5]}"}
    # the diagonal shows every misclassified example again
    qtbot.mouseClick(view.confusion.viewport(), Qt.MouseButton.LeftButton, pos=view.cell_pos(i, i))
    assert view.pair is None
    qtbot.waitUntil(lambda: not loader.busy() and "misclassified test example" in view.gallery_note.text()
                    and " shown (" in view.gallery_note.text(), timeout=30_000)
    assert len(view.captions.texts()) == min(run.n_misclassified, 40)


def test_main_window_has_the_insight_tab_on_ctrl_6(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.main_window import WORKSPACES, MainWindow

    make_app()
    win = MainWindow(workspace="kernels", persist=False)
    qtbot.addWidget(win)
    win.show()
    try:
        assert WORKSPACES.index("insight") == 5 and win.tabs.tabText(5) == "Insight"
        win.activateWindow()
        qtbot.waitUntil(win.isActiveWindow, timeout=5000)
        qtbot.keyClick(win, Qt.Key.Key_6, Qt.KeyboardModifier.ControlModifier)
        assert win.current_workspace() == "insight" and win.insight.isVisible()
        # shown for the first time, it computes the default pair (a trained model beside its random twin)
        assert win.insight.busy() or win.insight.cka.result is not None
        win.insight.wait_ready(60_000)
        res = win.insight.cka.result
        assert res is not None and res.label_b == win.insight.cka.model_b.currentText()
        assert "random twin" in res.label_a or res.label_a == res.label_b
    finally:
        win.close()


def test_top_patches_open_on_a_trained_model_where_there_is_one(qtbot, insight):
    """The first entry, a random rdsn's sign stem, ties every positive response at 1 (no ranking to show): the
    panel opens on the shipped trained model instead, the same first choice as CKA's B and the filter statistics."""
    from widgets.analysis.common import DEFAULT_TRAINED

    p = insight.patches
    if p.picker.model.findText(DEFAULT_TRAINED) < 0:
        pytest.skip("no shipped trained model here")
    assert p.picker.model.currentText() == DEFAULT_TRAINED
    assert insight.cka.model_b.currentText() == DEFAULT_TRAINED
