"""The standard error of an accuracy (``app.metrics.standard_error``), as ``probe`` prints it and --json gives it
(``test_top1_se``, ``val_top1_se``) and the Probe's Results header shows it ("s.e.")."""

from __future__ import annotations

import json
import math

import pytest

from app.metrics import standard_error


def test_the_binomial_standard_error_by_hand():
    assert standard_error(0.9, 100) == pytest.approx(0.03)  # sqrt(0.9 * 0.1 / 100)
    assert standard_error(0.5, 4) == pytest.approx(0.25)
    assert standard_error(0.9941, 10_000) == pytest.approx(math.sqrt(0.9941 * 0.0059 / 10_000))  # ~0.077 points
    assert standard_error(1.0, 50) == 0.0 and standard_error(0.0, 50) == 0.0
    assert standard_error(1.2, 50) == 0.0  # clipped into [0, 1]: never the square root of a negative
    for p, n in ((None, 100), (0.5, 0), (0.5, None), (0.5, -3)):
        assert standard_error(p, n) is None


def test_probe_reports_each_figures_standard_error_on_its_own_split(capsys, fe_home):
    from app.cli import run

    args = ["--threads", "1", "probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=8", "blocks=1",
            "--head", "ridge", "--grid", "10", "--test-limit", "100"]
    assert run(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_test"] == 100 and d["n_val"] == 269
    assert d["test_top1_se"] == pytest.approx(math.sqrt(d["top1"] * (1 - d["top1"]) / 100))
    assert d["val_top1_se"] == pytest.approx(math.sqrt(d["val_top1"] * (1 - d["val_top1"]) / 269))
    assert run(args) == 0
    line = capsys.readouterr().out.splitlines()[0]
    # one form for both figures, the Wilson interval (an s.e. beside an interval invited comparing unlike numbers;
    # session 33); the s.e. stays in --json
    (tl, th), (vl, vh) = d["test_top1_ci95"], d["val_top1_ci95"]
    assert f"test top-1 {100 * d['top1']:.2f}% (95% CI {100 * tl:.2f}-{100 * th:.2f})" in line
    assert f"val top-1 {100 * d['val_top1']:.2f}% (95% CI {100 * vl:.2f}-{100 * vh:.2f})" in line  # one value swept
    assert run(args + ["--val", "0", "--json"]) == 0  # no validation split: no figure, no error
    d = json.loads(capsys.readouterr().out)
    assert d["val_top1"] is None and d["val_top1_se"] is None and d["test_top1_se"] is not None


def test_the_wilson_interval_by_hand():
    """Pinned against the closed form (Wilson 1927; the values statsmodels' proportion_confint(method="wilson")
    gives): 10 of 10 -> 72.25-100%, 5 of 10 -> 23.66-76.34%, 0 of 10 -> 0-27.75%."""
    from app.metrics import accuracy_interval

    assert accuracy_interval(1.0, 10) == (pytest.approx(0.7224672, abs=1e-6), 1.0)
    lo, hi = accuracy_interval(0.5, 10)
    assert (lo, hi) == (pytest.approx(0.2365931, abs=1e-6), pytest.approx(0.7634069, abs=1e-6))
    assert accuracy_interval(0.0, 10) == (0.0, pytest.approx(0.2775328, abs=1e-6))
    # z^2 / n -> 0: the interval closes on p +- z s.e.
    lo, hi = accuracy_interval(0.9, 1_000_000)
    assert hi - lo == pytest.approx(2 * 1.959964 * standard_error(0.9, 1_000_000), rel=1e-3)
    for p, n in ((None, 100), (0.5, 0), (0.5, None), (0.5, -3)):
        assert accuracy_interval(p, n) is None


def test_the_text_is_an_se_only_where_the_normal_approximation_holds():
    from app.metrics import spread_text

    assert spread_text(0.9, 100) == "s.e. 3.00"  # 90 right, 10 wrong: the rule's edge, still an s.e.
    assert spread_text(0.91, 100) == "95% CI 83.77-95.19"  # 9 wrong: the interval (asymmetric around 91%)
    assert spread_text(1.0, 10, digits=1) == "95% CI 72.2-100.0"  # never "s.e. 0.0" for 10 of 10
    assert spread_text(0.0, 50) == "95% CI 0.00-7.13"
    assert spread_text(0.5, None) == "" and spread_text(None, 10) == ""


def test_probe_and_eval_give_the_interval_where_an_se_says_too_little(capsys, fe_home):
    from app.cli import run

    args = ["--threads", "1", "probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=8", "blocks=1",
            "--head", "ridge", "--grid", "10", "--test-limit", "12"]
    assert run(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    lo, hi = d["test_top1_ci95"]
    assert lo <= d["top1"] <= hi and hi - lo > 0.2  # 12 test images: a wide interval
    assert run(args) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert f"test top-1 {100 * d['top1']:.2f}% (95% CI {100 * lo:.2f}-{100 * hi:.2f})" in line
    assert "(s.e." not in line  # the 269 validation images: their interval too (it was their s.e.)


def test_a_percentage_is_never_rounded_to_100_or_0_that_is_not():
    """The Probe's header, history table, per-class bars and comparison printed 4 errors in 10,000 test images as
    "100.0%" (an audit, 2026-12-03): ``app.metrics.percent`` adds decimals until the figure is not 100 or 0."""
    from app.metrics import percent

    assert percent(0.9996) == "99.96%" and percent(9999 / 10000) == "99.99%" and percent(0.99999) == "99.999%"
    assert percent(1.0) == "100.0%" and percent(0.0) == "0.0%" and percent(0.0004) == "0.04%"
    assert percent(0.9944) == "99.4%" and percent(0.5) == "50.0%" and percent(0.99951, 2) == "99.95%"
    assert percent(0.9994) == "99.9%"  # rounds down: one decimal says it


@pytest.mark.gui
def test_the_probe_views_say_99_96_not_100(qtbot):
    import types

    import numpy as np

    from widgets.probe.history_table import cells
    from widgets.probe.per_class import PerClassBars

    run = types.SimpleNamespace(id=1, created="2026-12-03T10:00:00", label="rdsn", weight_state="random",
                                dataset="mnist", head="logistic", top1=0.9996, top5=0.99999, n_train=10, seed=0)
    assert cells(run)[6:8] == ["99.96%", "99.999%"]
    bars = PerClassBars()
    qtbot.addWidget(bars)
    conf = np.array([[1999, 1], [0, 2000]])
    bars.set_run(conf.diagonal() / conf.sum(1), ["0", "1"], (50, 100, 200), conf)
    assert bars.bar_text(0) == "0: 99.95% right (1,999 of 2,000 test images)"
    conf = np.array([[5, 0], [0, 0]])  # class 1 absent from a small test subset: not "nan% right (0 of 0)"
    bars.set_run(np.array([1.0, float("nan")]), ["0", "1"], (50, 100, 200), conf)
    assert bars.bar_text(1) == "1: no test image of this class (on a test subset, a class can be absent)"


def test_a_parameter_count_never_reads_1000k():
    from app.models.viz import fmt_count

    assert [fmt_count(n) for n in (9_999, 12_345, 999_949, 999_950, 2_500_000)] == \
        ["9999", "12.3k", "999.9k", "1.00M", "2.50M"]


def test_the_history_shows_a_runs_time_in_local_time(monkeypatch):
    """Runs record UTC (with its offset); the History box showed it as if local, without saying so."""
    import time

    from widgets.probe.history_table import local_time

    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+5:30, no daylight saving
    time.tzset()
    try:
        assert local_time("2026-12-03T10:00:00+00:00") == "2026-12-03 15:30"  # the year: 12-03 read two ways
        assert local_time("2026-11-30T10:00:00") == "2026-11-30 10:00"  # an older record without an offset: as written
        assert local_time("garbage-string-x") == "garbage-string-x"  # (never raises)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
