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
    assert f"test top-1 {100 * d['top1']:.2f}% (s.e. {100 * d['test_top1_se']:.2f})" in line
    assert f"val top-1 {100 * d['val_top1']:.2f}% (s.e. {100 * d['val_top1_se']:.2f})" in line
    assert run(args + ["--val", "0", "--json"]) == 0  # no validation split: no figure, no error
    d = json.loads(capsys.readouterr().out)
    assert d["val_top1"] is None and d["val_top1_se"] is None and d["test_top1_se"] is not None
