"""Finished experiment cells, by key: what makes an experiment resumable (cells already done are not recomputed).

One SQLite file beside the run history (``<home>/experiments.sqlite``, WAL): a table of cells (experiment, key,
kind, variant, settings JSON, result JSON, created) and one of experiment runs (name, quick, started, finished,
report, planned cells, and how it ended: state, finished cells; an older database gains the last two when opened).
Probe cells are also stored in the run history itself (``app.probe.history``), so they appear in the Probe
workspace's comparison. Thread-safe: every call opens its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from app import paths
from app.errors import AppError

FILENAME = "experiments.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS cells (
    key TEXT NOT NULL,
    experiment TEXT NOT NULL,
    kind TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL,
    result TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (experiment, key)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment TEXT NOT NULL,
    quick INTEGER NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    report TEXT,
    cells INTEGER
);
"""


# columns added since the first schema: (name, type); an older database gains them when first opened (its rows kept,
# the new columns NULL: a run recorded before ``state`` read as finished, which is what it said then)
_ADDED = (("runs", "state", "TEXT"), ("runs", "done", "INTEGER"))


def _upgrade(db: sqlite3.Connection) -> None:
    for table, column, kind in _ADDED:
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column in have:
            continue
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as exc:  # another process added it meanwhile
            if "duplicate column" not in str(exc).lower():
                raise


class StoreError(AppError):
    """The experiments database cannot be used; the message names the file."""


def default_path() -> Path:
    return paths.home() / FILENAME


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        with db:
            db.executescript(_SCHEMA)
            _upgrade(db)
        return db
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: not a usable experiments database ({exc}); move it aside to start afresh") from None


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()

    def done(self, experiment: str) -> dict[str, dict[str, Any]]:
        """key -> result of every finished cell of ``experiment``."""
        with closing(_connect(self.path)) as db:
            rows = db.execute("SELECT key, result FROM cells WHERE experiment = ?", (experiment,)).fetchall()
        return {k: json.loads(r) for k, r in rows}

    def put(self, cell: dict[str, Any], result: dict[str, Any]) -> None:
        with closing(_connect(self.path)) as db, db:
            db.execute("INSERT OR REPLACE INTO cells (key, experiment, kind, variant, settings, result, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (cell["key"], cell["experiment"], cell["kind"], cell.get("variant", ""),
                        json.dumps(cell["settings"], sort_keys=True), json.dumps(result, default=str),
                        time.strftime("%Y-%m-%dT%H:%M:%S")))

    def start_run(self, experiment: str, quick: bool, cells: int) -> int:
        with closing(_connect(self.path)) as db, db:
            cur = db.execute("INSERT INTO runs (experiment, quick, started, cells) VALUES (?, ?, ?, ?)",
                             (experiment, int(quick), time.strftime("%Y-%m-%dT%H:%M:%S"), cells))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, report: str | None, state: str = "finished", done: int | None = None) -> None:
        """The run's end: ``report`` (its HTML page, None when none was written), ``state`` ("finished", "cancelled", or
        why it ended without a report: "report failed: ...", "stopped: ...") and ``done`` (its cells finished,
        stored ones reused included)."""
        with closing(_connect(self.path)) as db, db:
            db.execute("UPDATE runs SET finished = ?, report = ?, state = ?, done = ? WHERE id = ?",
                       (time.strftime("%Y-%m-%dT%H:%M:%S"), report, state, done, run_id))

    def runs(self) -> list[dict[str, Any]]:
        """Every recorded run, newest first: id, experiment, quick, started, finished (None while it runs), report,
        cells (planned), state ("finished", "cancelled", "report failed: ...", "stopped: ..."; None for a run
        recorded before states were) and done (its finished cells; None likewise)."""
        with closing(_connect(self.path)) as db:
            rows = db.execute("SELECT id, experiment, quick, started, finished, report, cells, state, done FROM runs "
                              "ORDER BY id DESC").fetchall()
        keys = ("id", "experiment", "quick", "started", "finished", "report", "cells", "state", "done")
        return [dict(zip(keys, r)) for r in rows]

    def forget(self, experiment: str) -> int:
        with closing(_connect(self.path)) as db, db:
            return db.execute("DELETE FROM cells WHERE experiment = ?", (experiment,)).rowcount
