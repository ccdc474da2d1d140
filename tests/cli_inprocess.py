"""A command of ``main.py`` run in the test process: ``app.cli.run`` (what main.py calls for a command) with its own
home folder, returning what a finished process would (``returncode``, ``stdout``, ``stderr``). Each launch of
main.py costs ~1 s of imports; tests that are about the launched process itself (exit on a signal, memory limits,
the GUI) keep launching it."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from types import SimpleNamespace


def run_cli(*args: str, home: Path) -> SimpleNamespace:
    from app.cli import run

    out, err = io.StringIO(), io.StringIO()
    before = os.environ.get("FILTER_EXPLORER_HOME")
    os.environ["FILTER_EXPLORER_HOME"] = str(home)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                # one thread unless the test chooses (an option given twice with two values is refused)
                code = run([*(() if "--threads" in args[:1] else ("--threads", "1")), *args])
            except SystemExit as exc:  # argparse's own errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        if before is None:
            os.environ.pop("FILTER_EXPLORER_HOME", None)
        else:
            os.environ["FILTER_EXPLORER_HOME"] = before
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())
