"""The desktop app's interpreter-lock switch interval (``widgets.application.gui_switch_interval``, issue 14): 0.5 ms
unless the environment says otherwise, and set by ``make_app``. Why, and what it changed, is a benchmark
(``scripts/import_gaps.py --switch-ms``, ``scripts/first_paint.py``; docs/benchmarks/startup.md, session 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from widgets.application import SWITCH_INTERVAL_MS, gui_switch_interval

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_is_half_a_millisecond():
    assert SWITCH_INTERVAL_MS == 0.5
    assert gui_switch_interval({}) == pytest.approx(0.0005)


@pytest.mark.parametrize("raw, seconds", [("5", 0.005), ("0.25", 0.00025), (" 2 ", 0.002)])
def test_the_environment_chooses_another(raw, seconds):
    assert gui_switch_interval({"FILTER_EXPLORER_SWITCH_INTERVAL_MS": raw}) == pytest.approx(seconds)


@pytest.mark.parametrize("raw", ["", "abc", "0", "-1", "nan", "inf"])
def test_a_value_that_is_not_a_positive_number_is_ignored(raw):
    assert gui_switch_interval({"FILTER_EXPLORER_SWITCH_INTERVAL_MS": raw}) == pytest.approx(0.0005)


def test_make_app_sets_it(tmp_path):
    code = ("import sys; print(round(sys.getswitchinterval() * 1e6)); from widgets.application import make_app; "
            "app = make_app(); print(round(sys.getswitchinterval() * 1e6))")
    env = {"PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen", "FILTER_EXPLORER_HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    for extra, want in (({}, "500"), ({"FILTER_EXPLORER_SWITCH_INTERVAL_MS": "5"}, "5000")):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env={**env, **extra})
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["5000", want]  # Python's 5 ms before, the app's after
