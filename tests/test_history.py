"""Run history core (no Qt): add/list/get/delete/export, WAL, unreadable or future databases, comparison groups."""

from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from app.probe.history import (
    SCHEMA_VERSION,
    History,
    HistoryError,
    HistoryUnavailable,
    compare_groups,
    open_history,
)


def fake_result(label="simple (random)", state="random", top1=0.8, seed=0, dataset="digits", head="logistic"):
    """What ProbeResult.to_dict() gives (the fields History reads, plus arrays as lists)."""
    return {
        "config": {
            "model": {"backbone": "simple", "label": label, "weight_state": state, "seed": 0},
            "dataset": dataset, "data_root": None, "layer": None, "pooling": "default", "head": head,
            "train_limit": 300, "test_limit": 100, "seed": seed, "head_options": [["epochs", 5]],
        },
        "top1": top1, "top2": min(1.0, top1 + 0.05), "top5": min(1.0, top1 + 0.1),
        "per_class": [top1] * 10, "confusion": [[1] * 10] * 10, "classes": [str(i) for i in range(10)],
        "misclassified": [3, 7], "mis_predicted": [1, 2], "n_train": 300, "n_test": 100, "n_features": 64,
        "extract_seconds": 0.5, "train_seconds": 0.25,
        "curves": [{"step": 1, "epoch": 0.5, "loss": 2.0, "train_acc": 0.3, "test_acc": None}],
        "device": "cpu", "created": "2026-11-22T03:00:00", "feature_cache_hit": False,
    }


def test_add_list_get_delete(tmp_path):
    h = History(tmp_path / "h.sqlite")
    a = h.add(fake_result(top1=0.5))
    b = h.add(fake_result("simple (trained, MNIST)", "trained", top1=0.9), note="baseline")
    runs = h.list()
    assert [r.id for r in runs] == [b, a]  # newest first
    assert runs[0].label == "simple (trained, MNIST)" and runs[0].weight_state == "trained"
    assert runs[0].top1 == pytest.approx(0.9) and runs[0].n_train == 300 and runs[0].note == "baseline"
    assert runs[1].dataset == "digits" and runs[1].head == "logistic" and runs[1].n_classes == 10
    d = h.get(a)
    assert d["id"] == a and d["per_class"] == [0.5] * 10 and d["config"]["model"]["label"] == "simple (random)"
    assert h.list(dataset="mnist") == []
    h.delete(a)
    assert [r.id for r in h.list()] == [b]
    with pytest.raises(KeyError):
        h.get(a)
    h.close()


def test_wal_mode_and_commit_survives_a_crash(tmp_path):
    path = tmp_path / "h.sqlite"
    h = History(path)
    assert h.journal_mode() == "wal"
    run_id = h.add(fake_result())
    # a second connection (another process after a crash) sees the committed run while the first is still open
    other = sqlite3.connect(str(path))
    assert other.execute("SELECT COUNT(*) FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == 1
    other.close()
    h.close()


def test_export_csv_and_json(tmp_path):
    h = History(tmp_path / "h.sqlite")
    a = h.add(fake_result(top1=0.5))
    b = h.add(fake_result("x", top1=0.75))
    h.export_csv(tmp_path / "all.csv")
    rows = list(csv.DictReader(open(tmp_path / "all.csv", encoding="utf-8")))
    assert [int(r["id"]) for r in rows] == [b, a]
    assert float(rows[0]["top1"]) == 0.75 and rows[0]["label"] == "x" and rows[0]["n_features"] == "64"
    assert len(rows[0]["per_class"].split()) == 10
    h.export_json(tmp_path / "one.json", ids=[a])
    data = json.loads((tmp_path / "one.json").read_text())
    assert [r["id"] for r in data["runs"]] == [a] and data["runs"][0]["top1"] == 0.5
    with pytest.raises(KeyError):
        h.export_json(tmp_path / "x.json", ids=[999])
    h.close()


def test_corrupt_database_is_moved_aside_with_a_message(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(HistoryError, match="not a readable run history"):
        History(path)
    h, msg = open_history(path)
    assert msg and "was kept as" in msg and "not a readable run history" in msg
    kept = [p for p in tmp_path.iterdir() if "unreadable" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not sqlite")  # never lost
    assert h.list() == [] and h.add(fake_result()) > 0
    h.close()


def test_database_from_the_future_and_foreign_database(tmp_path):
    future = tmp_path / "future.sqlite"
    db = sqlite3.connect(str(future))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.execute("CREATE TABLE runs (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="newer version"):
        History(future)
    # refused, but never moved aside: the newer version's runs stay where that version finds them (audit 31, 1)
    before = future.read_bytes()
    with pytest.raises(HistoryUnavailable, match="newer version.*left as it is"):
        open_history(future)
    assert future.read_bytes() == before and not [p for p in tmp_path.iterdir() if "unreadable" in p.name]
    foreign = tmp_path / "foreign.sqlite"
    db = sqlite3.connect(str(foreign))
    db.execute("CREATE TABLE photos (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(HistoryError, match="not a Filter Explorer run history"):
        History(foreign)


def test_reopen_keeps_runs(tmp_path):
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        rid = h.add(fake_result(top1=0.625))
    with History(path) as h:
        assert h.get(rid)["top1"] == 0.625 and len(h) == 1


def test_compare_groups_mean_std_and_order(tmp_path):
    h = History(tmp_path / "h.sqlite")
    h.add(fake_result("resnet20 (trained)", "trained", top1=0.9))
    for seed, acc in ((0, 0.5), (1, 0.7)):
        h.add(fake_result("simple (random)", "random", top1=acc, seed=seed))
    groups = compare_groups(h.list())
    assert [g.weight_state for g in groups] == ["random", "trained"]
    rnd = groups[0]
    assert rnd.n_runs == 2 and rnd.top1_mean == pytest.approx(0.6)
    assert rnd.top1_std == pytest.approx(0.1414213, rel=1e-5)  # sample std
    assert groups[1].n_runs == 1 and groups[1].top1_std == 0.0 and groups[1].chance == pytest.approx(0.1)
    h.close()


def test_damaged_pages_are_detected_at_open(tmp_path):
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        for i in range(120):
            h.add(fake_result(top1=i / 120))
    size = path.stat().st_size
    with open(path, "r+b") as f:  # overwrite pages in the middle (a disk error, a bad copy)
        f.seek(size // 2)
        f.write(b"\xff" * 8192)
    with pytest.raises(HistoryError, match="damaged|not a readable"):
        History(path)
    h, msg = open_history(path)
    assert "was kept as" in msg and len(h) == 0
    h.close()
