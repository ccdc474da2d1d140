#!/usr/bin/env python3
"""Time the desktop app's start-up: launch -> first paint of the main window, and the GUI thread's longest stall.

    .venv/bin/python scripts/first_paint.py [--runs 3] [--watch 3.0] [--json]

Each run is a fresh process (``python main.py`` under the offscreen platform, settings in a temporary home) whose
QApplication gets an event filter: the first Paint event of the main window stops the clock (seconds since the
process was launched, interpreter start-up included). A 10 ms heartbeat timer then records the longest gap between
its ticks for ``--watch`` seconds (the GUI thread blocked), and the window closes. Prints the median over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import os, sys, time
T0 = float(os.environ["FIRST_PAINT_T0"])
WATCH = float(os.environ["FIRST_PAINT_WATCH"])
sys.path.insert(0, os.getcwd())
import main
import widgets.application as wa

_orig = wa.make_app
state = {"paint": None, "gaps": [], "last": None, "built": None}

def make_app():
    app = _orig()
    from PySide6.QtCore import QEvent, QObject, QTimer

    class Filter(QObject):
        def eventFilter(self, obj, ev):
            if state["paint"] is None and ev.type() == QEvent.Type.Paint and type(obj).__name__ == "MainWindow":
                state["paint"] = time.time() - T0
                if hasattr(obj, "all_built"):  # the workspaces fill in after the first paint (issue 14)
                    obj.all_built.connect(lambda: state.__setitem__("built", time.time() - T0))
                beat = QTimer(app)
                def tick():
                    now = time.perf_counter()
                    if state["last"] is not None:
                        state["gaps"].append(now - state["last"])
                    state["last"] = now
                beat.timeout.connect(tick)
                beat.start(10)
                QTimer.singleShot(int(WATCH * 1000), lambda: [w.close() for w in app.topLevelWidgets()])
            return False

    app._first_paint_filter = Filter()
    app.installEventFilter(app._first_paint_filter)
    return app

wa.make_app = make_app
rc = main.main(sys.argv[1:])
print("FIRST_PAINT", state["paint"], max(state["gaps"] or [0.0]), state["built"] or state["paint"], flush=True)
"""


def one_run(argv: list[str], watch: float) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FILTER_EXPLORER_HOME": home,
               "FIRST_PAINT_WATCH": str(watch)}
        env["FIRST_PAINT_T0"] = repr(time.time())
        out = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120)
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_PAINT"):
            _, paint, gap, built = line.split()
            return float(paint), float(gap), float(built)
    raise SystemExit(f"no paint measured (rc {out.returncode}):\n{out.stderr[-3000:]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--watch", type=float, default=3.0, help="seconds of heartbeat after the first paint")
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    argv = ["--workspace", args.workspace] if args.workspace else []
    runs = [one_run(argv, args.watch) for _ in range(args.runs)]
    res = {"first_paint_s": [round(p, 3) for p, _, _ in runs],
           "first_paint_median_s": round(statistics.median(p for p, _, _ in runs), 3),
           "all_built_s": [round(b, 3) for _, _, b in runs],  # every workspace built (= first paint before #14)
           "max_gui_gap_ms": [round(g * 1000, 1) for _, g, _ in runs], "load": os.getloadavg()[0]}
    print(json.dumps(res) if args.json else
          f"first paint {res['first_paint_median_s']} s (runs {res['first_paint_s']}); all workspaces built "
          f"{res['all_built_s']} s; longest GUI-thread gap in the next {args.watch:g} s: {res['max_gui_gap_ms']} ms; "
          f"load {res['load']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
