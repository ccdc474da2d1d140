"""A new user's walkthrough of Experiments and Insight (audit_g, 2026-12-03), as the user sees it:
- the Experiments plot drew a one-image difference of a one-seed run as a slope, with no error bars;
- a first launch opened the heaviest recipe (ablation-cifar10, 40 cells) next to "Quick size (minutes on a CPU)";
- Top patches counted its "channel" from 0 without a word, where Live says "channels 1–16 (indices 0–15)";
- CKA said "Hover a cell for its value" over cells that print their values, and 500 images asked of digits' 450 test
  images were 450 without a word."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel

from app.experiments.store import Store

pytestmark = pytest.mark.gui

TINY = {"widths": (4, 8), "in_channels": 1, "input_size": 8}

# the walkthrough's probe-every-layer quick run (one seed, 450 digits test images): 97.33 / 97.11 / 96.00 % random,
# 96.89 / 98.67 / 98.67 % trained
WALKTHROUGH = {("random", 0): 438, ("random", 1): 437, ("random", 2): 432,
               ("trained", 0): 436, ("trained", 1): 444, ("trained", 2): 444}


def _settings(tmp_path, recipe: str | None = None) -> QSettings:
    s = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    if recipe:
        s.setValue("experiments/recipe", recipe)
    return s


def test_a_one_seed_plot_draws_each_points_test_set_standard_error_and_says_so(qtbot, tmp_path, fe_home):
    """probe-every-layer at the quick size, its six cells stored with the walkthrough's figures: each point has a bar
    of ± its binomial standard error on the 450 test images (97.33%: ± 0.76 points), the y axis takes the bars in, a
    point's tooltip gives it, and the line under the plot says "One seed: bars are the test-set standard error"."""
    from app.experiments.recipe import load_recipe, shipped
    from widgets.experiments.workspace import ExperimentsWorkspace

    store = Store(tmp_path / "exp.sqlite")
    recipe = load_recipe(next(p for p in shipped() if p.stem == "probe-every-layer"))
    for cell in recipe.cells(True):
        c = cell.to_dict()
        right = WALKTHROUGH[(c["variant"], c["settings"]["layer"])]
        store.put(c, {"kind": "probe", "test_top1": right / 450, "val_top1": 0.98, "n_test": 450, "seconds": 0.5})
    ws = ExperimentsWorkspace(settings=_settings(tmp_path, "probe-every-layer"), store=store)
    qtbot.addWidget(ws)
    ws.resize(1280, 720)
    ws.show()
    assert ws.recipe_combo.currentText() == "probe-every-layer" and ws.quick.isChecked()
    assert ws.plot.point_count() == 6
    by_name = dict(zip(("random", "trained"), ws.plot._items))
    curve, bars = by_name["random"]
    se = [100 * math.sqrt(p * (1 - p) / 450) for p in (438 / 450, 437 / 450, 432 / 450)]
    assert np.allclose(bars.opts["height"], [2 * s for s in se])  # (zero before: one seed, no spread)
    assert se[0] == pytest.approx(0.76, abs=0.005)
    tips = [pt.data() for pt in curve.scatter.points()]
    assert tips[0] == "random · layer index 0: 97.33% ± 0.76 (test-set standard error, 450 images)"
    note = ws.plot.note
    assert note.isVisible()
    assert note.text().startswith("One seed: bars are the test-set standard error (± 1 s.e., binomial, on 450 test "
                                  "images)")
    # the axis holds the bars: the lowest bar's foot (96.00 - 0.92) and the highest's top (98.67 + 0.54) in view
    y0, y1 = ws.plot.plot.viewRange()[1]
    assert y0 <= 96.0 - se[2] and y1 >= 100 * 444 / 450 + 100 * math.sqrt((444 / 450) * (6 / 450) / 450)
    ws.shutdown()


def test_bars_of_several_seeds_are_the_reports_spread_and_a_one_result_arm_its_standard_error(qtbot):
    """An ablation's accuracies: an arm whose seeds differ has the spread over seeds (as the report's table), an arm
    whose two seeds gave one result (a frozen bank) its test-set standard error; its changes: no such line."""
    from app.experiments.recipe import parse
    from app.experiments.results import live_view
    from app.experiments.runner import ExperimentResult
    from widgets.experiments.plot import ExperimentPlot, point_errors

    doc = {"name": "abl", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": [0, 1]}, "variants": [{"label": "full"}, {"label": "frozen", "pooling": "avg"}],
           "plot": {"kind": "ablation", "x": "variant", "baseline": ["full"]}}
    r = parse(doc, "planted.toml")
    cells = tuple(c.to_dict() for c in r.cells(False))
    figures = {("full", 0): 0.90, ("full", 1): 0.92, ("frozen", 0): 0.80, ("frozen", 1): 0.80}
    res = ExperimentResult(r, False, cells, {c["key"]: {"test_top1": figures[(c["variant"], c["settings"][
        "model_seed"])], "val_top1": 0.9, "n_test": 1000} for c in cells})
    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    plot.show()
    plot.set_view("value")
    v = live_view(res, change=False)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks, errors=point_errors(res))
    _, bars = plot._items[0]
    assert np.allclose(bars.opts["width"], [2 * 100 * 0.02 / math.sqrt(2), 2 * 100 * math.sqrt(0.8 * 0.2 / 1000)])
    assert plot.note.text() == ("Bars: ± std over seeds (the report's spread); a point with one result: the test-set "
                                "standard error (± 1 s.e., binomial, on 1,000 test images).")
    v = live_view(res, change=True)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks, errors=point_errors(res))
    assert not plot.note.isVisible()


def test_the_first_launch_opens_the_quickest_recipe_even_where_cifar10_is_unpacked(qtbot, tmp_path, fe_home,
                                                                                    monkeypatch):
    """CIFAR-10 unpacked at ablation-cifar10's own folder (as on the walkthrough's machine): a first launch opened
    that recipe (40 cells, "about 13 min") beside "Quick size (minutes on a CPU)". Now the quickest quick size whose
    data is here: probe-every-layer on digits, "about 6 s"; a remembered recipe is still the one opened."""
    from widgets.experiments.workspace import ExperimentsWorkspace

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".cache" / "fe" / "cifar10-jpg").mkdir(parents=True)
    ws = ExperimentsWorkspace(settings=_settings(tmp_path), store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.recipe_combo.currentText() == "probe-every-layer"
    assert ws.quick.isChecked() and ws.dataset.value() == "digits" and ws.dataset.problem() == ""
    assert "6 probe cell(s), about 6 s on a 2-core CPU" in ws.plan.text()
    ws.shutdown()
    again = ExperimentsWorkspace(settings=_settings(tmp_path, "ablation-cifar10"), store=Store(tmp_path / "e2.sqlite"))
    qtbot.addWidget(again)
    assert again.recipe_combo.currentText() == "ablation-cifar10"  # remembered: kept
    again.shutdown()


@pytest.fixture
def pool():
    from widgets.application import make_app
    from widgets.common.worker import WorkerPool

    make_app()
    p = WorkerPool()
    yield p
    p.shutdown()


def _labels(widget) -> list[str]:
    return [w.text() for w in widget.findChildren(QLabel)]


def test_top_patches_names_its_channel_an_index_with_its_range(qtbot, fe_home, pool):
    """Top patches: "channel index" beside the spin box (counted from 0), its tooltip gives the layer's range and
    Live's number for it, the result line says "channel index 0", and the 500 images asked of digits' 450 are said."""
    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.analysis.patches_panel import PatchesPanel

    session = Session()
    session.put_model("tiny simple", ModelSpec.make("simple", label="tiny simple", options=TINY,
                                                    weight_state="random"))
    p = PatchesPanel(session, pool)
    qtbot.addWidget(p)
    p.show()
    assert "channel index" in _labels(p) and "channel" not in _labels(p)
    assert p.picker.model.select("tiny simple")
    p.picker.load(0)
    qtbot.waitUntil(lambda: p.picker.channels() == 4 and p.channel.maximum() == 3, timeout=60_000)
    tip = p.channel.toolTip()
    assert tip.startswith("The channel's index in conv1, counted from 0: 0–3 (4 channels).")
    assert "index N is Live's channel N+1" in tip
    assert p.n.value() == 500
    p.k.setValue(2)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.view_data is not None and not p.bar.busy(), timeout=60_000)
    title = p.title.text()
    assert " channel index 0 · " in title and " channel 0 " not in title
    assert "top 2 of 450 digits test images (450 of the 500 asked: the test split holds 450)" in title


def test_cka_says_what_hovering_adds_and_when_the_split_held_fewer_images(qtbot, fe_home, pool):
    """The cells print their values: the line under the heatmap says hovering gives the pair of layers and a third
    decimal (not "Hover a cell for its value"); 500 images asked of digits' 450: the title says 450 of the 500."""
    from app.models.spec import ModelSpec
    from app.session import Session
    from widgets.analysis.cka_panel import CKAPanel

    session = Session()
    for name, seed in (("tiny A", 0), ("tiny B", 1)):
        session.put_model(name, ModelSpec.make("simple", label=name, options=TINY, weight_state="random", seed=seed))
    p = CKAPanel(session, pool)
    qtbot.addWidget(p)
    p.show()
    assert p.model_a.select("tiny A") and p.model_b.select("tiny B")
    p.n.setValue(500)
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.result is not None and not p.bar.busy(), timeout=60_000)
    assert p.values.texts()  # the values are printed in the cells
    assert "Hover a cell for its value" not in p.readout.text()
    assert p.readout.text().endswith("Hover a cell for its layers and a third decimal.")
    title = p.plot.getPlotItem().titleLabel.text
    assert title == "linear CKA on 450 images (450 of the 500 asked: the digits test split holds 450)"
    p.n.setValue(300)  # a sample the split holds: no such words
    p.result = None
    qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: p.result is not None and not p.bar.busy(), timeout=60_000)
    assert p.plot.getPlotItem().titleLabel.text == "linear CKA on 300 images"
