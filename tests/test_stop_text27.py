"""How the selected fit stopped, said in one line (``app.probe.caveats.stop_text``): by ``probe`` under its run line
and in the Probe's Results header, from the run's own stop report (iterations, the gradient rule, the duality gap)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextDocument

from app.probe.caveats import stop_text
from test_probe_download_gui import no_data  # noqa: F401
from test_probe_gui27_classes import SIZES, fashion_run, probe_page, show_stored  # noqa: F401


def _stop(**kw):
    out = {"criterion": "max |gradient|", "value": 8.1e-5, "tolerance": 1e-4, "iterations": 16, "converged": True,
           "duality_gap": 0.052, "gap_tolerance": 0.1}
    out.update(kw)
    return out


def test_each_kind_of_stop_in_one_line():
    assert stop_text(_stop()) == ("converged after 16 iterations (max |gradient| 8.1e-05 <= 0.0001, duality gap 0.052 "
                                  "<= 0.1)")
    assert stop_text(_stop(iterations=100, converged=False, duality_gap=0.4)) == (
        "stopped after 100 iterations (max |gradient| 8.1e-05 <= 0.0001, duality gap 0.4 > 0.1)")
    assert stop_text(_stop(iterations=1, value=3e-3, converged=False)).startswith(
        "stopped after 1 iteration (max |gradient| 0.003 > 0.0001")
    # no weight decay: the gradient rule stopped it, and no optimum is certain: never "converged"
    assert stop_text(_stop(duality_gap=None)) == ("stopped after 16 iterations (max |gradient| 8.1e-05 <= 0.0001, no "
                                                  "duality gap without weight decay)")
    # a run from before the gap rule: the gradient alone
    old = {k: v for k, v in _stop().items() if k not in ("duality_gap", "gap_tolerance")}
    assert stop_text(old) == "converged after 16 iterations (max |gradient| 8.1e-05 <= 0.0001)"
    svm = {"criterion": "gradient norm / gradient norm at zero weights <= tol, and duality gap / objective <= gap_tol",
           "value": 1.7e-5, "tolerance": 1e-4, "iterations": 25, "converged": True, "duality_gap": 9.4e-4,
           "gap_tolerance": 1e-3}
    assert stop_text(svm) == ("converged after 25 iterations (gradient ratio 1.7e-05 <= 0.0001, duality gap 0.00094 "
                              "<= 0.001)")
    assert stop_text({"criterion": "closed form", "value": None, "tolerance": None, "iterations": 1,
                      "converged": True}) == "closed form (no iterations)"
    assert stop_text({"criterion": "fixed number of epochs (Adam)", "value": None, "tolerance": None,
                      "iterations": 10, "converged": False}) == "fixed number of epochs (Adam): 10 iterations"
    for nothing in (None, {}, "damaged", {"criterion": "none", "iterations": 0}):
        assert stop_text(nothing) == ""


def test_the_command_line_says_how_the_head_stopped(capsys, fe_home):
    from app.cli import run

    args = ["--threads", "1", "probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=8", "blocks=1",
            "--head", "logistic", "--grid", "1e-3", "--test-limit", "100"]
    assert run(args) == 0
    lines = [t for t in capsys.readouterr().out.splitlines() if t.startswith("  head: ")]
    assert len(lines) == 1 and lines[0].startswith("  head: converged after ") and "duality gap" in lines[0]


@pytest.mark.gui
def test_the_results_header_says_how_the_head_stopped(qtbot, probe_page, fe_home, no_data):  # noqa: F811
    run = fashion_run()
    run["stop"] = _stop(iterations=100, converged=False, duality_gap=0.4)
    ws = show_stored(qtbot, probe_page, fe_home, run, SIZES[0])
    doc = QTextDocument()
    doc.setHtml(ws.results.header.text())
    lines = doc.toPlainText().split("\n")
    assert ("head: stopped after 100 iterations (max |gradient| 8.1e-05 <= 0.0001, duality gap 0.4 > 0.1)"
            in lines), lines
    assert any(t.startswith("Caveat: the head stopped") and "relative duality gap 0.4, tolerance 0.1" in t
               for t in lines), lines
