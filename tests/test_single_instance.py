"""One window per home folder: two instances wrote over each other's autosaved kernel banks and session models (an
audit: A's bank and A's session model were gone after both closed). The second is refused with a message; a lock
left by a crashed process is taken over."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui

HOLD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from widgets.application import make_app, single_instance
    make_app()
    lock, who = single_instance()
    print("held" if lock is not None else "refused " + who, flush=True)
    time.sleep(60)
""")


def test_a_second_instance_is_refused_and_a_dead_ones_lock_is_taken_over(fe_home, tmp_path):
    from pathlib import Path

    from widgets.application import make_app, single_instance

    make_app()
    root = str(Path(__file__).resolve().parent.parent)
    other = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root)], stdout=subprocess.PIPE, text=True,
                             env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    try:
        assert other.stdout.readline().strip() == "held"
        lock, who = single_instance()
        assert lock is None and who.startswith(f"pid {other.pid} on ")
    finally:
        other.kill()
        other.wait()
    lock, who = single_instance()  # the holder died (a crash): its lock is stale, taken over
    assert lock is not None and who == ""
    lock.unlock()
