"""The probe run history: one SQLite row per finished run, in ``app.paths.home()/history.sqlite``.

Each run is committed as soon as it is added (WAL journal), so a crash loses at most the run in progress. A row
keeps a few columns to list and sort by, and the full ``ProbeResult.to_dict()`` JSON to reopen the run later.

A file that is not a history database (corrupt, truncated, another program's) or one written by a newer version
of the app raises ``HistoryError`` with a message saying what is wrong; ``open_history()`` then moves the file
aside (never deletes it) and starts a fresh one, returning a message the GUI shows to the user.

``compare_groups()`` aggregates runs for the comparison chart: runs that differ only by seed are one group, shown
as mean and standard deviation of validation and test accuracy.

Schema 2 (from 1: columns added, old runs kept and filled from their JSON) lists validation and test accuracy, the
feature count, the selected hyperparameters, the backbone, its weights and the three seeds.

Qt-free. A ``History`` object belongs to one thread; ``record(result)`` opens its own connection, adds and closes,
so any thread (the GUI's worker, the CLI) can store a run.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from app import jsonout
from app import paths
from app.errors import AppError
from app.models.catalog import stored_weight_state
from app.probe.printed import as_fitted
from app.storage import atomic_write

SCHEMA_VERSION = 2
APPLICATION_ID = 0x46455850  # "FEXP": marks the file as ours
FILENAME = "history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    label TEXT NOT NULL,
    weight_state TEXT NOT NULL,
    dataset TEXT NOT NULL,
    head TEXT NOT NULL,
    layer INTEGER,
    pooling TEXT NOT NULL,
    top1 REAL NOT NULL,
    top2 REAL,
    top5 REAL,
    n_train INTEGER,
    n_test INTEGER,
    n_classes INTEGER,
    seed INTEGER,
    note TEXT NOT NULL DEFAULT '',
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_dataset ON runs(dataset);
"""

# schema 2: added to schema 1's table (ALTER TABLE ... ADD COLUMN), filled from the stored JSON for old runs; "tta"
# (test-time views) and "setting" (``setting_of``: everything a run resolved but its seeds) were added later the same
# way (a reader of the first schema-2 files ignores the extra columns)
COLUMNS_V2 = (("val_top1", "REAL"), ("test_top1", "REAL"), ("n_features", "INTEGER"), ("selected", "TEXT"),
              ("backbone", "TEXT"), ("weights", "TEXT"), ("n_val", "INTEGER"), ("model_seed", "INTEGER"),
              ("split_seed", "INTEGER"), ("head_seed", "INTEGER"), ("tta", "TEXT"), ("setting", "TEXT"))

SUMMARY_FIELDS = ("id", "created", "label", "weight_state", "dataset", "head", "layer", "pooling", "top1", "top2",
                  "top5", "n_train", "n_test", "n_classes", "seed", "note") + tuple(c for c, _ in COLUMNS_V2)


class HistoryError(AppError):
    """The history database cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class RunSummary:
    id: int
    created: str
    label: str
    weight_state: str
    dataset: str
    head: str
    top1: float
    top2: float | None
    n_train: int | None
    seed: int | None
    layer: int | None = None
    pooling: str = "default"
    top5: float | None = None
    n_test: int | None = None
    n_classes: int | None = None
    note: str = ""
    val_top1: float | None = None
    test_top1: float | None = None
    n_features: int | None = None
    selected: str | None = None  # JSON object of the selected hyperparameters
    backbone: str | None = None
    weights: str | None = None
    n_val: int | None = None
    model_seed: int | None = None
    split_seed: int | None = None
    head_seed: int | None = None
    tta: str | None = "none"  # test-time views (app.probe.config.TTA)
    setting: str | None = None  # ``setting_of``: the run's resolved settings but its seeds (None: an older record)

    @property
    def selected_dict(self) -> dict:
        try:
            v = json.loads(self.selected) if self.selected else {}
        except ValueError:
            return {}
        return v if isinstance(v, dict) else {}

    def as_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SUMMARY_FIELDS}


def _summary(row) -> RunSummary:
    """A stored row as a ``RunSummary``; its weight state read as ``stored_weight_state`` (rows stored before the
    hand-designed / fitted states existed say "random" for scattering and patches runs)."""
    d = dict(zip(SUMMARY_FIELDS, row))
    d["weight_state"] = stored_weight_state(d)
    d["tta"] = d.get("tta") or "none"
    return RunSummary(**d)


def setting_of(d: dict[str, Any]) -> str | None:
    """Everything a run resolved but its seeds (model options, init, input, head options, grid, limits, data ...), as
    canonical JSON: runs with the same one differ by their seeds alone (``app.probe.compare``). None without a
    resolved record (runs stored before it)."""
    res = d.get("resolved")
    if not isinstance(res, dict) or not res:
        return None
    res = json.loads(json.dumps(res, default=_json_default))
    res.pop("seeds", None)
    model = res.get("model") if isinstance(res.get("model"), dict) else {}
    model.pop("seed", None)
    if isinstance(model.get("options"), dict):
        model["options"].pop("seed", None)  # the model seed, copied into the options
    return json.dumps(res, sort_keys=True)


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
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else paths.home() / FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(str(self.path), timeout=5.0)
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: cannot open the run history ({exc})") from exc
        try:
            self._check_and_create(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise HistoryError(f"{self.path}: not a readable run history database ({exc})") from exc
        except HistoryError:
            db.close()
            raise
        self._db = db

    def _check_and_create(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"{self.path}: written by a newer version of Filter Explorer (history format {version}; this "
                f"version reads up to {SCHEMA_VERSION}). Update the app to read it."
            )
        if tables - {"runs", "sqlite_sequence"} or (tables and app_id != APPLICATION_ID):
            raise HistoryError(f"{self.path}: this SQLite file is not a Filter Explorer run history "
                               f"(tables: {', '.join(sorted(tables))})")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise HistoryError(f"{self.path}: cannot switch the database to WAL mode (got {mode!r})")
        db.execute("PRAGMA synchronous=NORMAL")
        with db:
            db.executescript(_SCHEMA)
            self._migrate(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        # a quick structural check catches truncated/corrupt pages now rather than at the first list()
        ok = db.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise HistoryError(f"{self.path}: the database is damaged ({ok})")

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Schema 1 -> 2: add the new columns and fill them from each old run's JSON (nothing is lost)."""
        have = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
        missing = [(c, t) for c, t in COLUMNS_V2 if c not in have]
        if not missing:
            return
        for c, t in missing:
            db.execute(f"ALTER TABLE runs ADD COLUMN {c} {t}")
        names = [c for c, _ in COLUMNS_V2]
        for rid, text in db.execute("SELECT id, json FROM runs").fetchall():
            try:
                cols = _summary_columns(json.loads(text))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a damaged row keeps its old columns
            db.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in names)} WHERE id = ?",
                       tuple(cols[c] for c in names) + (rid,))

    # --- the API --------------------------------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise HistoryError(f"{self.path}: the history is closed")
        return self._db

    def journal_mode(self) -> str:
        return str(self.db.execute("PRAGMA journal_mode").fetchone()[0]).lower()

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
            raise HistoryError(f"{self.path}: could not save the run ({exc})") from exc
        return int(cur.lastrowid)

    def list(self, dataset: str | None = None) -> list[RunSummary]:
        """All runs, newest first (optionally of one dataset)."""
        cols = ", ".join(SUMMARY_FIELDS)
        sql = f"SELECT {cols} FROM runs"
        args: tuple = ()
        if dataset is not None:
            sql += " WHERE dataset = ?"
            args = (dataset,)
        sql += " ORDER BY id DESC"
        try:
            rows = self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(f"{self.path}: could not read the runs ({exc})") from exc
        return [_summary(r) for r in rows]

    def summary(self, run_id: int) -> RunSummary:
        cols = ", ".join(SUMMARY_FIELDS)
        row = self.db.execute(f"SELECT {cols} FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id}")
        return _summary(row)

    def get(self, run_id: int) -> dict:
        row = self.db.execute("SELECT json FROM runs WHERE id = ?", (int(run_id),)).fetchone()
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
        with self.db:
            self.db.executemany("DELETE FROM runs WHERE id = ?", [(i,) for i in ids])

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

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


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


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
    """Open the history; if the file is unusable, move it aside (kept, renamed) and start a fresh one.

    Returns (history, message): message is None when all went well, else a sentence for the user that says what
    was wrong and where the old file now is.
    """
    path = Path(path) if path is not None else paths.home() / FILENAME
    try:
        return History(path), None
    except HistoryError as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.stem}.unreadable-{stamp}{path.suffix}")
        n = 2
        while aside.exists():
            aside = path.with_name(f"{path.stem}.unreadable-{stamp}-{n}{path.suffix}")
            n += 1
        try:
            path.replace(aside)
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.exists():
                    side.replace(aside.with_name(aside.name + suffix))
        except OSError as move_exc:
            raise HistoryError(f"{exc}; moving it aside failed too ({move_exc})") from exc
        fresh = History(path)
        return fresh, f"{exc}\nThe old file was kept as {aside}; a new, empty history was started."


# the comparison of stored runs lives in app.probe.compare (imported here: callers name it with the history)
from app.probe.compare import WEIGHT_STATES, GroupStat, compare_groups  # noqa: E402,F401
