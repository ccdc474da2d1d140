"""The Live view's frames shown per second, offscreen, as a user first sees it: the window at 1400x900, the default
panes on the built-in synthetic scene, counted for ``--seconds`` after 3 s of warm-up.

    QT_QPA_PLATFORM=offscreen python scripts/live_gui_fps.py [--seconds 12] [--root DIR] [--precision fast]

``--root``: the checkout to measure (default: this one), so that two commits can be alternated from one shell
(``git worktree add /tmp/old REV``). Prints one line: frames shown per second, the input pane's own rate and latency
text, and the status line. A fresh home folder each run (nothing remembered from the user's settings)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    ap.add_argument("--precision", default=None, help="the Live view's Precision (auto, full, fast); default: its own")
    args = ap.parse_args()
    root = str(Path(args.root).resolve())
    sys.path.insert(0, root)
    os.chdir(root)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["FILTER_EXPLORER_HOME"] = tempfile.mkdtemp(prefix="fe-live-fps-")
    from app import device

    device.tune_allocator()  # as main.py does first
    from widgets.application import make_app
    from widgets.main_window import MainWindow, settings

    app = make_app()
    settings().setValue("live/source", "synthetic")
    if args.precision:
        settings().setValue("live/precision", args.precision)
    win = MainWindow(workspace="live", persist=False)
    win.resize(1400, 900)
    win.show()
    live = win.live
    if not live.wait_ready(60_000):
        print("the Live view did not show its panes within 60 s", file=sys.stderr)
        return 1

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    pump(3.0)
    n0, t0 = live._frames_shown, time.monotonic()
    pump(args.seconds)
    n1, t1 = live._frames_shown, time.monotonic()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{root}: {(n1 - n0) / (t1 - t0):.2f} frames shown/s over {t1 - t0:.1f} s; input: "
          f"{live.input.info.text()!r}; load {load:.2f}")
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
