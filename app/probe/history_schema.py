"""The run history's table (its schema, the columns listed from each run), a stored row as a ``RunSummary``, and
the errors a history raises with the SQLite failures they stand for (``app.probe.history`` opens, upgrades, reads and
writes the file; its names are re-exported there). Qt-free."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.errors import AppError
from app.models.catalog import stored_weight_state

SCHEMA_VERSION = 2
APPLICATION_ID = 0x46455850  # "FEXP": marks the file as ours
REPAIR_PROBE_ROWS = 5  # the oldest rows looked at, at each writable open, for columns a half-done upgrade left empty

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


class HistoryCorrupt(HistoryError):
    """The file is not a usable run history (damaged, truncated, another program's): ``open_history`` moves it aside."""


class HistoryUnavailable(HistoryError):
    """A run history that cannot be used now (in use by another process, read-only, the disk full or failing, or
    written by a newer version): the file is left exactly as it is."""


# SQLite's primary result codes (``sqlite3.Error.sqlite_errorcode & 0xff``)
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 10, 11, 13, 14, 26
_WHY = {_BUSY: "the run history is in use by another process", _LOCKED: "the run history is in use by another process",
        _READONLY: "the run history is read-only", _PERM: "the run history is read-only",
        _FULL: "the disk is full", _IOERR: "the disk could not read or write the run history (I/O error)",
        _CANTOPEN: "the run history file cannot be opened"}


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def _is_corrupt(exc: sqlite3.Error) -> bool:
    """Damage (SQLITE_CORRUPT, SQLITE_NOTADB), as opposed to a file that cannot be used now (busy, read-only ...)."""
    code = _code(exc)
    if code is not None:
        return code in (_CORRUPT, _NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _failure(path: Path, doing: str, exc: sqlite3.Error, readonly: bool = False) -> HistoryError:
    """A failed read or write as the error to raise: ``HistoryUnavailable`` saying why (locked, read-only, disk full
    ...) where SQLite tells, else ``HistoryError``. ``readonly``: the history was opened read-only."""
    if readonly and _code(exc) == _READONLY:
        return HistoryUnavailable(f"{path}: {doing}: the run history was opened read-only (it could not be written "
                                  "when it was opened)")
    why = _WHY.get(_code(exc))
    if why is not None:
        return HistoryUnavailable(f"{path}: {doing}: {why} ({exc})")
    if _is_corrupt(exc):
        return HistoryCorrupt(f"{path}: {doing}: the database is damaged ({exc})")
    return HistoryError(f"{path}: {doing} ({exc})")


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
    resolved record (runs stored before it).

    A ``seed`` in the model's options is left out only where it IS the recorded model seed (``seeds.model``): the
    model seed copied into the options, or an options seed the run recorded as its model seed
    (``app.probe.resolve.model_seed``). An options seed that differs from the recorded one stays: runs stored before
    the record named the options seed as their model seed (``--options seed=5`` and ``seed=6`` both recorded model
    seed 0, their weights drawn from 5 and 6) are then told apart by it, not read as one seed run twice; and where an
    initialisation draws from the spec's seed as well, the options seed is part of the setting."""
    res = d.get("resolved")
    if not isinstance(res, dict) or not res:
        return None
    res = json.loads(json.dumps(res, default=_json_default))
    seeds = res.pop("seeds", None)
    model = res.get("model") if isinstance(res.get("model"), dict) else {}
    recorded = (seeds.get("model") if isinstance(seeds, dict) else None)
    spec_seed = model.pop("seed", None)
    if recorded is None:  # (as the history's model_seed column reads such a record)
        recorded = spec_seed
    options = model.get("options")
    if isinstance(options, dict) and "seed" in options and _same_seed(options["seed"], recorded):
        options.pop("seed")  # the recorded model seed, in the options
    return json.dumps(res, sort_keys=True)


def _same_seed(a: Any, b: Any) -> bool:
    try:
        return a is not None and b is not None and not isinstance(a, bool) and int(a) == int(b) and float(a) == float(b)
    except (TypeError, ValueError):
        return False


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
