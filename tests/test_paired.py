"""Two stored runs on the same test images, compared image by image (``app.probe.paired``, ``history pair``, the
history box with two runs selected): McNemar's exact test pinned against scipy and a hand computation, the counts
against the runs' own accuracies, and every pair that is not on the same images refused with its reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.probe.paired import (
    PairingError,
    compare_pair,
    clopper_pearson,
    difference_interval,
    mcnemar_exact,
    paired_summary,
    paired_text,
)

ROOT = Path(__file__).resolve().parents[1]


def _run(rid, wrong, n=100, fingerprint="f1", classes=("a", "b"), resolved=None, **extra):
    d = {"run_id": rid, "n_test": n, "classes": list(classes), "misclassified": list(wrong),
         "test_top1": (n - len(set(wrong))) / n, "test_fingerprint": fingerprint,
         "resolved": resolved if resolved is not None else {
             "dataset": "digits", "data_root": None, "test_limit": None, "seeds": {"split": 0},
             "model": {"label": f"m{rid}", "backbone": "rdsn"}}}
    d.update(extra)
    return d


def test_mcnemar_by_hand_and_against_scipy():
    # 12 against 2: 2 (C(14,0) + C(14,1) + C(14,2)) / 2^14 = 2 * 106 / 16384
    assert mcnemar_exact(12, 2) == pytest.approx(212 / 16384, rel=1e-12)
    assert mcnemar_exact(2, 12) == mcnemar_exact(12, 2)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0  # capped: the two tails overlap at the middle
    assert mcnemar_exact(0, 1) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    stats = pytest.importorskip("scipy.stats")
    for a, b in [(1, 9), (17, 30), (63, 17), (300, 260), (3000, 3200), (41, 40), (0, 25)]:
        want = stats.binomtest(min(a, b), a + b, 0.5).pvalue
        assert mcnemar_exact(a, b) == pytest.approx(want, rel=1e-9, abs=1e-300), (a, b)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_difference_interval_is_the_exact_one_of_the_disagreements():
    """Clopper-Pearson of a_only / m (scipy's exact binomial interval), mapped to (2 theta - 1) m / n; it was
    Wald's, which said "beyond chance" beside p = 0.065 (9 against 2 on 1,000 images: +0.05 to +1.35 points)."""
    from scipy.stats import binomtest

    for a, b, n in [(30, 10, 1000), (9, 2, 1000), (3, 16, 450), (0, 7, 100), (5, 0, 5), (1, 0, 10), (4800, 5200, 20000)]:
        m = a + b
        ci = binomtest(a, m).proportion_ci(confidence_level=0.95, method="exact")
        want = ((2 * ci.low - 1) * m / n, (2 * ci.high - 1) * m / n)
        assert difference_interval(a, b, n) == pytest.approx(want, rel=1e-9, abs=1e-12), (a, b, n)
        assert clopper_pearson(a, m) == pytest.approx((ci.low, ci.high), rel=1e-9, abs=1e-12)
    lo, hi = difference_interval(9, 2, 1000)
    assert lo < 0 < hi and mcnemar_exact(9, 2) > 0.05  # the interval and the test agree
    assert difference_interval(5, 0, 5)[1] == 1.0 and difference_interval(5, 0, 5)[0] < 1.0  # not zero wide
    assert difference_interval(0, 0, 1000) is None and difference_interval(5, 5, 0) is None
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_the_interval_excludes_zero_exactly_when_mcnemar_is_significant():
    for a in range(0, 40):
        for b in range(0, 40):
            if a + b:
                lo, hi = difference_interval(a, b, 1000)
                assert (lo > 0 or hi < 0) == (mcnemar_exact(a, b) < 0.05), (a, b)


def test_counts_give_each_runs_accuracy_and_the_difference():
    a = _run(1, [0, 1, 2, 3, 50])
    b = _run(2, [2, 3, 4, 5, 6, 7, 8, 9])
    c = compare_pair(a, b)
    assert (c.a_only, c.b_only, c.both_wrong, c.both_right) == (6, 3, 2, 89)
    assert c.a_top1 == pytest.approx(0.95) and c.b_top1 == pytest.approx(0.92)
    assert c.difference == pytest.approx(c.a_top1 - c.b_top1)
    assert c.p_value == pytest.approx(mcnemar_exact(6, 3))
    assert c.interval == pytest.approx(difference_interval(6, 3, 100)) and not c.significant  # 9 disagreements
    assert c.interval[0] < 0 < c.interval[1]
    assert c.basis == "fingerprint"
    text = paired_text(c, "run 1 (m1, random)", "run 2 (m2, random)")
    assert "Right for run 1 and wrong for run 2: 6 images; the reverse: 3; wrong for both: 2" in text
    lo, hi = c.interval
    assert "no significant difference" in text and f"(exact 95% CI {100 * lo:+.2f} to {100 * hi:+.2f})" in text
    d = c.to_dict()
    assert d["a_right_b_wrong"] == 6 and d["b_right_a_wrong"] == 3 and d["paired_by"] == "fingerprint"
    json.dumps(d)


def test_a_clear_difference_is_called_one():
    a = _run(1, range(10), n=1000)
    b = _run(2, range(5, 60), n=1000)
    c = compare_pair(a, b)
    assert (c.a_only, c.b_only) == (50, 5) and c.significant
    assert c.interval[0] > 0
    assert "run 1 is more accurate" in paired_summary(c)
    assert "run 1 is more accurate than run 2" in paired_text(compare_pair(b, a)) or \
        "run 1 is more accurate" in paired_text(compare_pair(b, a))
    assert compare_pair(b, a).difference == pytest.approx(-c.difference)


@pytest.mark.parametrize("change, reason", [
    ({"n_test": 99}, "100 test images and run 2 on 99"),
    ({"classes": ["a", "c"]}, "different classes"),
    ({"test_fingerprint": "f2"}, "different test images"),
])
def test_runs_on_other_images_are_refused(change, reason):
    a = _run(1, [1])
    b = dict(_run(2, [2]), **change)
    with pytest.raises(PairingError, match=reason):
        compare_pair(a, b)


def test_runs_stored_before_fingerprints_pair_by_their_settings():
    a = _run(1, [1, 2], fingerprint=None)
    b = _run(2, [2, 3], fingerprint=None)
    c = compare_pair(a, b)
    assert c.basis == "settings" and "known by their settings" in paired_text(c)
    # the same subset size from another seed: other images
    other = dict(a["resolved"], test_limit=100, seeds={"split": 1})
    same_limit = dict(a["resolved"], test_limit=100, seeds={"split": 0})
    with pytest.raises(PairingError, match="chose their test images differently"):
        compare_pair(_run(1, [1], fingerprint=None, resolved=other), _run(2, [2], fingerprint=None,
                                                                         resolved=same_limit))
    with pytest.raises(PairingError, match="stored before runs recorded"):
        compare_pair(_run(1, [1], fingerprint=None, resolved={}), b)


def test_an_incomplete_or_foreign_record_is_refused():
    with pytest.raises(PairingError, match="do not fit"):
        compare_pair(_run(1, [100]), _run(2, [1]))
    bad = dict(_run(1, [1, 2]), test_top1=0.99)  # says 1 wrong, lists 2
    with pytest.raises(PairingError, match="incomplete"):
        compare_pair(bad, _run(2, [1]))


def _probe(args, home):
    out = subprocess.run([sys.executable, "main.py", "probe", "--dataset", "digits", "--json", *args], cwd=ROOT,
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                              "FILTER_EXPLORER_HOME": str(home)}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def _history(args, home):
    import os

    return subprocess.run([sys.executable, "main.py", "history", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "FILTER_EXPLORER_HOME": str(home)}, timeout=120)


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Two probes of digits' whole test split (rdsn, simple) and one of a 200-image subset, in one history."""
    from app.probe.config import ProbeConfig
    from app.probe.history import History
    from app.models.spec import ModelSpec
    from app.probe.run import run_probe
    from app.tasks import run_to_end

    home = tmp_path_factory.mktemp("paired-home")
    db = History(home / "history.sqlite")
    ids = []
    for backbone, limit in (("rdsn", None), ("simple", None), ("simple", 200)):
        cfg = ProbeConfig(model=ModelSpec.make(backbone), dataset="digits", head="ridge", train_limit=600,
                          test_limit=limit, seed=0)
        ids.append(db.add(run_to_end(run_probe(cfg)).to_dict()))
    db.close()
    return home, ids


def test_real_runs_pair_by_their_fingerprint(three_runs):
    from app.probe.history import History

    home, (a, b, sub) = three_runs
    with History(home / "history.sqlite") as h:
        ra, rb, rs = h.get(a), h.get(b), h.get(sub)
    assert ra["test_fingerprint"] and ra["test_fingerprint"] == rb["test_fingerprint"] != rs["test_fingerprint"]
    c = compare_pair(ra, rb)
    assert c.n == 450 and c.basis == "fingerprint"
    assert c.a_top1 == pytest.approx(ra["test_top1"]) and c.b_top1 == pytest.approx(rb["test_top1"])
    with pytest.raises(PairingError, match="450 test images.*200|different test images"):
        compare_pair(ra, rs)


def test_history_pair_command(three_runs):
    home, (a, b, sub) = three_runs
    out = _history(["pair", str(a), str(b)], home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"run {a} (rdsn, random) vs run {b} (simple, random), the same 450 test images")
    assert "McNemar's exact p" in out.stdout
    js = _history(["pair", str(a), str(b), "--json"], home)
    d = json.loads(js.stdout)
    assert d["a"] == a and d["b"] == b and d["n_test"] == 450 and d["test"] == "McNemar exact (two-sided)"
    assert d["difference"] == pytest.approx(d["a_test_top1"] - d["b_test_top1"])
    for args, msg in ((["pair", str(a), str(sub)], "450 test images"), (["pair", str(a), str(a)], "two different"),
                      (["pair", str(a), "999"], "no run with id 999")):
        bad = _history(args, home)
        assert bad.returncode == 2 and msg in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


@pytest.mark.gui
def test_two_runs_selected_show_their_paired_test(qtbot, three_runs, monkeypatch):
    from PySide6.QtCore import QItemSelectionModel

    from widgets.probe.history_panel import HistoryPanel

    home, (a, b, sub) = three_runs
    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(home))
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.resize(700, 400)
    panel.show()
    panel.refresh()
    table = panel.table
    assert not table.pair.isVisible()

    def select(*ids):
        table.table.clearSelection()
        sm = table.table.selectionModel()
        for rid in ids:
            row = table.shown_ids().index(rid)
            sm.select(table.model.index(row, 0), QItemSelectionModel.SelectionFlag.Select |
                      QItemSelectionModel.SelectionFlag.Rows)

    select(a)
    assert not table.pair.isVisible()
    select(a, b)
    assert table.pair.isVisible()
    text = table.pair.text()
    assert "the same 450 test images" in text and "McNemar" in text
    assert "Right for run" in table.pair.toolTip()  # the whole comparison under the mouse
    select(a, sub)
    assert table.pair.isVisible() and table.pair.text().startswith("No paired test:")
    select(a, b, sub)
    assert not table.pair.isVisible()


# --- an ablation's arms against their baseline, image by image ----------------------------------------------------------
ABLATION = """name = "t"
title = "t"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
[seeds]
model = [0, 1]
[[variants]]
label = "full"
[[variants]]
label = "less"
[plot]
kind = "ablation"
x = "variant"
"""


def clear_and_chance(arm, seed):
    """The "less" arm's errors against the full arm's 20: seed 0, 30 more wrong and 2 fewer (2 against 30: beyond
    chance, also after Holm's adjustment); seed 1, 3 more and 2 fewer (2 against 3: chance)."""
    base = list(range(20))
    if arm == "full":
        return base
    return base[2:] + list(range(100, 130)) if seed == 0 else base[2:] + [200, 201, 202]


def _ablation_result(tmp_path, wrong_of):
    """An ablation result of two arms x two seeds whose cells record ``wrong_of(arm, seed)`` as their errors."""
    from app.experiments.recipe import load_recipe
    from app.experiments.runner import ExperimentResult

    path = tmp_path / "t.toml"
    path.write_text(ABLATION)
    r = load_recipe(path)
    cells = tuple(c.to_dict() for c in r.cells())
    figures = {}
    for c in cells:
        wrong = wrong_of(c["variant"], c["settings"]["model_seed"])
        figures[c["key"]] = {"test_top1": (1000 - len(wrong)) / 1000, "val_top1": 0.9, "n_test": 1000,
                             "misclassified": wrong, "test_fingerprint": "same", "seconds": 1.0}
    return ExperimentResult(r, False, cells, figures), cells


def test_an_ablations_arms_get_mcnemars_p_per_seed(tmp_path):
    from app.experiments.ablation import ablation, ablation_table, cell_pairs

    res, cells = _ablation_result(tmp_path, clear_and_chance)
    rows = {a["arm"]: a for a in ablation(res)}
    assert rows["full"]["paired_p"] == []
    assert rows["less"]["paired_counts"] == [(2, 30), (2, 3)]
    assert rows["less"]["paired_p"] == [pytest.approx(mcnemar_exact(2, 30)), pytest.approx(1.0)]
    line = next(t for t in ablation_table(res) if t.startswith("| less |"))
    assert f"| {mcnemar_exact(2, 30):.2e}, 1 |" in line, line
    pairs = cell_pairs(res)
    less0 = next(c["key"] for c in cells if c["variant"] == "less" and c["settings"]["model_seed"] == 0)
    full0 = next(c["key"] for c in cells if c["variant"] == "full" and c["settings"]["model_seed"] == 0)
    assert pairs[full0] is None and (pairs[less0].a_only, pairs[less0].b_only) == (2, 30)


def test_cells_without_a_record_of_their_images_get_no_p(tmp_path):
    from app.experiments.ablation import ablation, ablation_table

    res, cells = _ablation_result(tmp_path, lambda arm, seed: [1, 2, 3])
    for key in list(res.results)[:1]:  # one cell stored before cells kept their images
        res.results[key] = {k: v for k, v in res.results[key].items() if k not in ("misclassified",
                                                                                    "test_fingerprint")}
    rows = {a["arm"]: a for a in ablation(res)}
    assert None in rows["less"]["paired_p"]
    line = next(t for t in ablation_table(res) if t.startswith("| less |"))
    assert "| -, 1 |" in line or "| 1, - |" in line, line


@pytest.mark.gui
def test_the_experiments_table_shows_p_beside_each_change(qtbot, tmp_path):
    from app.experiments.results import live_view
    from widgets.experiments.panels import CellTable

    def wrong_of(arm, seed):
        return list(range(20)) if arm == "full" else list(range(2, 20)) + list(range(100, 130))

    res, cells = _ablation_result(tmp_path, wrong_of)
    table = CellTable()
    qtbot.addWidget(table)
    table.set_cells(list(cells), res.results)
    v = live_view(res, change=True)
    table.set_changes(v.changes, set(v.baselines), v.metric, v.pairs)
    less0 = next(c["key"] for c in cells if c["variant"] == "less")
    assert table.change_of(less0) == f"-2.80 pts · p = {mcnemar_exact(2, 30):.2e}"
    full0 = next(c["key"] for c in cells if c["variant"] == "full")
    assert table.change_of(full0) == "baseline"


def test_holm_by_hand():
    from app.probe.paired import holm

    # sorted 0.01, 0.02, 0.03, 0.2 (m = 4): 4 x 0.01 = 0.04; 3 x 0.02 = 0.06; 2 x 0.03 = 0.06 (kept monotone);
    # 1 x 0.2 = 0.2; the order given is kept, None (no test) left out of m and kept
    out = holm([0.03, None, 0.2, 0.01, 0.02])
    assert out[1] is None and out[0] == pytest.approx(0.06) and out[2] == pytest.approx(0.2) \
        and out[3] == pytest.approx(0.04) and out[4] == pytest.approx(0.06)
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.04]) == [0.04] and holm([]) == [] and holm([None]) == [None]
    # a step-down: a p further down the list is never adjusted below one above it
    assert holm([0.001, 0.049, 0.0491]) == pytest.approx([0.003, 0.098, 0.098])


def test_the_ablation_table_adjusts_its_p_values_for_all_its_comparisons(tmp_path):
    from app.experiments.ablation import ablation, ablation_table, cell_pairs
    from app.probe.paired import holm

    res, cells = _ablation_result(tmp_path, clear_and_chance)
    rows = {a["arm"]: a for a in ablation(res)}
    raw = [mcnemar_exact(2, 30), mcnemar_exact(2, 3)]
    assert rows["less"]["paired_p_holm"] == pytest.approx(holm(raw))
    assert holm(raw) == pytest.approx([2 * raw[0], 1.0])
    assert rows["less"]["paired_tests"] == 2 and rows["full"]["paired_p_holm"] == []
    table = ablation_table(res)
    line = next(t for t in table if t.startswith("| less |"))
    assert f"| {mcnemar_exact(2, 30):.2e}, 1 | {2 * mcnemar_exact(2, 30):.2e}, 1 |" in line, line
    assert "Holm-adjusted p: the same p values adjusted for all 2 of the table's comparisons" in table[-1]
    pairs = cell_pairs(res)
    less0 = next(c["key"] for c in cells if c["variant"] == "less" and c["settings"]["model_seed"] == 0)
    assert pairs[less0].holm_p == pytest.approx(2 * raw[0]) and pairs[less0].family == 2


@pytest.mark.gui
def test_the_experiments_tooltip_gives_the_adjusted_p(qtbot, tmp_path):
    from app.experiments.results import live_view
    from widgets.experiments.panels import CellTable, CHANGE

    def wrong_of(arm, seed):
        return list(range(20)) if arm == "full" else list(range(2, 20)) + list(range(100, 104))

    res, cells = _ablation_result(tmp_path, wrong_of)  # 2 against 4 in both seeds: p = 0.69, Holm 1
    table = CellTable()
    qtbot.addWidget(table)
    table.set_cells(list(cells), res.results)
    v = live_view(res, change=True)
    table.set_changes(v.changes, set(v.baselines), v.metric, v.pairs)
    row = next(i for i, c in enumerate(cells) if c["variant"] == "less")
    tip = table.item(row, CHANGE).toolTip()
    assert tip.endswith("Read with the ablation's other 1 comparisons, adjusted for all 2 (Holm): p = 1 (not beyond "
                        "chance among them)"), tip


def test_the_ablation_chart_marks_the_arms_beyond_chance_after_holm(tmp_path):
    from app.experiments.report import _plot, holm_mark
    from app.experiments.svg import delta_chart

    assert holm_mark([0.01, 0.02]) == "**" and holm_mark([0.01, 0.2]) == "*" and holm_mark([0.3, 1.0]) == ""
    assert holm_mark([0.01, None]) == "*" and holm_mark([]) == "" and holm_mark([None]) == ""

    res, _ = _ablation_result(tmp_path, clear_and_chance)
    svg = _plot(res, [])
    assert ">less *</text>" in svg and ">full</text>" in svg
    assert "** / *: a change beyond chance in every seed / in some seed (McNemar's test" in svg
    assert "adjusted for all the chart's comparisons by Holm's method, below 0.05)" in svg
    plain = delta_chart([{"label": "a", "baseline": True, "values": [(0.5, 0.0)], "deltas": [None]}],
                        metrics=("test top-1",))
    assert "beyond chance" not in plain  # no mark, no legend


@pytest.mark.gui
def test_the_experiments_plot_marks_the_arms_beyond_chance_in_its_change_view(qtbot, tmp_path):
    from app.experiments.results import live_view
    from widgets.experiments.plot import ExperimentPlot

    res, _ = _ablation_result(tmp_path, clear_and_chance)
    plot = ExperimentPlot()
    qtbot.addWidget(plot)
    v = live_view(res, change=True)
    assert v.marks == {"full": "", "less": "*"}
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks)
    assert plot.plot.getAxis("left")._tickLevels == [[(0, "full"), (1, "less *")]]
    assert "** / *: beyond chance" in plot.plot.getAxis("bottom").labelText
    v = live_view(res, change=False)  # the accuracies: no marks (they are about the changes)
    plot.set_series(v.series, v.refs, v.spec, xs=v.xs, marks=v.marks)
    assert plot.plot.getAxis("left")._tickLevels == [[(0, "full"), (1, "less")]]
