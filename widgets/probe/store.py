"""Storing a finished run from the worker thread.

``record(result, path=None) -> int`` has the signature of ``app.probe.history.record`` (thread-safe: it opens its
own SQLite connection), which the core adds; when that lands, ``widgets/probe/runner.py`` imports it from there and
this file goes. Call it from the worker task, never on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.probe.history import History


def record(result: Any, path: Path | str | None = None) -> int:
    with History(path) as h:
        return h.add(result)
