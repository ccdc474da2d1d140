"""The statistics audit of session 33: the validation figure is the best of the sweep's fits (shown with a plain
binomial interval, as if it were one estimate); the probe line mixed a validation interval with a test s.e.;
interval bounds rounded to 100.0 or 0.0 without being so."""

from __future__ import annotations

import pytest

from app.metrics import accuracy_interval, ci_text
from app.probe.notes import best_of_text


def test_ci_text_keeps_a_bound_off_100_and_0_unless_it_is_there():
    assert ci_text(0.9996, 10_000) == "95% CI 99.90-99.98"  # was "99.9-100.0": the bound is 99.985
    assert ci_text(0.0001, 10_000) == "95% CI 0.002-0.057"  # was "0.0-0.1"
    assert ci_text(264 / 269, 269) == "95% CI 95.7-99.2" and ci_text(264 / 269, 269, 2) == "95% CI 95.72-99.20"
    assert ci_text(1.0, 50) == "95% CI 92.9-100.0"  # 50 of 50: the upper bound is 100
    lo, hi = accuracy_interval(1.0, 50)
    assert hi == 1.0 and lo == pytest.approx(0.9287, abs=1e-4)
    assert ci_text(None, 10) == "" and ci_text(0.5, 0) == ""


def test_best_of_text():
    table = [(0.1, 0.97), (0.01, 0.98), (0.001, 0.98)]
    assert best_of_text(table) == "best of 3"
    assert best_of_text(table, ("layer", "pooling")) == "best of 3 and of the layers and poolings"
    assert best_of_text([(1.0, 0.9)]) == "" and best_of_text(()) == ""
    assert best_of_text([(1.0, 0.9)], ("pooling",)) == "best and of the poolings"


def test_the_probe_line_says_best_of_and_gives_both_figures_one_interval(tmp_path):
    from tests.cli_inprocess import run_cli

    r = run_cli("probe", "--backbone", "simple", "--options", "widths=4", "--dataset", "digits", "--train-limit",
                "300", "--test-limit", "100", "--head", "ridge", "--grid", "0.1,1,10", home=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    line = r.stdout.splitlines()[0]
    assert "val top-1 " in line and "% (best of 3; 95% CI " in line  # was "(95% CI ...)" alone
    import json

    j = run_cli("probe", "--backbone", "simple", "--options", "widths=4", "--dataset", "digits", "--train-limit",
                "300", "--test-limit", "100", "--head", "ridge", "--grid", "0.1,1,10", "--json", home=tmp_path)
    assert json.loads(j.stdout)["val_top1_best_of"] == 3
    assert "test top-1 " in line and "s.e." not in line  # was "(s.e. 0.69)" beside the validation interval
    r = run_cli("probe", "--backbone", "simple", "--options", "widths=4", "--dataset", "digits", "--train-limit",
                "300", "--test-limit", "100", "--head", "ridge", "--grid", "1", home=tmp_path)
    line = r.stdout.splitlines()[0]
    assert "best of" not in line and "val top-1 " in line and "% (95% CI " in line
    j = run_cli("probe", "--backbone", "simple", "--options", "widths=4", "--dataset", "digits", "--train-limit",
                "300", "--test-limit", "100", "--head", "ridge", "--grid", "1", "--json", home=tmp_path)
    assert json.loads(j.stdout)["val_top1_best_of"] == 1


@pytest.mark.gui
def test_the_results_header_says_best_of(qtbot):
    from widgets.application import make_app
    from widgets.probe.results import HEADER_TIP, interval_text

    make_app()
    assert interval_text(0.9996, 10_000) == "95% CI 99.90-99.98"
    assert "best of 5" in HEADER_TIP and "reads high" in HEADER_TIP


@pytest.mark.gui
def test_the_results_header_says_the_validation_figure_is_the_best_of_the_sweep(qtbot):
    from tests.test_gui_walkthrough31 import _digits_run, _header
    from widgets.application import make_app
    from widgets.probe.model import RunView
    from widgets.probe.results import ResultsView

    make_app()
    view = ResultsView()
    qtbot.addWidget(view)
    view.projector.set_run = lambda run: None
    view.resize(700, 500)
    view.show()
    d = _digits_run()
    d["selection"] = [[0.1, 0.95], [0.01, 263 / 269], [0.001, 0.97]]
    view.show_run(RunView.from_dict(d))
    assert "validation top-1 97.8% (best of 3 · 95% CI 95.2-99.0)" in _header(view), _header(view)
    assert "test top-1 95.3% (95% CI 93.0-96.9)" in _header(view)
    d["resolved"] = {**(d.get("resolved") or {}), "select": ["layer"]}
    view.show_run(RunView.from_dict(d))
    assert "(best of 3 and of the layers · 95% CI" in _header(view), _header(view)


def test_a_probe_recipes_report_says_its_validation_figures_read_high(tmp_path):
    import dataclasses

    from app.experiments.report import _differences
    from tests.test_paired import _ablation_result

    res, cells = _ablation_result(tmp_path, lambda arm, seed: [1, 2, 3])
    assert all(c["kind"] == "probe" for c in cells)
    text = _differences(res)
    assert "test scored once (a probe's validation figure is the best of its sweep's fits on those images, so it " \
           "reads high; its test figure does not)" in text
    trained = dataclasses.replace(res, cells=tuple({**c, "kind": "train"} for c in cells))
    assert "reads high" not in _differences(trained)  # a training cell's validation figure is no sweep's best
