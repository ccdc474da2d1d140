"""Audit 31, the probe run history (findings 1, 2, 5, 8, 9 of the persistence audit).

1. A good history that cannot be used now (another process holds its write lock, the file is read-only, the disk is
   full) is left exactly as it is, never moved aside as "unreadable" with an empty one started; its runs are still
   shown (read-only) and the user is told why runs are not stored. Only real damage moves a file aside. The
   ``history`` commands open it read-only.
2. A schema upgrade is one transaction (a killed upgrade leaves the file as it was), and a history an older version's
   interrupted upgrade left with empty accuracy columns is refilled from each run's stored JSON.
5. ``main.py probe`` prints a finished run the history cannot store (text and --json), says it was not stored, and
   exits 2.
8. ``history export --out`` refuses to write over the history database itself.
9. delete / get / summary / count fail as a ``HistoryError`` the GUI shows, never a raw sqlite3 error.

Locks are a second sqlite3 connection holding ``BEGIN EXCLUSIVE``; the history's busy timeout is cut to 0.1 s. A full
disk is SQLite's own SQLITE_FULL (``PRAGMA max_page_count`` at the file's size); read-only is SQLite's own
``mode=ro`` (chmod does not stop root, under which these tests may run).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.probe import history as hmod
from app.probe.history import (
    APPLICATION_ID,
    COLUMNS_V2,
    History,
    HistoryError,
    HistoryUnavailable,
    open_history,
    record,
)
from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parent.parent

V1_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL, label TEXT NOT NULL, weight_state TEXT NOT NULL,
    dataset TEXT NOT NULL, head TEXT NOT NULL, layer INTEGER, pooling TEXT NOT NULL, top1 REAL NOT NULL, top2 REAL,
    top5 REAL, n_train INTEGER, n_test INTEGER, n_classes INTEGER, seed INTEGER, note TEXT NOT NULL DEFAULT '',
    json TEXT NOT NULL
);
"""


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch):
    monkeypatch.setattr(hmod, "BUSY_TIMEOUT_S", 0.1)


def run_record(i: int, pad: int = 0) -> dict:
    """A stored run's JSON (what ``ProbeResult.to_dict()`` gives, as far as the history reads it)."""
    top1 = 0.90 + i / 100
    return {
        "config": {"model": {"backbone": "resnet20", "label": "resnet20", "weight_state": "trained"},
                   "dataset": "cifar10", "head": "logistic", "seed": i},
        "resolved": {"model": {"backbone": "resnet20", "label": "resnet20", "weight_state": "trained",
                               "weights": None, "seed": 0},
                     "layer": 3, "pooling": "gap", "head": "logistic", "dataset": "cifar10",
                     "seeds": {"model": 0, "split": i, "head": i}},
        "top1": top1, "test_top1": top1, "val_top1": 0.88, "n_features": 512, "n_val": 100, "n_train": 900,
        "n_test": 500, "selected": {"weight_decay": 0.001}, "created": "2026-01-01T10:00:00",
        "misclassified": [], "pad": "x" * pad,
    }


def old_history(path: Path, n: int = 3, wal: bool = True, pad: int = 0) -> None:
    """A schema-1 history (as versions before the accuracy columns wrote it), ``n`` runs."""
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V1_SCHEMA)
    for i in range(n):
        d = run_record(i, pad)
        db.execute("INSERT INTO runs (created, label, weight_state, dataset, head, layer, pooling, top1, seed, json) "
                   "VALUES ('2026-01-01', 'resnet20', 'trained', 'cifar10', 'logistic', 3, 'gap', ?, ?, ?)",
                   (d["top1"], i, json.dumps(d)))
    db.execute("PRAGMA user_version=1")
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.commit()
    db.close()


def half_upgraded_history(path: Path, n: int = 3, only: tuple[str, ...] | None = None) -> None:
    """What an older version left after its upgrade was killed during the filling: the new columns there (committed
    at once) but empty, and the next launch's ``user_version=2`` on top. ``only``: just these columns empty (an
    upgrade that added them alone, "setting" for one)."""
    old_history(path, n)
    db = sqlite3.connect(path)
    for c, t in COLUMNS_V2:
        db.execute(f"ALTER TABLE runs ADD COLUMN {c} {t}")
    if only is not None:  # the columns added before were filled then
        for rid, text in db.execute("SELECT id, json FROM runs").fetchall():
            cols = hmod._summary_columns(json.loads(text))
            keep = [c for c, _ in COLUMNS_V2 if c not in only]
            db.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in keep)} WHERE id = ?",
                       tuple(cols[c] for c in keep) + (rid,))
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()


def raw(path: Path, sql: str):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def version_and_columns(path: Path) -> tuple[int, set[str]]:
    return raw(path, "PRAGMA user_version")[0][0], {r[1] for r in raw(path, "PRAGMA table_info(runs)")}


@contextlib.contextmanager
def write_lock(path: Path):
    """Another process's pending write (a CLI run storing, a DB browser with unsaved changes): BEGIN EXCLUSIVE. On a
    WAL file readers still read; on a rollback-journal file they cannot."""
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("UPDATE runs SET note = note")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def aside_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "unreadable" in p.name]


def full_disk(monkeypatch) -> None:
    """Every writable connection may not grow the file: SQLite's own "database or disk is full" (SQLITE_FULL)."""
    real = hmod._connect

    def connect(path, readonly):
        db = real(path, readonly)
        n = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count={max(n, 1)}")
        return db

    monkeypatch.setattr(hmod, "_connect", connect)


def read_only_files(monkeypatch) -> None:
    """Every connection opened read-only (SQLite's mode=ro: a write is SQLITE_READONLY, as on a file the user may not
    write, also under root)."""
    real = hmod._connect
    monkeypatch.setattr(hmod, "_connect", lambda path, readonly: real(path, True))


# --- 1. busy, read-only, full: the file is left as it is, its runs shown ------------------------------------------
def test_a_locked_history_is_opened_as_it_is_and_stores_again_once_free(tmp_path):
    path = tmp_path / "history.sqlite"
    with History(path) as h:
        for i in range(3):
            h.add(run_record(i))
    with write_lock(path):
        h, msg = open_history(path)  # needs nothing written: the other process's lock is no reason to fail
        assert msg is None and not h.readonly and len(h) == 3
        assert [r.test_top1 for r in h.list()] == pytest.approx([0.92, 0.91, 0.90])
        with pytest.raises(HistoryUnavailable, match="could not save the run: the run history is in use by another "
                                                     "process"):
            record(run_record(3), path)
    assert aside_files(tmp_path) == [] and len(h) == 3
    assert record(run_record(3), path) == 4 and len(h) == 4  # the lock gone: stored again
    h.close()


def test_a_locked_history_that_needs_an_upgrade_is_left_as_it_is_and_shown_read_only(tmp_path):
    path = tmp_path / "history.sqlite"
    old_history(path, 3)
    with write_lock(path):
        with pytest.raises(HistoryUnavailable, match="in use by another process.*left as it is"):
            History(path)
        h, msg = open_history(path)
        assert h.readonly
        assert "the run history is in use by another process" in msg and "Its runs are shown" in msg
        assert "runs cannot be stored" in msg
        # the runs as they are, the columns the upgrade would add read from each run's JSON
        assert [(r.id, r.test_top1, r.val_top1, r.n_features) for r in h.list()] == \
            [(3, pytest.approx(0.92), 0.88, 512), (2, pytest.approx(0.91), 0.88, 512), (1, 0.90, 0.88, 512)]
        assert h.summary(1).backbone == "resnet20" and h.get(2)["top1"] == pytest.approx(0.91)
    assert aside_files(tmp_path) == [] and version_and_columns(path)[0] == 1  # not moved, not changed
    h.close()
    with History(path) as h:  # the lock gone: upgraded
        assert version_and_columns(path)[0] == 2 and h.list()[0].test_top1 == pytest.approx(0.92)


def test_a_history_locked_against_readers_too_raises_unavailable_and_is_not_moved(tmp_path):
    path = tmp_path / "history.sqlite"
    old_history(path, 2, wal=False)  # a rollback journal: an exclusive lock keeps readers out too
    before = path.read_bytes()
    with write_lock(path):
        with pytest.raises(HistoryUnavailable, match="in use by another process.*left as it is"):
            open_history(path)
    assert path.read_bytes() == before and aside_files(tmp_path) == []


def test_a_read_only_history_is_shown_and_says_runs_are_not_stored(tmp_path, monkeypatch):
    old = tmp_path / "old.sqlite"
    old_history(old, 2)
    good = tmp_path / "good.sqlite"
    with History(good) as h:
        h.add(run_record(0))
    read_only_files(monkeypatch)
    h, msg = open_history(old)  # an upgrade cannot be written: shown read-only, as it is
    assert h.readonly and "the run history is read-only" in msg and "Its runs are shown" in msg
    assert [r.test_top1 for r in h.list()] == pytest.approx([0.91, 0.90])
    h.close()
    assert aside_files(tmp_path) == [] and version_and_columns(old)[0] == 1
    h, msg = open_history(good)  # nothing to write: opened
    assert len(h) == 1
    with pytest.raises(HistoryUnavailable, match="could not save the run: the run history is read-only"):
        h.add(run_record(1))
    with pytest.raises(HistoryUnavailable, match="could not delete the runs: the run history is read-only"):
        h.delete([1])
    assert len(h) == 1 and aside_files(tmp_path) == []
    h.close()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes a chmod 444 file anyway")
def test_a_chmod_read_only_history_is_shown_with_a_message(tmp_path):
    path = tmp_path / "history.sqlite"
    with History(path) as h:
        h.add(run_record(0))
    path.chmod(0o444)
    try:
        h, msg = open_history(path)
        assert len(h) == 1 and "read-only" in msg and aside_files(tmp_path) == []
        h.close()
        r = run_cli("history", "--db", str(path), "list", home=tmp_path / "home")
        assert r.returncode == 0 and "test  90.00%" in r.stdout, r.stderr
    finally:
        path.chmod(0o644)


def test_a_full_disk_leaves_the_history_as_it_is_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    old_history(path, 40, pad=2000)  # filling the new columns needs more pages than the disk has
    before = path.read_bytes()
    good = tmp_path / "good.sqlite"
    with History(good) as h:
        h.add(run_record(0))
    full_disk(monkeypatch)
    h, msg = open_history(path)
    assert h.readonly and "the disk is full" in msg and "Its runs are shown" in msg
    assert len(h.list()) == 40 and h.list()[-1].test_top1 == 0.90
    h.close()
    assert path.read_bytes() == before and aside_files(tmp_path) == []
    with pytest.raises(HistoryUnavailable, match="could not save the run: the disk is full"):
        record(run_record(1, pad=50_000), good)
    with History(good) as h:
        assert len(h) == 1


def test_only_a_damaged_file_is_moved_aside_and_a_failed_fresh_start_says_where_it_went(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    real = hmod._connect

    def connect(p, readonly):  # the fresh file cannot be started (the disk full by now)
        if not p.exists() or p.stat().st_size == 0:
            db = real(p, readonly)
            db.close()
            exc = sqlite3.OperationalError("database or disk is full")
            exc.sqlite_errorcode = 13
            raise exc
        return real(p, readonly)

    monkeypatch.setattr(hmod, "_connect", connect)
    with pytest.raises(HistoryError) as caught:
        open_history(path)
    (aside,) = aside_files(tmp_path)
    text = str(caught.value)
    assert "not a readable run history" in text and f"kept as {tmp_path / aside}" in text
    assert "a new history could not be started" in text and "the disk is full" in text
    assert (tmp_path / aside).read_bytes().startswith(b"this is not sqlite")
    assert not path.exists()  # no empty file a later launch would open as a fresh history without a word


def test_history_commands_read_without_writing_even_a_locked_or_old_history(tmp_path):
    path = tmp_path / "runs.sqlite"
    old_history(path, 2)
    before = path.read_bytes()
    home = tmp_path / "home"
    with write_lock(path):
        listed = run_cli("history", "--db", str(path), "list", home=home)
        assert listed.returncode == 0, listed.stderr
        assert "test  91.00%" in listed.stdout and "test  90.00%" in listed.stdout and "512 feat" in listed.stdout
        rows = json.loads(run_cli("history", "--db", str(path), "list", "--json", home=home).stdout)
        assert [r["test_top1"] for r in rows] == pytest.approx([0.91, 0.90])
        shown = run_cli("history", "--db", str(path), "show", "2", home=home)
        assert shown.returncode == 0 and json.loads(shown.stdout)["top1"] == pytest.approx(0.91)
        exported = run_cli("history", "--db", str(path), "export", "--csv", home=home)
        assert exported.returncode == 0 and exported.stdout.count("\n") == 3
    assert path.read_bytes() == before and version_and_columns(path)[0] == 1  # read as it is: nothing written


# --- 2. the upgrade is atomic; a half-upgraded history is refilled --------------------------------------------------
def test_an_upgrade_killed_half_way_commits_nothing(tmp_path):
    path = tmp_path / "history.sqlite"
    old_history(path, 5)
    child = subprocess.Popen([sys.executable, "-c", f"""
import time
from app.probe import history as hmod
real, n = hmod._summary_columns, [0]
def slow(d):
    n[0] += 1
    if n[0] == 3:
        print('upgrading', flush=True)
        time.sleep(60)
    return real(d)
hmod._summary_columns = slow
hmod.History({str(path)!r})
"""], stdout=subprocess.PIPE, text=True, cwd=str(ROOT), env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "upgrading"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    version, columns = version_and_columns(path)
    assert version == 1 and "test_top1" not in columns  # as before the upgrade: nothing of it committed
    with History(path) as h:
        assert [r.test_top1 for r in h.list()] == pytest.approx([0.94, 0.93, 0.92, 0.91, 0.90])
    assert version_and_columns(path)[0] == 2


def test_an_upgrade_interrupted_in_process_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    old_history(path, 5)
    real, n = hmod._summary_columns, [0]

    def dying(d):
        n[0] += 1
        if n[0] == 3:
            raise KeyboardInterrupt("killed during the upgrade")
        return real(d)

    monkeypatch.setattr(hmod, "_summary_columns", dying)
    with pytest.raises(KeyboardInterrupt):
        History(path)
    assert version_and_columns(path)[0] == 1 and "val_top1" not in version_and_columns(path)[1]
    monkeypatch.setattr(hmod, "_summary_columns", real)
    h, msg = open_history(path)
    assert msg is None
    assert [(r.test_top1, r.val_top1, r.backbone, r.n_features) for r in h.list()][-1] == (0.90, 0.88, "resnet20", 512)
    h.close()


def test_a_history_an_older_version_left_half_upgraded_is_refilled_from_each_runs_json(tmp_path, monkeypatch):
    path = tmp_path / "history.sqlite"
    half_upgraded_history(path, 3)
    assert raw(path, "SELECT COUNT(*) FROM runs WHERE test_top1 IS NULL")[0][0] == 3
    home = tmp_path / "home"
    # read-only, before any repair: the history commands show the figures (from the JSON), and write nothing
    before = path.read_bytes()
    listed = run_cli("history", "--db", str(path), "list", home=home)
    assert "test  92.00%" in listed.stdout and "test   0.00%" not in listed.stdout, listed.stdout
    assert path.read_bytes() == before
    with History(path) as h:  # a writable open repairs the file itself
        assert [(r.test_top1, r.val_top1, r.backbone, r.n_features) for r in h.list()] == \
            [(pytest.approx(0.92), 0.88, "resnet20", 512), (pytest.approx(0.91), 0.88, "resnet20", 512),
             (0.90, 0.88, "resnet20", 512)]
        assert h.list()[0].setting is not None and h.list()[0].selected_dict == {"weight_decay": 0.001}
    assert raw(path, "SELECT COUNT(*) FROM runs WHERE test_top1 IS NULL OR setting IS NULL")[0][0] == 0
    # once repaired, an open writes nothing again
    calls = []
    monkeypatch.setattr(History, "_migrate", staticmethod(lambda db: calls.append(db)))
    with History(path) as h:
        assert len(h) == 3
    assert calls == []


def test_a_column_added_alone_and_left_empty_is_refilled_and_present_values_kept(tmp_path):
    path = tmp_path / "history.sqlite"
    half_upgraded_history(path, 2, only=("setting",))  # the "setting" upgrade killed; the rest filled before
    db = sqlite3.connect(path)
    db.execute("UPDATE runs SET note = 'mine', val_top1 = 0.5 WHERE id = 1")  # a value already there is kept
    db.commit()
    db.close()
    with History(path) as h:
        runs = {r.id: r for r in h.list()}
        assert all(r.setting for r in runs.values())
        assert runs[1].val_top1 == 0.5 and runs[1].note == "mine" and runs[2].val_top1 == 0.88


# --- 5. the probe command prints a run it cannot store ----------------------------------------------------------
PROBE = ("probe", "--backbone", "simple", "--options", '{"widths": [4], "in_channels": 1, "input_size": 8}',
         "--dataset", "digits", "--train-limit", "120", "--test-limit", "40", "--head", "ridge")


def test_probe_prints_a_run_the_history_cannot_store_then_exits_2(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    path = home / "history.sqlite"
    with History(path) as h:
        h.add(run_record(0))
    with write_lock(path):
        r = run_cli(*PROBE, home=home)
    assert r.returncode == 2
    first = r.stdout.splitlines()[0]
    assert first.startswith("run (not stored): simple on digits") and "test top-1" in first, r.stdout
    assert "not stored: " in r.stdout and "in use by another process" in r.stdout
    assert "error: the run was not stored in the history" in r.stderr and "in use by another process" in r.stderr
    ok = run_cli(*PROBE, "--json", home=home)  # the lock gone: stored, and said so
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert out["stored"] is True and out["not_stored_reason"] is None and out["run_id"] == 2
    # --rerun reads its run from a history that cannot be written now (an upgrade to write, locked)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs DROP COLUMN setting")
    db.commit()
    db.close()
    with write_lock(path):
        rerun = run_cli("probe", "--rerun", "2", "--json", home=home)
    assert rerun.returncode == 2
    out_rerun = json.loads(rerun.stdout)
    assert out_rerun["rerun_of"] == 2 and out_rerun["top1"] == out["top1"] and out_rerun["stored"] is False
    assert "in use by another process" in out_rerun["not_stored_reason"]
    # a history written by a newer version: refused, left as it is; the run printed all the same
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=3")
    db.commit()
    db.close()
    newer = run_cli(*PROBE, "--json", home=home)
    assert newer.returncode == 2
    out = json.loads(newer.stdout)
    assert out["stored"] is False and out["run_id"] is None and 0 <= out["top1"] <= 1
    assert "newer version" in out["not_stored_reason"] and "newer version" in newer.stderr
    assert raw(path, "SELECT COUNT(*) FROM runs")[0][0] == 2 and aside_files(home) == []


# --- 8. export --out onto the history itself --------------------------------------------------------------------
def test_export_refuses_to_write_over_the_history_itself(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = tmp_path / "runs.sqlite"
    with History(db) as h:
        h.add(run_record(0))
    before = db.read_bytes()
    link = tmp_path / "link.sqlite"
    link.symlink_to(db)
    hard = tmp_path / "hard.sqlite"
    os.link(db, hard)
    for out in (db, link, hard, tmp_path / "sub" / ".." / "runs.sqlite", tmp_path / "runs.sqlite-wal"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        for fmt in ("--csv", "--json"):
            r = run_cli("history", "--db", str(db), "export", fmt, "--out", str(out), home=home)
            assert r.returncode == 2 and "is the run history itself" in r.stderr and "wrote" not in r.stderr, out
            assert db.read_bytes() == before
    # the app's own history, no --db
    with History(home / "history.sqlite") as h:
        h.add(run_record(0))
    mine = (home / "history.sqlite").read_bytes()
    r = run_cli("history", "export", "--csv", "--out", str(home / "history.sqlite"), home=home)
    assert r.returncode == 2 and "is the run history itself" in r.stderr
    assert (home / "history.sqlite").read_bytes() == mine
    fine = run_cli("history", "--db", str(db), "export", "--csv", "--out", str(tmp_path / "runs.csv"), home=home)
    assert fine.returncode == 0 and (tmp_path / "runs.csv").read_text().startswith("id,")
    assert run_cli("history", "--db", str(db), "list", home=home).returncode == 0


# --- 9. delete / get / summary / count fail as HistoryError ------------------------------------------------------
def test_delete_get_summary_and_count_fail_as_history_errors(tmp_path):
    path = tmp_path / "history.sqlite"
    with History(path) as h:
        rid = h.add(run_record(0))
    h = History(path)
    with write_lock(path):
        with pytest.raises(HistoryUnavailable, match="could not delete the runs: the run history is in use by another"
                                                     " process"):
            h.delete([rid])
    h.delete([rid])  # and once free, deleted
    assert len(h) == 0
    h.close()
    old = tmp_path / "old.sqlite"
    old_history(old, 2, wal=False)  # a rollback journal: another process's exclusive lock keeps readers out
    h = History(old, readonly=True)
    with write_lock(old):
        for call, doing in ((lambda: h.get(1), "could not read run 1"), (lambda: h.summary(1), "could not read run 1"),
                            (lambda: len(h), "could not count the runs"), (h.list, "could not read the runs")):
            with pytest.raises(HistoryUnavailable, match=f"{doing}: the run history is in use by another process"):
                call()
    assert h.get(1)["top1"] == 0.90 and len(h) == 2
    h.close()


# --- the Probe workspace's history (GUI) -------------------------------------------------------------------------
def _tiny_job():
    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig
    from widgets.probe.model import Job

    cfg = ProbeConfig(model=ModelSpec.make("simple", options={"widths": (4,), "in_channels": 1, "input_size": 8}),
                      dataset="digits", head="ridge", train_limit=120, test_limit=40, seed=0)
    return Job("probe", cfg, "simple")


@pytest.mark.gui
def test_the_probe_shows_the_runs_of_a_history_it_cannot_write_and_a_finished_run_unstored(qtbot, fe_home):
    from app.tasks import CancelToken, run_to_end
    from widgets.probe.history_panel import HistoryPanel
    from widgets.probe.runner import job_task

    fe_home.mkdir(parents=True, exist_ok=True)
    path = fe_home / "history.sqlite"
    old_history(path, 3)  # an upgrade to write, while another process holds the lock
    with write_lock(path):
        panel = HistoryPanel()
        qtbot.addWidget(panel)
        panel.refresh()
        assert panel.table.ids() == [3, 2, 1] and len(panel) == 3  # the runs shown
        assert "in use by another process" in panel.open_message and "Its runs are shown" in panel.open_message
        assert panel.path == path and panel.load(2).top1 == pytest.approx(0.91)
        done = run_to_end(job_task(_tiny_job(), panel.path)(CancelToken()))
        assert done.run.run_id is None and 0 <= done.run.top1 <= 1  # the finished run kept, shown
        assert "the run history is in use by another process" in done.store_error
    assert aside_files(fe_home) == [] and version_and_columns(path)[0] == 1
    done = run_to_end(job_task(_tiny_job(), panel.path)(CancelToken()))  # the lock gone: stored (the file upgraded)
    assert done.store_error is None and done.run.run_id == 4
    panel.refresh()
    assert panel.table.ids() == [4, 3, 2, 1]
    panel.close_history()


@pytest.mark.gui
def test_the_probe_says_so_when_it_cannot_read_the_history_at_all(qtbot, fe_home):
    from widgets.probe.history_panel import HistoryPanel

    fe_home.mkdir(parents=True, exist_ok=True)
    path = fe_home / "history.sqlite"
    old_history(path, 2, wal=False)
    before = path.read_bytes()
    with write_lock(path):
        panel = HistoryPanel()
        qtbot.addWidget(panel)
    assert panel.history is None and panel.path is None and len(panel) == 0
    assert "in use by another process" in panel.open_message
    assert "Runs of this session will not be stored" in panel.open_message
    assert path.read_bytes() == before and aside_files(fe_home) == []


@pytest.mark.gui
def test_a_delete_the_history_refuses_is_shown_and_the_runs_stay(qtbot, fe_home, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from widgets.probe.history_panel import HistoryPanel

    fe_home.mkdir(parents=True, exist_ok=True)
    path = fe_home / "history.sqlite"
    with History(path) as h:
        for i in range(2):
            h.add(run_record(i))
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.refresh()
    shown = []
    panel.message.connect(lambda text, kind: shown.append((text, kind)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with write_lock(path):
        panel.delete_runs([1])
    assert shown and shown[0][1] == "error" and "could not delete the runs" in shown[0][0]
    assert "in use by another process" in shown[0][0]
    assert panel.table.ids() == [2, 1]
    panel.close_history()


@pytest.mark.gui
def test_a_rerun_reads_its_run_from_a_history_it_cannot_write(qtbot, fe_home):
    from app.tasks import CancelToken, run_to_end
    from widgets.probe.model import Job
    from widgets.probe.runner import job_task

    fe_home.mkdir(parents=True, exist_ok=True)
    path = fe_home / "history.sqlite"
    first = run_to_end(job_task(_tiny_job(), path)(CancelToken()))
    assert first.store_error is None and first.run.run_id == 1
    db = sqlite3.connect(path)  # as a history written before the "setting" column: an upgrade to write
    db.execute("ALTER TABLE runs DROP COLUMN setting")
    db.commit()
    db.close()
    with write_lock(path):
        again = run_to_end(job_task(Job("rerun", None, "rerun of run 1", run_id=1), path)(CancelToken()))
    assert again.run.run_id is None and again.run.top1 == pytest.approx(first.run.top1)  # rerun, shown
    assert "the run history is in use by another process" in again.store_error
    assert aside_files(fe_home) == [] and "setting" not in version_and_columns(path)[1]


def test_a_history_shown_read_only_says_so_when_asked_to_delete(tmp_path):
    path = tmp_path / "history.sqlite"
    old_history(path, 2)
    with write_lock(path):
        h, msg = open_history(path)
    assert h.readonly and len(h) == 2  # the lock gone by now, the history still open read-only
    with pytest.raises(HistoryUnavailable, match="could not delete the runs: the run history was opened read-only"):
        h.delete([1])
    assert len(h) == 2
    h.close()


@pytest.mark.gui
def test_the_probe_history_count_that_fails_is_said_not_raised(qtbot, fe_home):
    from widgets.probe.history_panel import HistoryPanel

    fe_home.mkdir(parents=True, exist_ok=True)
    panel = HistoryPanel()
    qtbot.addWidget(panel)
    panel.close_history()
    old = fe_home / "old.sqlite"
    old_history(old, 2, wal=False)  # a rollback journal: another process's exclusive lock keeps readers out
    panel.history = History(old, readonly=True)
    shown = []
    panel.message.connect(lambda text, kind: shown.append((text, kind)))
    with write_lock(old):
        assert len(panel) == 0 and panel.runs() == []
    assert [k for _, k in shown] == ["error", "error"] and "could not count the runs" in shown[0][0]
    assert len(panel) == 2
    panel.close_history()
