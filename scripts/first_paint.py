#!/usr/bin/env python3
"""Time the desktop app's start-up: launch -> first paint, every workspace ready, and the GUI thread's longest stall.

    .venv/bin/python scripts/first_paint.py [--runs 3] [--workspace kernels] [--busy N] [--json] [--steps] [--sample]

Each run is a fresh process (``python main.py`` under the offscreen platform, settings in a temporary home) whose
QApplication gets an event filter and a 10 ms heartbeat timer from the moment it exists. The first Paint event of the
main window stops the first clock (seconds since the process was launched, interpreter start-up included); the
heartbeat records every gap between its ticks (the GUI thread blocked) until every workspace is built
(``all_built``) and has finished its start-up work (the shown one's ``is_ready()``, the others' ``busy()``), with a
120 s deadline; then the window closes. Each run also reports the start-up's steps (``MainWindow.startup_steps``: imports, warm-ups and
builds, with their thread) and the threads that ran the heavy calls (sample image, kernel responses, model builds),
with the first call's start and end (``call_times``). ``--sample`` also lists, per long gap, the GUI thread's most
frequent stacks and the other threads that were running Python meanwhile (what held the GIL).
Prints medians over the runs and how many launches kept every gap under 50 ms (issue 14's target); ``--busy N``
launches beside N spinning processes (``app.bench_load.busy_processes``, as ``bench load``: a busy machine), ended
with the command; ``FIRST_PAINT_ROOT=<checkout>`` launches another checkout (a before/after comparison).
``tests/test_perf_heartbeat_start.py`` runs the same child and checks where the heavy work ran (no timing).
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

ROOT = Path(os.environ.get("FIRST_PAINT_ROOT") or Path(__file__).resolve().parent.parent)  # the checkout to launch

CHILD = r"""
import collections, json, os, sys, threading, time
T0 = float(os.environ["FIRST_PAINT_T0"])
DEADLINE = float(os.environ.get("FIRST_PAINT_DEADLINE", "120"))
sys.path.insert(0, os.getcwd())
import main
import widgets.application as wa

MAIN = threading.get_ident()
state = {"paint": None, "ready": None, "gaps": [], "last": None, "calls": [], "win": None, "timed_out": False,
         "painted": False, "call_times": {}}


def record(mod, name):
    fn = getattr(mod, name)
    if getattr(fn, "_recorded", False):
        return
    def wrapper(*a, **k):
        state["calls"].append((name, threading.get_ident()))
        t = time.perf_counter() - PC0
        try:
            return fn(*a, **k)
        finally:  # the first call's start and end (seconds since launch)
            state["call_times"].setdefault(name, (round(t, 3), round(time.perf_counter() - PC0, 3)))
    wrapper._recorded = True
    setattr(mod, name, wrapper)


def ready(win):
    import widgets.main_window as mw

    if len(win.built()) < len(mw.WORKSPACES):
        return False
    for key in mw.WORKSPACES:  # the shown one has its first render; the others their start-up work (busy)
        ws = win.workspace(key)
        is_ready, busy = getattr(ws, "is_ready", None), getattr(ws, "busy", None)
        if key == win.current_workspace() and is_ready is not None:
            if not is_ready():
                return False
        elif busy is not None and busy():
            return False
    return True


_orig_make_app = wa.make_app


def make_app():
    app = _orig_make_app()
    from PySide6.QtCore import QEvent, QObject, QTimer
    import widgets.window_build as wb

    _construct = wb._construct

    def construct(key, win, *args, **kw):  # the heavy calls are wrapped once their modules are loaded (preloader)
        from app.kernels import ops
        record(ops, "sample_image")
        record(ops, "compute_views")
        if key == "models":
            from app.models import viz
            record(viz, "build_model")
        if state.get("built_hooked") is not win:
            state["built_hooked"] = win
            win.all_built.connect(lambda: state.__setitem__("built", time.time() - T0))
        state["win"] = win
        return _construct(key, win, *args, **kw)

    wb._construct = construct

    class Filter(QObject):
        def eventFilter(self, obj, ev):
            if state["paint"] is None and ev.type() == QEvent.Type.Paint and type(obj).__name__ == "MainWindow":
                state["paint"] = time.time() - T0
                state["win"] = obj
                # measured: a Python call for every event of the app would slow what the heartbeat measures
                QTimer.singleShot(0, lambda: app.removeEventFilter(self))
            return False

    def tick():  # a gap counts as "after the first paint" when it began after it (the window was on screen)
        now = time.perf_counter()
        while SAMPLED:  # the sampler's frames are let go here, on the GUI thread (see ``sampler``)
            SAMPLED.popleft()
        if state["last"] is not None:
            state["gaps"].append((now - state["last"], state["last"] - PC0, state["painted"]))
        state["last"] = now
        state["painted"] = state["paint"] is not None
        win = state["win"]
        if state["ready"] is None and win is not None and state["paint"] is not None:
            late = time.time() - T0 > DEADLINE
            if late or ready(win):
                state["ready"] = time.time() - T0
                state["timed_out"] = late
                app._first_paint_beat.stop()  # closing is not the start-up
                QTimer.singleShot(0, win.close)

    app._first_paint_filter = Filter()
    app.installEventFilter(app._first_paint_filter)
    beat = QTimer(app)
    beat.timeout.connect(tick)
    beat.start(10)
    app._first_paint_beat = beat
    return app


PC0 = time.perf_counter() - (time.time() - T0)
wa.make_app = make_app
SAMPLES = []  # (seconds since launch, the GUI thread's stack (innermost first), the other threads running Python)
SAMPLED = collections.deque()  # the frames each sample read, released by the GUI thread's heartbeat


def _where(frame, here, depth=40):
    stack = []
    while frame is not None and len(stack) < depth:
        code = frame.f_code
        name = code.co_filename
        name = name[len(here) + 1:] if name.startswith(here) else name.rsplit("site-packages/", 1)[-1]
        stack.append(f"{name}:{frame.f_lineno} {code.co_name}")
        frame = frame.f_back
    return stack


IDLE = ("threading.py", "queue.py", "selectors.py")  # a thread that waits (a lock, a queue) is not running Python


def sampler():  # what the GUI thread runs, sampled from another thread (it waits for the GIL like any thread)
    # The frames read here must not be released here: a frame whose function returned meanwhile owns its locals, and
    # the last reference dropped in this thread would destroy a Qt object of the GUI thread here, in the wrong thread
    # (Qt cannot stop its timers from another thread: a timer event later reached the freed object, a segmentation
    # fault in QCoreApplication::notifyInternal2 in 1 of ~20 sampled launches, found from a core dump). So each
    # sample's frames go to SAMPLED and the GUI thread's heartbeat lets go of them.
    here, me = os.getcwd(), threading.get_ident()
    names = {}
    while state["ready"] is None:
        frames = sys._current_frames()
        stack = _where(frames.get(MAIN), here)
        others = []  # the other threads that were running Python code (one of them held the GIL in a gap)
        for ident, frame in frames.items():
            if ident in (MAIN, me):
                continue
            top = _where(frame, here, 400)
            if top and not any(i in top[0] for i in IDLE) and "sleep" not in top[0]:
                if ident not in names:
                    names[ident] = next((t.name for t in threading.enumerate() if t.ident == ident), str(ident))
                own = [f for f in top if f.startswith(("app/", "widgets/"))]  # its innermost and outermost
                own = [f for f in own[:1] + own[-1:] if f != top[0]]
                others.append(f"[{names[ident]}] {top[0]}" + "".join(f" < {f}" for f in dict.fromkeys(own)))
        SAMPLES.append((time.perf_counter() - PC0, stack, others))
        SAMPLED.append(frames)
        frames = frame = None  # noqa: F841 - this thread's own references go; SAMPLED keeps them
        time.sleep(0.002)


if os.environ.get("FIRST_PAINT_SAMPLE"):
    threading.Thread(target=sampler, daemon=True, name="first_paint sampler").start()
rc = main.main(sys.argv[1:])
win = state["win"]
try:
    from widgets.kernels.defaults import default_bank
    misses = default_bank.cache_info().misses
except ImportError:  # an older checkout (the script also measures the code before issue 14's preloader)
    misses = None
preloader = getattr(win, "_preloader", None)
out = {
    "rc": rc, "paint_s": state["paint"], "built_s": state.get("built"), "ready_s": state["ready"],
    "timed_out": state["timed_out"], "main": MAIN,
    "gaps": sorted(([round(g * 1000, 1), round(at, 3), after] for g, at, after in state["gaps"]), reverse=True)[:12],
    "steps": [[s.name, s.thread, round(s.start - PC0, 3), round(s.seconds * 1000, 1)]
              for s in getattr(win, "startup_steps", [])],
    "calls": sorted(set(state["calls"])), "call_times": state["call_times"], "default_bank_misses": misses,
    "preload_error": preloader.error if preloader is not None else None,
}
if SAMPLES:  # per long gap: the GUI thread's most frequent stacks in it (the project's frames first)
    prof = []
    for g, at, _ in sorted(state["gaps"], reverse=True)[:8]:
        inside = [st for t, st, _ in SAMPLES if at <= t <= at + g]
        busy = {}
        for t, _, others in SAMPLES:
            if at <= t <= at + g:
                for o in others:
                    busy[o] = busy.get(o, 0) + 1
        counts = {}
        for st in inside:
            own = [f for f in st if f.startswith(("app/", "widgets/"))][:3]
            key = " < ".join(st[:2] + (["..."] if own else []) + own)
            counts[key] = counts.get(key, 0) + 1
        prof.append([round(g * 1000, 1), round(at, 3), len(inside),
                     sorted(counts.items(), key=lambda kv: -kv[1])[:6],
                     sorted(busy.items(), key=lambda kv: -kv[1])[:4]])
    out["profile"] = prof
print("FIRST_PAINT " + json.dumps(out), flush=True)
"""


def one_run(argv: list[str], deadline: float = 120.0, env: dict | None = None) -> dict:
    """One launch in a fresh process: the child's report (see CHILD), gaps in ms with their time since launch."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FILTER_EXPLORER_HOME": home,
               "FIRST_PAINT_DEADLINE": str(deadline), **(env or {})}
        env["FIRST_PAINT_T0"] = repr(time.time())
        out = subprocess.run([sys.executable, "-c", CHILD, *argv], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=deadline + 120)
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_PAINT "):
            return json.loads(line.split(" ", 1)[1])
    raise SystemExit(f"no paint measured (rc {out.returncode}):\n{out.stderr[-3000:]}")


def summary(run: dict) -> dict:
    """The figures of one run: first paint, all ready, the longest GUI-thread gaps and the GUI thread's longest step."""
    gui = [s for s in run["steps"] if s[1] == run["main"]]
    after = [g for g in run["gaps"] if g[2]]
    built = run.get("built_s")
    return {"first_paint_s": round(run["paint_s"], 3), "all_built_s": round(built, 3) if built else None,
            "all_ready_s": round(run["ready_s"], 3),
            "max_gui_gap_ms": run["gaps"][0][0] if run["gaps"] else 0.0,
            "max_gui_gap_after_paint_ms": after[0][0] if after else 0.0,
            "longest_gui_step": max(gui, key=lambda s: s[3])[::3] if gui else None,
            "timed_out": run["timed_out"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", type=int, default=0, help="launch beside N spinning processes (default 0)")
    ap.add_argument("--steps", action="store_true", help="also print each run's start-up steps and longest gaps")
    ap.add_argument("--sample", action="store_true",
                    help="sample the GUI thread's stack every ~2 ms and print its most frequent stacks in each long "
                         "gap (with --steps; the sampling thread itself slows the start-up a little)")
    args = ap.parse_args()
    argv = ["--workspace", args.workspace] if args.workspace else []
    env = {"FIRST_PAINT_SAMPLE": "1"} if args.sample else None
    if args.busy > 0:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from app.bench_load import busy_processes

        with busy_processes(args.busy, 150.0 * args.runs + 60):
            runs = [one_run(argv, env=env) for _ in range(args.runs)]
    else:
        runs = [one_run(argv, env=env) for _ in range(args.runs)]
    sums = [summary(r) for r in runs]
    res = {key: [s[key] for s in sums] for key in sums[0]}
    res["first_paint_median_s"] = round(statistics.median(s["first_paint_s"] for s in sums), 3)
    res["max_gui_gap_median_ms"] = statistics.median(s["max_gui_gap_ms"] for s in sums)
    res["under_50ms"] = sum(1 for s in sums if s["max_gui_gap_ms"] < 50)
    res["busy"] = args.busy
    res["load"] = round(os.getloadavg()[0], 2)
    if args.steps:
        res["runs"] = runs
    print(json.dumps(res) if args.json else
          f"first paint {res['first_paint_median_s']} s (runs {res['first_paint_s']}); every workspace built "
          f"{res['all_built_s']} s, ready "
          f"{res['all_ready_s']} s; longest GUI-thread gap {res['max_gui_gap_ms']} ms (after the first paint "
          f"{res['max_gui_gap_after_paint_ms']} ms; under 50 ms in {res['under_50ms']} of {len(sums)}); longest GUI step "
          f"{res['longest_gui_step']}; {args.busy} busy processes, load {res['load']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
