"""Issue 14: the GUI thread stays free during the desktop start-up; the heavy work runs in other threads.

No timed assertion (speed is a benchmark: ``scripts/first_paint.py``, docs/benchmarks/startup.md). What is checked is
where the work runs: the app is launched the way ``python main.py`` does (a fresh process, offscreen, the same child
as the benchmark), runs until every workspace is built and has finished its start-up work (deadline 120 s), and
reports its start-up steps and the threads of its heavy calls. The heartbeat's longest gap is printed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parent.parent


def _first_paint():
    spec = importlib.util.spec_from_file_location("first_paint", ROOT / "scripts" / "first_paint.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def launch():
    fp = _first_paint()
    run = fp.one_run(["--workspace", "kernels"], deadline=120.0)
    s = fp.summary(run)
    gui = sorted((st for st in run["steps"] if st[1] == run["main"]), key=lambda st: -st[3])
    print(f"\nstart-up heartbeat: first paint {s['first_paint_s']} s, every workspace ready {s['all_ready_s']} s, "
          f"longest GUI-thread gap {s['max_gui_gap_ms']} ms (after the first paint {s['max_gui_gap_after_paint_ms']} "
          f"ms); GUI-thread steps (ms): {[(st[0], st[3]) for st in gui]}")
    return run


def test_start_up_reaches_every_workspace_ready(launch):
    from widgets.main_window import WORKSPACES

    assert launch["rc"] == 0 and launch["paint_s"] is not None
    assert not launch["timed_out"], "the workspaces were not ready within 120 s"
    assert launch["preload_error"] is None
    built = [st[0] for st in launch["steps"] if st[0].startswith("build ") and "(" not in st[0]]
    assert built[0] == "build kernels" and sorted(built) == sorted(f"build {k}" for k in WORKSPACES)


def test_heavy_start_up_steps_run_off_the_gui_thread(launch):
    """torch, each workspace's Qt-free modules and warm-ups in the preloader; what stays on the GUI thread is the
    building of the workspaces (their widget modules and widgets), one step per event-loop turn."""
    from widgets import startup
    from widgets.main_window import WORKSPACES

    main = launch["main"]
    steps = {st[0]: st for st in launch["steps"]}
    heavy = ["import torch", "load opencv"] + [f"{what} {k}" for k in WORKSPACES for what in ("import", "warm up")]
    assert set(heavy) <= set(steps), sorted(set(heavy) - set(steps))
    on_gui = [name for name in heavy if steps[name][1] == main]
    assert on_gui == [], f"heavy start-up steps ran on the GUI thread: {on_gui}"
    builds = [st for st in launch["steps"] if st[0].startswith("build ")]
    assert builds and all(st[1] == main for st in builds)  # Qt widgets: the GUI thread only
    # the widget-heavy workspaces were built in several steps (one per event-loop turn: widgets.common.workspace)
    stepwise = {st[0] for st in builds if st[0].endswith(" (2)")}
    assert stepwise == {f"build {k} (2)" for k in WORKSPACES}, stepwise
    # and their widget modules imported one per turn before (widgets.startup.widget_modules)
    loads = [st for st in launch["steps"] if st[0].startswith("load widgets.")]
    assert loads and all(st[1] == main for st in loads)
    assert {st[0] for st in loads} >= {f"load {m}" for m in startup.WORKSPACE_MODULES.values()}
    # the builds took turns with the preloading: each began after its workspace's warm-up had ended
    for k in WORKSPACES:
        warm = steps[f"warm up {k}"]
        assert steps[f"build {k}"][2] >= warm[2] + warm[3] / 1000 - 0.002, k


def test_heavy_calls_of_the_first_renders_run_in_workers(launch):
    """The sample photograph, the kernel responses and the model builds ran in worker threads; the default bank was
    computed once, in the preloader's warm-up."""
    main = launch["main"]
    calls = {}
    for name, thread in launch["calls"]:
        calls.setdefault(name, set()).add(thread)
    assert {"sample_image", "compute_views", "build_model"} <= set(calls), calls
    assert all(main not in threads for threads in calls.values()), calls
    assert launch["default_bank_misses"] == 1


def test_preloaded_modules_cover_each_workspace():
    """After ``import_core(key)`` importing the workspace's module loads no new ``app`` module, nor torch, OpenCV,
    SciPy or scikit-learn: the heavy imports are the preloader's (keeps widgets.startup's lists complete)."""
    code = (
        "import sys\n"
        "from widgets.application import make_app\n"
        "make_app()\n"
        "import torch\n"
        "from widgets.main_window import WORKSPACES\n"
        "from widgets.startup import import_core, workspace_class\n"
        "for key in WORKSPACES:\n"
        "    import_core(key)\n"
        "    before = set(sys.modules)\n"
        "    workspace_class(key)\n"
        "    new = sorted(m for m in set(sys.modules) - before\n"
        "                 if m.split('.')[0] in ('app', 'torch', 'cv2', 'scipy', 'sklearn', 'sqlite3'))\n"
        "    print(key, ','.join(new))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.partition(" ")[::2] for line in out.stdout.splitlines())
    assert lines and all(v.strip() == "" for v in lines.values()), lines


def test_a_failed_preload_step_still_builds_every_workspace(qtbot, fe_home, monkeypatch):
    """A preload step that raises is recorded; the GUI thread then builds the rest itself (real errors surface)."""
    from widgets import startup
    from widgets.application import make_app
    from widgets.main_window import WORKSPACES, MainWindow

    def broken(key):
        if key == "models":
            raise RuntimeError("preload failed")

    monkeypatch.setattr(startup, "import_core", broken)
    make_app()
    win = MainWindow(workspace="kernels", persist=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.all_built, timeout=120_000):
        win.show()
    assert win._preloader.error == "RuntimeError: preload failed"
    assert sorted(win.built()) == sorted(WORKSPACES)
    win.close()


def test_held_workers_start_when_released_or_waited_for(qtbot):
    """``hold_workers``: a held worker runs only at ``start_deferred`` (or when waited for); one cancelled and waited
    for meanwhile never runs; the others are not held."""
    from widgets.common.worker import Worker, hold_workers, start_deferred

    ran: list[str] = []

    def make(name):
        return Worker(lambda token: ran.append(name) or name, name=name)

    held, waited, cancelled, free = make("held"), make("waited"), make("cancelled"), make("free")
    hold_workers(lambda w: w.name != "free")
    try:
        for w in (held, waited, cancelled, free):
            w.start()
        assert free.wait(10_000) and ran == ["free"]
        assert held.is_running() and not held._thread.isRunning()  # busy, but its thread has not started
        assert waited.wait(10_000) and ran == ["free", "waited"]
        cancelled.cancel()
        assert cancelled.wait(10_000) and not cancelled.is_running()
    finally:
        hold_workers(None)
    with qtbot.waitSignal(held.finished, timeout=10_000) as got:
        start_deferred()
    assert got.args == ["held"] and sorted(ran) == ["free", "held", "waited"]
