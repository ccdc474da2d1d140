"""An audit of the Experiments' figures (2026-12-03): what the ablation table, chart and plot said of partial runs,
p values at 0.05, seeds that gave one result, plot metrics the recipe format accepts, the baseline arm's look."""

from __future__ import annotations

import pytest

from app.experiments.ablation import ablation, ablation_table, holm_mark
from app.experiments.recipe import parse
from app.experiments.results import as_text, groups, live_view, metric_value, plot_series
from app.experiments.runner import ExperimentResult
from app.probe.paired import mcnemar_exact, p_text

N = 1000


def _result(doc: dict, figures) -> ExperimentResult:
    r = parse(doc, "planted.toml")
    cells = tuple(c.to_dict() for c in r.cells(False))
    return ExperimentResult(r, False, cells, {c["key"]: f for c in cells if (f := figures(c)) is not None})


def _ablation(plot_extra=None) -> dict:
    return {"name": "abl", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
            "seeds": {"model": [0, 1, 2]}, "variants": [{"label": "full"}, {"label": "no-x", "pooling": "avg"}],
            "plot": {"kind": "ablation", "x": "variant", **(plot_extra or {"baseline": ["full"]})}}


def _rec(wrong, val=0.9) -> dict:
    return {"test_top1": (N - len(wrong)) / N, "val_top1": val, "n_test": N, "misclassified": list(wrong),
            "test_fingerprint": "fp"}


def test_a_change_resting_on_fewer_seeds_than_planned_says_so_and_is_not_marked_every_seed():
    """The baseline finished seed 0 only (1 and 2 failed): the arm's change rests on one seed of three. The table
    said "+4.00" and the chart "**" (beyond chance "in every seed")."""
    def fig(c):
        s = c["settings"]["model_seed"]
        if c["variant"] == "full":
            return _rec(range(100)) if s == 0 else {"error": "out of memory"}
        return _rec(range(60)) if s == 0 else _rec(range(300))

    res = _result(_ablation(), fig)
    arm = ablation(res)[1]
    assert (arm["n"], arm["planned"], arm["n_delta_test_top1"]) == (3, 3, 1)
    row = [line for line in ablation_table(res) if line.startswith("| no-x ")][0]
    assert "| +4.00 (1 of 3 seeds) |" in row and "| +0.00 (1 of 3 seeds) |" in row
    assert arm["paired_p_holm"][0] < 0.05 and holm_mark(arm["paired_p_holm"], arm["planned"]) == "*"
    assert holm_mark(arm["paired_p_holm"]) == "**"  # (what it read without the planned count)
    assert live_view(res, change=True).marks == {"full": "", "no-x": "*"}
    from app.experiments.report import _plot

    svg = _plot(res, groups(res))
    assert ">no-x (1 of 3 seeds) *</text>" in svg
    # every seed paired: no count, and "**" where every seed is beyond chance
    res = _result(_ablation(), lambda c: _rec(range(100)) if c["variant"] == "full" else _rec(range(300)))
    arm = ablation(res)[1]
    assert holm_mark(arm["paired_p_holm"], arm["planned"]) == "**"
    assert "| -20.00 ± 0.00 |" in [line for line in ablation_table(res) if line.startswith("| no-x ")][0]


def test_seeds_that_gave_one_result_read_as_one_in_the_ablation_table():
    """As the results table: "3 (identical)" and no "± 0.00" (two agreeing replicates it is not)."""
    res = _result(_ablation(), lambda c: _rec(range(20)) if c["variant"] == "full" else _rec(range(10)))
    table = as_text(ablation_table(res))
    assert "3 (identical)" in table and "98.00 ± 0.00" not in table and "98.00" in table and "99.00" in table


def test_a_p_value_below_005_never_reads_005():
    p = mcnemar_exact(117, 150)
    assert 0.04995 <= p < 0.05 and p_text(p) == "p = 0.04998"
    assert p_text(0.05) == "p = 0.05" and p_text(0.0312) == "p = 0.0312" and p_text(0.5) == "p = 0.5"
    assert p_text(0.0499996) == "p = 0.0499996" and p_text(2e-5) == "p = 2.00e-05"


@pytest.mark.parametrize("metric,cell", [
    ("top5", {"top5": 0.98}),
    ("precision_at_10", {"retrieval": {"precision@10": 0.97, "mAP": 0.6}}),
    ("map", {"retrieval": {"precision@10": 0.97, "mAP": 0.6}}),
])
def test_every_metric_a_recipe_may_plot_is_drawn(metric, cell):
    """A recipe's plot y may be top5, precision_at_10 or map (``recipe.METRICS``); the groups computed none of them
    and the plot drew no point (the paper's line alone)."""
    doc = {"name": "t", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "grid": {"options.k": [32, 64]}, "seeds": {"model": [0, 1]}, "plot": {"x": "options.k", "y": metric}}
    res = _result(doc, lambda c: {"test_top1": 0.9, "val_top1": 0.9, **cell})
    series, _ = plot_series(res)
    want = metric_value(cell, metric)
    assert want is not None and [m for _, m, _ in series["ours"]] == pytest.approx([want, want])


def test_the_knn_heads_retrieval_figures_reach_the_run_and_the_cell(tmp_path, monkeypatch):
    """The k-NN head measured precision@k and mAP but no run kept them: the cell's ``retrieval`` was always None."""
    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path))
    from app.experiments.cell import run_cell
    from app.experiments.recipe import Cell

    settings = {"backbone": "simple", "dataset": "digits", "head": "knn", "train_limit": 200, "test_limit": 100,
                "options": {"widths": [4, 8]}}
    out = run_cell(Cell("t", "probe", tuple(sorted(settings.items()))).to_dict())
    r = out["retrieval"]
    assert set(r) >= {"precision@1", "precision@10", "mAP"} and 0 < r["precision@10"] <= 1
    assert metric_value(out, "precision_at_10") == r["precision@10"] and metric_value(out, "map") == r["mAP"]


@pytest.mark.gui
@pytest.mark.parametrize("plot", [{"baseline": "full"}, {}])
def test_the_plot_draws_the_baseline_arm_as_the_baseline_however_the_recipe_names_it(qtbot, plot):
    """``baseline = "full"`` (a label, not a list) was read letter by letter, and no baseline (the first arm by
    default) as none: the baseline arm was drawn as an arm, "+0.00 points against its baseline"."""
    from widgets.experiments.plot import ExperimentPlot

    res = _result(_ablation(plot), lambda c: {"test_top1": 0.9 if c["variant"] == "full" else 0.85,
                                               "val_top1": 0.9})
    p = ExperimentPlot()
    qtbot.addWidget(p)
    v = live_view(res, change=True)
    p.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks)
    curve, _ = p._items[0]
    assert list(curve.opts["symbol"]) == ["s", "o"]
    assert list(curve.scatter.data["data"])[0] == "full: the baseline the arms below it are compared with"


def test_the_reports_chart_draws_categories_as_dots_not_bars_from_a_cut_axis():
    """Bars from the bottom of an axis that does not start at zero: 91.11% drawn 12.7 px tall beside 97.78% at
    267.3 px (the untrained-features report). Now a dot per category at its value."""
    import re

    from app.experiments.svg import PALETTE, chart

    svg = chart({"ours": [("gabor", 0.9111, 0.0), ("trained", 0.9778, 0.01)]}, title="t", x_label="", y_label="")
    colour = PALETTE[0]
    assert not re.search(rf'<rect [^>]*height="[0-9.]+" fill="{colour}" opacity', svg)  # no bar
    dots = re.findall(rf'<circle cx="([0-9.]+)" cy="([0-9.]+)" r="4.5" fill="{colour}"/>', svg)
    assert len(dots) == 2 and float(dots[0][1]) > float(dots[1][1])  # the lower figure lower down
    assert svg.count(f'stroke="{colour}" stroke-width="1.5"') == 1  # the one spread measured


def test_a_seed_that_does_not_reach_the_cells_is_not_counted_as_replicates():
    """Model seeds 0-2 x split seeds 0-1 where the model seed changes nothing (trained weights, say): 6 cells, 2
    results. The table read 91.00 ± 1.10 (n 6, each result three times); over the 2 results it is 91.00 ± 1.41."""
    from app.experiments.results import results_table

    doc = {"name": "s2", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": [0, 1, 2], "split": [0, 1]}}
    res = _result(doc, lambda c: {"test_top1": {0: 0.90, 1: 0.92}[c["settings"]["split_seed"]]})
    g = groups(res)[0]
    assert g["unreached"] == ["model_seed"] and (g["n"], g["n_distinct"]) == (6, 2)
    assert g["test_top1"] == pytest.approx((0.91, 0.02 / 2 ** 0.5))
    assert "| 6 (2 distinct: model_seed does not reach) | 91.00 ± 1.41 |" in "\n".join(results_table(res))
    # both seeds reach: every cell a replicate, nothing said
    res = _result(doc, lambda c: {"test_top1": 0.9 + 0.01 * c["settings"]["split_seed"]
                                  + 0.001 * c["settings"]["model_seed"]})
    g = groups(res)[0]
    assert g["unreached"] == [] and g["n_distinct"] == 6
    # one seed list alone that changes nothing: "identical", as before
    one = {**doc, "seeds": {"model": [0, 1]}}
    g = groups(_result(one, lambda c: {"test_top1": 0.9}))[0]
    assert g["identical"] and g["unreached"] == []


def test_the_reports_hardware_names_both_when_some_cells_ran_on_a_gpu():
    """Cells computed partly on a GPU and partly on a CPU were said to be computed on "a GPU" alone."""
    from app.experiments.report import _hardware

    doc = _ablation()
    on = {0: "CUDA: NVIDIA H200", 1: "CUDA: NVIDIA H200", 2: "CPU (2 threads)"}
    res = _result(doc, lambda c: {**_rec(range(10)), "device": on[c["settings"]["model_seed"]]})
    assert _hardware(res) == "a GPU (NVIDIA H200) for some cells, CPU (2 threads) for the others"
    res = _result(doc, lambda c: {**_rec(range(10)), "device": "CUDA: NVIDIA H200"})
    assert _hardware(res) == "a GPU (NVIDIA H200)"
