"""An audit of the Experiments' error bars (33): a one-seed point at 0% or 100% (or on few images) read "± 0.00" with
no bar in the workspace's plot, where the project's own rule (``app.metrics.spread_text``) gives the Wilson interval;
the report's standalone SVG chart never said what its bars are."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from app.experiments.recipe import parse
from app.experiments.results import groups, live_view
from app.experiments.runner import ExperimentResult
from app.metrics import accuracy_interval, spread_text, standard_error

N = 50


def _result(doc: dict, figures) -> ExperimentResult:
    r = parse(doc, "planted.toml")
    cells = tuple(c.to_dict() for c in r.cells(False))
    return ExperimentResult(r, False, cells, {c["key"]: figures(c) for c in cells})


def _lines(seeds: list[int], figures: dict) -> ExperimentResult:
    """Three variants over the variant axis, ``seeds`` model seeds, on ``N`` test images (``figures``: (variant,
    seed) -> top-1)."""
    doc = {"name": "bars", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": seeds},
           "variants": [{"label": "all"}, {"label": "one-off", "pooling": "avg"}, {"label": "half", "pooling": "max"}],
           "plot": {"x": "variant"}}
    return _result(doc, lambda c: {"test_top1": figures[(c["variant"], c["settings"]["model_seed"])],
                                   "val_top1": 0.9, "n_test": N})


def _ends(plot) -> list[tuple[float, float]]:
    """Every bar's (foot, top) in %, series after series (one series per variant here: one point each)."""
    return [(y - h / 2, y + h / 2) for _, bars in plot._items for y, h in zip(bars.opts["y"], bars.opts["height"])]


def _points(plot) -> list:
    return [pt for curve, _ in plot._items for pt in curve.scatter.points()]


# --- 1. the plot: a one-seed point near 0% or 100% -------------------------------------------------------------
def test_a_one_seed_point_at_100_or_98_percent_says_its_wilson_interval_not_a_standard_error():
    """The audit's figures: 50 of 50 read "100.00% ± 0.00 (test-set standard error, 50 images)", 49 of 50 "± 1.98";
    the reports (``spread_text``) give their Wilson intervals, 92.87-100.00 and 89.50-99.65."""
    from widgets.experiments.error_bars import PointError, _value

    assert _value(100.0, 0.0, PointError(1, 1, standard_error(1.0, N), N)) == \
        "100.00%, 95% CI 92.87-100.00 (Wilson, 50 images)"
    assert spread_text(1.0, N) == "95% CI 92.87-100.00"
    assert _value(98.0, 0.0, PointError(1, 1, standard_error(0.98, N), N, 0.98)) == \
        "98.00%, 95% CI 89.50-99.65 (Wilson, 50 images)"
    assert _value(0.0, 0.0, PointError(1, 1, standard_error(0.0, N), N)) == \
        "0.00%, 95% CI 0.00-7.13 (Wilson, 50 images)"
    # where the normal approximation holds (10 right and 10 wrong at least), the s.e. as before
    assert _value(50.0, 0.0, PointError(1, 1, standard_error(0.5, N), N, 0.5)) == \
        "50.00% ± 7.07 (test-set standard error, 50 images)"
    # several seeds: the spread over them, whatever the figure
    assert _value(99.0, 1.41, PointError(2, 2)) == "99.00% ± 1.41 (spread over seeds)"


def test_the_plot_draws_a_one_seed_points_wilson_interval_and_the_note_says_so(qtbot):
    """One seed: 50/50, 49/50 and 25/50. The first two get their Wilson intervals as lopsided bars (92.87-100 and
    89.50-99.65, not a bar of zero length and ± 1.98), the third its ± 1 s.e. (7.07); the tooltips and the line under
    the plot say which."""
    from widgets.experiments.plot import ExperimentPlot, point_errors

    res = _lines([0], {("all", 0): 1.0, ("one-off", 0): 0.98, ("half", 0): 0.5})
    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    plot.show()
    v = live_view(res)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, errors=point_errors(res))
    assert [pt.pos().y() for pt in _points(plot)] == pytest.approx([100.0, 98.0, 50.0])
    want = [tuple(100 * e for e in accuracy_interval(p, N)) for p in (1.0, 0.98)]
    se = 100 * standard_error(0.5, N)
    assert np.allclose(_ends(plot), want + [(50 - se, 50 + se)])
    assert want[0] == pytest.approx((92.87, 100.0), abs=0.005) and want[1] == pytest.approx((89.50, 99.65), abs=0.005)
    tips = [pt.data() for pt in _points(plot)]
    assert tips == ["all · variant all: 100.00%, 95% CI 92.87-100.00 (Wilson, 50 images)",
                    "one-off · variant one-off: 98.00%, 95% CI 89.50-99.65 (Wilson, 50 images)",
                    "half · variant half: 50.00% ± 7.07 (test-set standard error, 50 images)"]
    assert plot.note.text() == (
        "One seed: bars are the test-set standard error (± 1 s.e., binomial, on 50 test images), or the Wilson 95% "
        "interval where fewer than 10 images are right or wrong (an s.e. there would claim too much certainty); "
        "points whose bars overlap are not told apart.")
    y0, _ = plot.plot.viewRange()[1]
    assert y0 <= want[1][0]  # the axis holds the lowest bar's foot
    # the same points updated in place (a cell finished): the bars stay the intervals
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, errors=point_errors(res))
    assert np.allclose(_ends(plot), want + [(50 - se, 50 + se)])


def test_only_wilson_points_say_so_alone_and_several_seeds_keep_their_spread(qtbot):
    """Every one-seed point near 100%: the note names the Wilson interval only. Two seeds per point: the bars are
    ± 1 std over seeds (the report's spread) even at 99-100%, as before."""
    from widgets.experiments.plot import ExperimentPlot, bars_note, point_errors

    res = _lines([0], {("all", 0): 1.0, ("one-off", 0): 0.98, ("half", 0): 0.96})
    infos = list(point_errors(res).values())
    assert bars_note(infos) == ("One seed: bars are the Wilson 95% interval of the test-set accuracy (binomial, on 50 "
                                "test images: fewer than 10 right or wrong, where an s.e. would claim too much "
                                "certainty); points whose bars overlap are not told apart.")
    two = _lines([0, 1], {("all", 0): 1.0, ("all", 1): 0.98, ("one-off", 0): 0.98, ("one-off", 1): 0.96,
                          ("half", 0): 0.5, ("half", 1): 0.54})
    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    v = live_view(two)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, errors=point_errors(two))
    sd = 100 * 0.02 / math.sqrt(2)
    assert np.allclose(_ends(plot), [(99 - sd, 99 + sd), (97 - sd, 97 + sd), (52 - 2 * sd, 52 + 2 * sd)])
    assert plot.note.text() == "Bars: ± std over seeds (the report's spread)."
    assert _points(plot)[0].data().split(": ", 1)[1] == "99.00% ± 1.41 (spread over seeds)"


def test_an_ablation_arm_of_one_result_at_100_percent_gets_its_wilson_interval_along_x(qtbot):
    """An ablation's accuracies: an arm whose two seeds gave one result, 100% (a frozen bank), had a bar of zero width
    ("± 0.00"); now its Wilson interval, left of the point. The arm whose seeds differ keeps ± 1 std."""
    from widgets.experiments.plot import ExperimentPlot, point_errors

    doc = {"name": "abl", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": [0, 1]}, "variants": [{"label": "full"}, {"label": "frozen", "pooling": "avg"}],
           "plot": {"kind": "ablation", "x": "variant", "baseline": ["full"]}}
    figures = {("full", 0): 0.90, ("full", 1): 0.94, ("frozen", 0): 1.0, ("frozen", 1): 1.0}
    res = _result(doc, lambda c: {"test_top1": figures[(c["variant"], c["settings"]["model_seed"])],
                                  "val_top1": 0.9, "n_test": N})
    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    plot.show()
    plot.set_view("value")
    v = live_view(res, change=False)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks, errors=point_errors(res))
    curve, bars = plot._items[0]
    o = bars.opts
    ends = [(x - w / 2, x + w / 2) for x, w in zip(o["x"], o["width"])]
    sd = 100 * 0.04 / math.sqrt(2)
    lo, hi = accuracy_interval(1.0, N)
    assert np.allclose(ends, [(92 - sd, 92 + sd), (100 * lo, 100 * hi)])
    assert list(curve.scatter.data["data"])[1] == "frozen: 100.00%, 95% CI 92.87-100.00 (Wilson, 50 images)"
    assert "the Wilson 95% interval of the test-set accuracy" in plot.note.text()
    assert plot._x_fit[0] <= 100 * lo  # the x range holds the interval's foot


# --- 2. the report's SVG chart says what its bars are ----------------------------------------------------------
def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_the_reports_svg_chart_says_its_bars_are_one_std_over_seeds():
    from app.experiments.report import _plot
    from app.experiments.svg import chart

    two = _lines([0, 1], {("all", 0): 1.0, ("all", 1): 0.98, ("one-off", 0): 0.98, ("one-off", 1): 0.96,
                          ("half", 0): 0.5, ("half", 1): 0.54})
    texts = _texts(_plot(two, groups(two)))  # the report's own .svg file
    assert "error bars: ± 1 std over seeds" in texts
    # a point without a spread (one seed there) has no bar, and the line says so
    svg = chart({"ours": [(1, 0.9, 0.01), (2, 0.95, 0.0)]}, x_label="k")
    assert "error bars: ± 1 std over seeds; no bar: one seed (or seeds that gave the same figures)" in _texts(svg)
    assert svg.count("<line x1=") - svg.count('stroke="#e5e5e5"') == 1  # the one bar drawn
    # one seed everywhere: no bar at all, and no claim of one
    one = _lines([0], {("all", 0): 1.0, ("one-off", 0): 0.98, ("half", 0): 0.5})
    texts = _texts(_plot(one, groups(one)))
    assert "no error bars: one seed per point (or seeds that gave the same figures)" in texts
    assert not any(t.startswith("error bars") for t in texts)
    # no points: no line about bars
    assert not any("error bars" in t for t in _texts(chart({"ours": []})))


def test_the_svg_charts_bar_line_sits_below_the_axis_label_inside_the_picture():
    from app.experiments.svg import chart

    svg = chart({"ours": [("a", 0.9, 0.01), ("b", 0.95, 0.02)]}, x_label="variant", height=360)
    root = ET.fromstring(svg)
    ys = {"".join(t.itertext()): float(t.get("y")) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    frame = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("stroke") == "#888"][0]
    bottom = float(frame.get("y")) + float(frame.get("height"))
    assert bottom < ys["b"] < ys["variant"] < ys["error bars: ± 1 std over seeds"] <= 360
