"""The probe run history: one SQLite row per finished run, in ``app.paths.home()/history.sqlite``.

Each run is committed as soon as it is added (WAL journal), so a crash loses at most the run in progress. A row
keeps a few columns to list and sort by, and the full ``ProbeResult.to_dict()`` JSON to reopen the run later.

A file that is not a history database (corrupt, truncated, another program's) raises ``HistoryCorrupt`` with a
message saying what is wrong; ``open_history()`` then moves the file aside (never deletes it) and starts a fresh one,
returning a message the GUI shows to the user. A good file that cannot be used now (locked by another process for
longer than ``BUSY_TIMEOUT_S``, read-only, the disk full or failing, or written by a newer version of the app) raises
``HistoryUnavailable`` and is left exactly as it is; ``open_history()`` then opens it read-only where it can, so its
runs are still shown. Opening writes nothing when there is nothing to create, upgrade or repair.

``compare_groups()`` aggregates runs for the comparison chart: runs that differ only by seed are one group, shown
as mean and standard deviation of validation and test accuracy.

Schema 2 (from 1: columns added, old runs kept and filled from their JSON) lists validation and test accuracy, the
feature count, the selected hyperparameters, the backbone, its weights and the three seeds. An upgrade is one
transaction (columns, their filling and ``user_version`` commit together or not at all); a history left with empty
new columns by an upgrade that older versions committed half-way is refilled from the stored JSON at the next
writable open (and read from it meanwhile by a read-only one).

Qt-free. A ``History`` object belongs to one thread; ``record(result)`` opens its own connection, adds and closes,
so any thread (the GUI's worker, the CLI) can store a run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from app import jsonout
from app import paths
from app.models.catalog import stored_weight_state
from app.probe.printed import as_fitted
from app.storage import aside_path, atomic_write
from app.probe.history_schema import (  # noqa: F401  (re-exported: callers name them with the history)
    APPLICATION_ID, COLUMNS_V2, REPAIR_PROBE_ROWS, SCHEMA_VERSION, SUMMARY_FIELDS, HistoryCorrupt, HistoryError,
    HistoryUnavailable, RunSummary, _WHY, _code, _failure, _is_corrupt, _json_default, _SCHEMA, _summary,
    setting_of,
)

FILENAME = "history.sqlite"
BUSY_TIMEOUT_S = 5.0  # how long an open or a write waits for another process's write lock before giving up

def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (``History`` opens its transactions itself while it opens the file)."""
    if readonly:  # a read-only connection: works on a file the user may not write (or on a read-only mount)
        return sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                               isolation_level=None)
    return sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _summary_columns(d: dict[str, Any]) -> dict[str, Any]:
    """The listed columns, read from a ``ProbeResult.to_dict()`` (its resolved record where it has one)."""
    cfg = d.get("config") or {}
    res = d.get("resolved") or {}
    model = res.get("model") or cfg.get("model") or {}
    seeds = res.get("seeds") or d.get("seeds") or {}
    classes = d.get("classes") or ()
    label = model.get("label") or model.get("backbone") or "?"
    src = res or cfg
    selected = d.get("selected")
    return {
        "created": str(d.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S")),
        "label": str(label),
        "weight_state": stored_weight_state(model),
        "dataset": str(src.get("dataset") or "?"),
        "head": str(src.get("head") or "?"),
        "layer": src.get("layer"),
        "pooling": str(src.get("pooling") or "default"),
        "top1": float(d["top1"]),
        "top2": None if d.get("top2") is None else float(d["top2"]),
        "top5": None if d.get("top5") is None else float(d["top5"]),
        "n_train": d.get("n_train"),
        "n_test": d.get("n_test"),
        "n_classes": len(classes) if classes else None,
        "seed": seeds.get("split", cfg.get("seed")),
        "val_top1": None if d.get("val_top1") is None else float(d["val_top1"]),
        "test_top1": float(d.get("test_top1", d["top1"])),
        "n_features": d.get("n_features"),
        "selected": json.dumps(selected, sort_keys=True, default=_json_default) if selected else None,
        "backbone": model.get("backbone"),
        "weights": model.get("weights"),
        "n_val": d.get("n_val"),
        "model_seed": seeds.get("model", model.get("seed")),
        "split_seed": seeds.get("split", cfg.get("seed")),
        "head_seed": seeds.get("head", cfg.get("seed")),
        "tta": str(src.get("tta") or "none"),
        "setting": setting_of(d),
    }


class History:
    """The run history at ``path`` (default: the app's). ``readonly=True`` opens it without writing anything (no
    creation, upgrade or repair; its runs read as they are, older ones' missing columns from their JSON): for the
    commands that only read, and for showing the runs of a history that cannot be written now."""

    def __init__(self, path: Path | str | None = None, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else paths.home() / FILENAME
        self.readonly = readonly
        self._db: sqlite3.Connection | None = None
        self._columns: set[str] = set(SUMMARY_FIELDS)  # the columns the runs table has
        self._derive = False  # read the derived columns a row lacks from its JSON (read-only on an old/half file)
        if readonly and not self.path.is_file():
            raise HistoryUnavailable(f"{self.path}: there is no run history there yet")
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            db = _connect(self.path, readonly)
        except (sqlite3.Error, OSError) as exc:
            why = _WHY.get(_code(exc)) if isinstance(exc, sqlite3.Error) else None
            raise HistoryUnavailable(f"{self.path}: cannot open the run history: {why or exc}"
                                     + (f" ({exc})" if why else "")) from exc
        try:
            self._check_and_create(db)
        except sqlite3.Error as exc:
            db.close()
            if _is_corrupt(exc):
                raise HistoryCorrupt(f"{self.path}: not a readable run history database ({exc})") from exc
            why = _WHY.get(_code(exc)) or "it cannot be used now"
            raise HistoryUnavailable(f"{self.path}: {why} ({exc}); the file was left as it is") from exc
        except BaseException:
            db.close()
            raise
        db.isolation_level = ""  # from here on: Python's transactions (``with self.db``) as usual
        self._db = db

    def _check_and_create(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version > SCHEMA_VERSION:
            raise HistoryUnavailable(
                f"{self.path}: written by a newer version of Filter Explorer (history format {version}; this "
                f"version reads up to {SCHEMA_VERSION}). Update the app to read it; the file was left as it is."
            )
        if tables - {"runs", "sqlite_sequence"} or (tables and app_id != APPLICATION_ID):
            raise HistoryCorrupt(f"{self.path}: this SQLite file is not a Filter Explorer run history "
                                 f"(tables: {', '.join(sorted(tables))})")
        # a quick structural check catches truncated/corrupt pages now rather than at the first list()
        ok = db.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise HistoryCorrupt(f"{self.path}: the database is damaged ({ok})")
        have = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
        if self.readonly:  # nothing written: what an upgrade would add is read from each run's JSON
            self._columns = have
            self._derive = bool(tables) and (any(c not in have for c, _ in COLUMNS_V2) or _half_filled(db))
            return
        mode = str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal":  # (a new file, or one a tool switched back; switching needs the write lock)
            mode = str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise HistoryUnavailable(f"{self.path}: cannot switch the database to WAL mode (got {mode!r}); "
                                         "the file was left as it is")
        db.execute("PRAGMA synchronous=NORMAL")
        if (tables and version == SCHEMA_VERSION and app_id == APPLICATION_ID
                and all(c in have for c, _ in COLUMNS_V2) and not _half_filled(db)):
            return  # nothing to create, upgrade or repair: no write, no write lock
        # create / upgrade / repair as one transaction: the columns, their filling and the version commit together
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # (another process may have been first)
            if version > SCHEMA_VERSION:
                raise HistoryUnavailable(f"{self.path}: written by a newer version of Filter Explorer (history "
                                         f"format {version}; this version reads up to {SCHEMA_VERSION}). Update the "
                                         "app to read it; the file was left as it is.")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._migrate(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # (the connection is closed next; SQLite rolls back what was not committed)
            raise

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Schema 1 -> 2: add the new columns and fill them from each old run's JSON (nothing is lost); and repair
        rows an older version's interrupted upgrade left with empty new columns (each empty one filled from the
        JSON; a value already there is never changed). Runs inside the caller's transaction."""
        have = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
        missing = [(c, t) for c, t in COLUMNS_V2 if c not in have]
        for c, t in missing:
            db.execute(f"ALTER TABLE runs ADD COLUMN {c} {t}")
        names = [c for c, _ in COLUMNS_V2]
        any_null = " OR ".join(f"{c} IS NULL" for c in names)
        for rid, text in db.execute(f"SELECT id, json FROM runs WHERE {any_null}").fetchall():
            cols = _derived(text)
            if cols is None:
                continue  # a damaged row keeps its old columns
            db.execute(f"UPDATE runs SET {', '.join(f'{c} = COALESCE({c}, ?)' for c in names)} WHERE id = ?",
                       tuple(cols[c] for c in names) + (rid,))

    # --- the API --------------------------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise HistoryError(f"{self.path}: the history is closed")
        return self._db

    def journal_mode(self) -> str:
        try:
            return str(self.db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        except sqlite3.Error as exc:
            raise _failure(self.path, "could not read the history", exc) from exc

    def add(self, result: Any, note: str = "") -> int:
        """Store a finished run (a ``ProbeResult`` or its ``to_dict()``); committed before returning its id."""
        d = result if isinstance(result, dict) else result.to_dict()
        cols = _summary_columns(d)
        cols["note"] = note
        cols["json"] = json.dumps(d, default=_json_default)
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        try:
            with self.db:
                cur = self.db.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", tuple(cols.values()))
        except sqlite3.Error as exc:
            raise _failure(self.path, "could not save the run", exc, self.readonly) from exc
        return int(cur.lastrowid)

    def _summaries(self, where: str, args: tuple, doing: str) -> list[RunSummary]:
        if not self._columns:  # a read-only open of an empty file: no table, no runs
            return []
        cols = [c if c in self._columns else f"NULL AS {c}" for c in SUMMARY_FIELDS]
        if self._derive:
            cols.append("json")
        try:
            rows = self.db.execute(f"SELECT {', '.join(cols)} FROM runs {where}", args).fetchall()
        except sqlite3.Error as exc:
            raise _failure(self.path, doing, exc) from exc
        if not self._derive:
            return [_summary(r) for r in rows]
        out = []
        for r in rows:  # a read-only open of an older or half-upgraded history: empty columns read from the JSON
            d = dict(zip(SUMMARY_FIELDS, r[:-1]))
            if any(d[c] is None for c, _ in COLUMNS_V2):
                derived = _derived(r[-1]) or {}
                for c, _ in COLUMNS_V2:
                    if d[c] is None:
                        d[c] = derived.get(c)
            out.append(_summary(tuple(d[k] for k in SUMMARY_FIELDS)))
        return out

    def list(self, dataset: str | None = None) -> list[RunSummary]:
        """All runs, newest first (optionally of one dataset)."""
        if dataset is None:
            return self._summaries("ORDER BY id DESC", (), "could not read the runs")
        return self._summaries("WHERE dataset = ? ORDER BY id DESC", (dataset,), "could not read the runs")

    def summary(self, run_id: int) -> RunSummary:
        rows = self._summaries("WHERE id = ?", (int(run_id),), f"could not read run {run_id}")
        if not rows:
            raise KeyError(f"no run with id {run_id}")
        return rows[0]

    def get(self, run_id: int) -> dict:
        if not self._columns:
            raise KeyError(f"no run with id {run_id}")
        try:
            row = self.db.execute("SELECT json FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        except sqlite3.Error as exc:
            raise _failure(self.path, f"could not read run {run_id}", exc) from exc
        if row is None:
            raise KeyError(f"no run with id {run_id}")
        try:
            d = json.loads(row[0])
        except ValueError as exc:
            raise HistoryError(f"{self.path}: run {run_id} is stored damaged ({exc})") from exc
        d["id"] = int(run_id)
        d["run_id"] = int(run_id)
        return d

    def delete(self, run_id: int | Iterable[int]) -> None:
        ids = [int(run_id)] if isinstance(run_id, (int,)) else [int(i) for i in run_id]
        try:
            with self.db:
                self.db.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])
        except sqlite3.Error as exc:
            raise _failure(self.path, "could not delete the runs", exc, self.readonly) from exc

    def __len__(self) -> int:
        if not self._columns:
            return 0
        try:
            return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        except sqlite3.Error as exc:
            raise _failure(self.path, "could not count the runs", exc) from exc

    def _selected(self, ids: Iterable[int] | None) -> list[RunSummary]:
        runs = self.list()
        if ids is None:
            return runs
        want = {int(i) for i in ids}
        missing = want - {r.id for r in runs}
        if missing:
            raise KeyError(f"no runs with ids {sorted(missing)}")
        return [r for r in runs if r.id in want]

    def csv_text(self, ids: Iterable[int] | None = None) -> str:
        """One line per run: the listed columns plus timings, feature width, seeds and per-class accuracy."""
        runs = self._selected(ids)
        extra = ("extract_seconds", "train_seconds", "device", "per_class")
        f = io.StringIO()
        w = csv.writer(f)
        w.writerow(SUMMARY_FIELDS + extra)
        for r in runs:
            d = self.get(r.id)
            per_class = " ".join(f"{v:.4f}" for v in d.get("per_class") or ())
            row = r.as_row()
            w.writerow([row[k] for k in SUMMARY_FIELDS] + [
                d.get("extract_seconds"), d.get("train_seconds"), d.get("device"), per_class])
        return f.getvalue()

    def json_text(self, ids: Iterable[int] | None = None) -> str:
        """A JSON object with the full stored runs (each with its ``id``)."""
        runs = self._selected(ids)
        data = {"format": "filter-explorer-probe-history", "version": SCHEMA_VERSION,
                "runs": [as_fitted(self.get(r.id)) for r in runs]}  # (app.probe.printed)
        return jsonout.dumps(data, indent=1, default=_json_default)

    def export_csv(self, path: Path | str, ids: Iterable[int] | None = None) -> None:
        atomic_write(path, self.csv_text(ids))

    def export_json(self, path: Path | str, ids: Iterable[int] | None = None) -> None:
        atomic_write(path, self.json_text(ids))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _derived(text: str) -> dict[str, Any] | None:
    """The listed columns derived from a stored run's JSON; None when it cannot be read."""
    try:
        return _summary_columns(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _half_filled(db: sqlite3.Connection) -> bool:
    """Whether an upgrade by an older version stopped half-way: its new columns committed but left empty (NULL)
    where the run's JSON has the value. Such an upgrade left every run it should have filled empty, and those are
    the oldest ones: the first few rows tell (no scan of the table at each open)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    names = [c for c, _ in COLUMNS_V2 if c in have]
    if not names:
        return False
    for row in db.execute(f"SELECT json, {', '.join(names)} FROM runs ORDER BY id LIMIT ?",
                          (REPAIR_PROBE_ROWS,)).fetchall():
        empty = [c for c, v in zip(names, row[1:]) if v is None]
        if empty:
            derived = _derived(row[0])
            if derived is not None and any(derived.get(c) is not None for c in empty):
                return True
    return False


_RECORD_LOCK = threading.Lock()


def record(result: Any, path: Path | str | None = None, note: str = "") -> int:
    """Store one finished run in the history at ``path`` (default: the app's) and return its id. Thread-safe:
    opens its own connection, adds (committed) and closes; call it from any thread."""
    with _RECORD_LOCK:
        h = History(path)
        try:
            return h.add(result, note)
        finally:
            h.close()


def open_history(path: Path | str | None = None) -> tuple[History, str | None]:
    """Open the history for the GUI. A damaged or foreign file (``HistoryCorrupt``) is moved aside (kept, renamed) and
    a fresh one started. A good file that cannot be used now (``HistoryUnavailable``: locked, read-only, disk full,
    newer version) is left as it is and opened read-only where that works, so its runs are still shown; if even that
    fails, the ``HistoryUnavailable`` is raised.

    Returns (history, message): message is None when all went well, else a sentence for the user that says what
    was wrong (and, for a moved file, where the old file now is).
    """
    path = Path(path) if path is not None else paths.home() / FILENAME
    try:
        h = History(path)
    except HistoryUnavailable as exc:
        try:
            shown = History(path, readonly=True)
        except HistoryError:
            raise exc from None
        return shown, (f"{exc}\nIts runs are shown, but runs cannot be stored while this lasts (each finished run "
                       "says whether it was).")
    except HistoryCorrupt as exc:
        aside = aside_path(path)  # an earlier copy is never written over
        try:
            path.replace(aside)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.replace(aside.with_name(aside.name + suffix))
        except OSError as move_exc:
            raise HistoryError(f"{exc}; moving it aside failed too ({move_exc})") from exc
        try:
            fresh = History(path)
        except HistoryError as fresh_exc:
            _remove_empty(path)  # not left as an empty file a later launch would open as a fresh history, silently
            raise HistoryError(f"{exc}\nThe old file was kept as {aside}, but a new history could not be started: "
                               f"{fresh_exc}") from fresh_exc
        return fresh, f"{exc}\nThe old file was kept as {aside}; a new, empty history was started."
    if not os.access(path, os.W_OK):  # (root may write anyway, except on a read-only mount)
        return h, (f"{path}: the run history is read-only: its runs are shown, but runs of this session cannot be "
                   "stored.")
    return h, None


def _remove_empty(path: Path) -> None:
    """Remove the empty file (and its sidecars) a failed start of a fresh history left behind."""
    try:
        if not path.is_file() or path.stat().st_size != 0:
            return
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if p.is_file():
                p.unlink()
    except OSError:
        pass


# the comparison of stored runs lives in app.probe.compare (imported here: callers name it with the history)
from app.probe.compare import WEIGHT_STATES, GroupStat, compare_groups  # noqa: E402,F401
