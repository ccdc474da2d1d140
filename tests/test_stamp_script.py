"""scripts/stamp.py: each progress line stamped with the time its first byte came (a line the headless commands
rewrite starts with a carriage return and ends without one: stamped at the next line's start it would tell the end
of its stage, not its start)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("stamp", ROOT / "scripts" / "stamp.py")
stamp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stamp)


def test_a_line_is_stamped_when_it_starts_not_when_it_is_replaced():
    st = stamp.Stamper()
    assert st.feed(b"\rprobe: loading", 1.0) == []
    assert st.feed(b" dataset   ", 2.0) == []
    # the next progress line replaces it at 9 s: the first one started at 1 s
    assert st.feed(b"\rprobe: building", 9.0) == [(1.0, "probe: loading dataset")]
    assert st.feed(b" rdsn\n\n", 9.5) == [(9.0, "probe: building rdsn")]
    assert st.feed(b"tail", 10.0) == [] and st.end() == [(10.0, "tail")]


def test_the_script_copies_every_line_with_its_stamp():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "stamp.py")], input=b"a\rb\nc\r\rd",
                         capture_output=True, timeout=60).stdout.decode().splitlines()
    assert [ln.split("] ", 1)[1] for ln in out] == ["a", "b", "c", "d"]
    assert all(ln.startswith("[") and " s] " in ln for ln in out)
