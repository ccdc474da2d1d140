"""Issue 14: the start-up's GUI-thread work comes in small pieces. ``widgets.startup.widget_modules(key)`` lists a
workspace's widget modules so that importing them one per event-loop turn, in that order, loads each alone; every
workspace is built in steps (``STEPWISE``). No timing here (``scripts/first_paint.py --steps`` measures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_widget_modules_start_with_packages_and_end_with_the_workspace():
    from widgets.main_window import WORKSPACES
    from widgets.startup import WORKSPACE_MODULES, widget_modules

    for key in WORKSPACES:
        mods = widget_modules(key)
        assert mods[0] == "widgets" and mods[-1] == WORKSPACE_MODULES[key], (key, mods)
        assert len(mods) == len(set(mods)) and all(m.startswith("widgets") for m in mods)
        for m in mods:  # every package of a module comes before it
            parts = m.split(".")
            assert all(mods.index(".".join(parts[:i])) < mods.index(m) for i in range(1, len(parts))), m


def test_widget_modules_in_order_each_import_loads_no_other_widget_module():
    """Imported one at a time in the listed order (after the preloader's ``import_core``), each import adds exactly
    that module to the ``widgets`` package: the list is complete and each dependency comes first."""
    code = (
        "import sys, importlib\n"
        "from widgets.application import make_app\n"
        "make_app()\n"
        "import torch\n"
        "from widgets.main_window import WORKSPACES\n"
        "from widgets.startup import import_core, warm_up, widget_modules, workspace_class\n"
        "for key in WORKSPACES:\n"
        "    import_core(key)\n"
        "    warm_up(key)\n"
        "    for m in widget_modules(key):\n"
        "        if m in sys.modules:\n"
        "            continue\n"
        "        before = set(sys.modules)\n"
        "        importlib.import_module(m)\n"
        "        extra = sorted(x for x in set(sys.modules) - before if x.startswith('widgets') and x != m)\n"
        "        print(key, m, ','.join(extra))\n"
        "    before = set(sys.modules)\n"
        "    workspace_class(key)\n"
        "    print(key, 'class', ','.join(sorted(x for x in set(sys.modules) - before if x.startswith('widgets'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split(" ", 2) for line in out.stdout.splitlines()]
    assert rows and {r[0] for r in rows} >= {"kernels", "probe"}
    bad = [r for r in rows if len(r) == 3 and r[2].strip()]
    assert bad == [], bad


@pytest.mark.gui
def test_every_workspace_is_built_in_steps_and_the_same_as_in_one_go(qtbot, fe_home):
    """``stepwise=True`` leaves the steps to the caller; run to the end, the workspace is the same one (its children)
    as one built in one go."""
    from app.session import Session
    from widgets.application import make_app
    from widgets.common.settings import settings
    from widgets.main_window import WORKSPACES
    from widgets.startup import workspace_class

    make_app()
    for key in WORKSPACES:
        cls = workspace_class(key)
        assert getattr(cls, "STEPWISE", False), key
        whole = cls(Session(), settings())
        qtbot.addWidget(whole)
        part = cls(Session(), settings(), stepwise=True)
        qtbot.addWidget(part)
        steps = 0
        for _ in part.build_steps:
            steps += 1
        assert steps >= 2, key
        kinds = sorted(type(w).__name__ for w in whole.findChildren(object))
        assert sorted(type(w).__name__ for w in part.findChildren(object)) == kinds, key
        for ws in (whole, part):
            ws.shutdown()
