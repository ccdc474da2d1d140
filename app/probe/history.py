"""The probe run history: one SQLite row per finished run, in ``app.paths.home()/history.sqlite``.

Each run is committed as soon as it is added (WAL journal), so a crash loses at most the run in progress. A row
keeps a few columns to list and sort by, and the full ``ProbeResult.to_dict()`` JSON to reopen the run later.

A file that is not a history database (corrupt, truncated, another program's) or one written by a newer version
of the app raises ``HistoryError`` with a message saying what is wrong; ``open_history()`` then moves the file
aside (never deletes it) and starts a fresh one, returning a message the GUI shows to the user.

``compare_groups()`` aggregates runs for the comparison chart: runs that differ only by seed are one group, shown
as mean and standard deviation.

Qt-free; not thread-safe (use it from one thread: the GUI thread).
"""

from __future__ import annotations

from app.errors import AppError

import csv
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from app import paths

SCHEMA_VERSION = 1
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

SUMMARY_FIELDS = ("id", "created", "label", "weight_state", "dataset", "head", "layer", "pooling", "top1", "top2",
                  "top5", "n_train", "n_test", "n_classes", "seed", "note")


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

    def as_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SUMMARY_FIELDS}


def _summary_columns(d: dict[str, Any]) -> dict[str, Any]:
    """The listed columns, read from a ``ProbeResult.to_dict()``."""
    cfg = d.get("config") or {}
    model = cfg.get("model") or {}
    classes = d.get("classes") or ()
    label = model.get("label") or model.get("backbone") or "?"
    return {
        "created": str(d.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S")),
        "label": str(label),
        "weight_state": str(model.get("weight_state") or "random"),
        "dataset": str(cfg.get("dataset") or "?"),
        "head": str(cfg.get("head") or "?"),
        "layer": cfg.get("layer"),
        "pooling": str(cfg.get("pooling") or "default"),
        "top1": float(d["top1"]),
        "top2": None if d.get("top2") is None else float(d["top2"]),
        "top5": None if d.get("top5") is None else float(d["top5"]),
        "n_train": d.get("n_train"),
        "n_test": d.get("n_test"),
        "n_classes": len(classes) if classes else None,
        "seed": cfg.get("seed"),
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
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        # a quick structural check catches truncated/corrupt pages now rather than at the first list()
        ok = db.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise HistoryError(f"{self.path}: the database is damaged ({ok})")

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
        return [RunSummary(**dict(zip(SUMMARY_FIELDS, r))) for r in rows]

    def summary(self, run_id: int) -> RunSummary:
        cols = ", ".join(SUMMARY_FIELDS)
        row = self.db.execute(f"SELECT {cols} FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id}")
        return RunSummary(**dict(zip(SUMMARY_FIELDS, row)))

    def get(self, run_id: int) -> dict:
        row = self.db.execute("SELECT json FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise KeyError(f"no run with id {run_id}")
        try:
            d = json.loads(row[0])
        except ValueError as exc:
            raise HistoryError(f"{self.path}: run {run_id} is stored damaged ({exc})") from exc
        d["id"] = int(run_id)
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

    def export_csv(self, path: Path | str, ids: Iterable[int] | None = None) -> None:
        """One line per run: the listed columns plus timings, feature width and per-class accuracy."""
        runs = self._selected(ids)
        extra = ("n_features", "extract_seconds", "train_seconds", "device", "model_backbone", "per_class")
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(SUMMARY_FIELDS + extra)
            for r in runs:
                d = self.get(r.id)
                model = (d.get("config") or {}).get("model") or {}
                per_class = " ".join(f"{v:.4f}" for v in d.get("per_class") or ())
                row = r.as_row()
                w.writerow([row[k] for k in SUMMARY_FIELDS] + [
                    d.get("n_features"), d.get("extract_seconds"), d.get("train_seconds"), d.get("device"),
                    model.get("backbone"), per_class])
        tmp.replace(path)

    def export_json(self, path: Path | str, ids: Iterable[int] | None = None) -> None:
        """A JSON list of the full stored runs (each with its ``id``)."""
        runs = self._selected(ids)
        data = {"format": "filter-explorer-probe-history", "version": SCHEMA_VERSION,
                "runs": [self.get(r.id) for r in runs]}
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(data, indent=1, default=_json_default), encoding="utf-8")
        tmp.replace(path)

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


# --- comparison ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat:
    """Runs that differ only by seed: the comparison chart's bar (mean) and error bar (std)."""

    key: tuple
    label: str
    weight_state: str
    dataset: str
    head: str
    layer: int | None
    pooling: str
    n_train: int | None
    n_runs: int
    top1_mean: float
    top1_std: float
    top5_mean: float | None
    ids: tuple[int, ...]
    chance: float | None

    @property
    def title(self) -> str:
        extra = [] if self.head in ("logistic",) else ["own classifier" if self.head == "own" else self.head]
        if self.layer is not None:
            extra.append(f"layer {self.layer}")
        if self.pooling not in ("default", ""):
            extra.append(self.pooling)
        return self.label + (f" [{', '.join(extra)}]" if extra else "")


WEIGHT_STATES = ("random", "hand-designed", "trained")


def compare_groups(runs: Iterable[RunSummary]) -> list[GroupStat]:
    """Group runs by everything but the seed; order: random, hand-designed, trained, then by first appearance."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in sorted(runs, key=lambda r: r.id):
        key = (r.label, r.weight_state, r.dataset, r.head, r.layer, r.pooling, r.n_train)
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        top1 = [r.top1 for r in rs]
        top5 = [r.top5 for r in rs if r.top5 is not None]
        mean = sum(top1) / len(top1)
        std = math.sqrt(sum((v - mean) ** 2 for v in top1) / (len(top1) - 1)) if len(top1) > 1 else 0.0
        first = rs[0]
        out.append(GroupStat(
            key=key, label=first.label, weight_state=first.weight_state, dataset=first.dataset, head=first.head,
            layer=first.layer, pooling=first.pooling, n_train=first.n_train, n_runs=len(rs), top1_mean=mean,
            top1_std=std, top5_mean=(sum(top5) / len(top5)) if top5 else None, ids=tuple(r.id for r in rs),
            chance=(1.0 / first.n_classes) if first.n_classes else None))
    order = {s: i for i, s in enumerate(WEIGHT_STATES)}
    return sorted(out, key=lambda g: (order.get(g.weight_state, len(order)), g.ids[0]))
