#!/usr/bin/env python3
"""How long a thread waits for the interpreter lock while another thread imports torch, and where the importing
thread was when the wait ended (issue 14: the GUI thread's start-up gaps; docs/benchmarks/startup.md, session 13).

    .venv/bin/python scripts/import_gaps.py [--no-gc] [--pyside] [--no-hook] [--switch-ms MS] [--runs 3] [--min-ms 20]

The main thread stands in for the GUI thread: it sleeps 1 ms at a time and records every wake-up later than
``--min-ms`` (it could not get the lock), with the importing thread's innermost frames at that moment. torch's shared
libraries are loaded first without the lock, as the app's preloader does (``widgets.startup._import_torch``).
``--no-gc``: automatic garbage collection off, as in the desktop app; ``--pyside``: import PySide6 first (its import hook then runs for every module torch imports); ``--no-hook``: with
the hook's source test replaced by one that reads no file; ``--switch-ms``: the interpreter lock's switch interval
(``sys.setswitchinterval``; Python's default 5 ms, the desktop app's ``widgets.application.SWITCH_INTERVAL_MS``).
Each run is a fresh process (torch imported once).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, threading, time, traceback
sys.path.insert(0, ROOT)
if PYSIDE:
    import PySide6.QtCore  # noqa: F401
    if NO_HOOK:
        import shibokensupport.feature as feature
        feature._mod_uses_pyside = lambda module: False
if SWITCH_S:
    sys.setswitchinterval(SWITCH_S)
if NO_GC:
    import gc
    gc.disable()  # as the desktop app has it (widgets.common.gcguard: the GUI thread collects)
from widgets.startup import _import_torch
done = threading.Event()
th = threading.Thread(target=lambda: (_import_torch(), done.set()))
t0 = time.perf_counter()
th.start()
last, gaps = time.perf_counter(), []
while not done.is_set():
    time.sleep(0.001)
    now = time.perf_counter()
    if now - last > MIN_S:
        f = sys._current_frames().get(th.ident)
        where = [f"{s.filename.split('site-packages/')[-1]}:{s.lineno} {s.name}"
                 for s in (traceback.extract_stack(f)[-3:] if f else [])]
        gaps.append([round((now - last) * 1000, 1), round(last - t0, 3), where])
    last = now
print("GAPS " + json.dumps({"import_s": round(time.perf_counter() - t0, 3), "gaps": gaps}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-gc", action="store_true")
    ap.add_argument("--pyside", action="store_true")
    ap.add_argument("--no-hook", action="store_true")
    ap.add_argument("--switch-ms", type=float, default=None, help="the switch interval (default: Python's, 5 ms)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--min-ms", type=float, default=20.0)
    args = ap.parse_args()
    code = (f"ROOT = {str(ROOT)!r}; PYSIDE = {args.pyside or args.no_hook}; NO_HOOK = {args.no_hook}; "
            f"MIN_S = {args.min_ms / 1000}; NO_GC = {args.no_gc}; "
            f"SWITCH_S = {(args.switch_ms or 0) / 1000}\n" + CHILD)
    for i in range(args.runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("GAPS ")), None)
        if line is None:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(line[5:])
        top = sorted(r["gaps"], reverse=True)
        print(f"run {i + 1}: import {r['import_s']} s, switch interval {args.switch_ms or 5:g} ms, load {os.getloadavg()[0]:.2f}; waits > {args.min_ms:g} ms: "
              f"{[g[0] for g in top]}")
        for ms, at, where in top[:3]:
            print(f"  {ms} ms from {at} s: " + " > ".join(where))
    return 0


if __name__ == "__main__":
    sys.exit(main())
