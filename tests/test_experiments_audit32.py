"""An audit of the Experiments feature (session 32): an edited recipe file the GUI kept running as first read,
ablations whose named baseline was not listed first, seeds that repeat one result counted as pairs, [quick] settings
that silently did not apply, a dead pool worker that ended the run, cancel that dropped finished cells, retrieval
figures missing from the report, cancelled runs listed as complete, recipe values of the wrong type, and training
cells without a test-image count (no error bars)."""

from __future__ import annotations

import csv
import io
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from app.experiments import executors
from app.experiments.ablation import ablation, ablation_table, cell_changes, cell_pairs
from app.experiments.recipe import RecipeError, load_recipe, parse, shipped
from app.experiments.results import as_text, results_table
from app.experiments.runner import ExperimentResult, run_experiment
from app.experiments.store import Store
from app.tasks import Cancelled, CancelToken, run_to_end

N = 1000

TINY = """
name = "tiny-edit"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "gap"
train_limit = 200
test_limit = 80
options = { k = 8, blocks = 1 }
[grid]
"options.k" = [8, 16]
[plot]
x = "options.k"
"""


def _result(doc: dict, figures) -> ExperimentResult:
    r = parse(doc, "planted.toml")
    cells = tuple(c.to_dict() for c in r.cells(False))
    return ExperimentResult(r, False, cells, {c["key"]: f for c in cells if (f := figures(c)) is not None})


def _rec(wrong, val=0.9) -> dict:
    return {"test_top1": (N - len(wrong)) / N, "val_top1": val, "n_test": N, "misclassified": list(wrong),
            "test_fingerprint": "fp"}


def _row(lines: list[str], arm: str) -> str:
    return next(line for line in lines if line.startswith(f"| {arm} "))


# --- 1. the GUI runs the recipe file as it is now ----------------------------------------------------------------
@pytest.mark.gui
def test_an_edited_recipe_file_is_read_again_before_the_plan_and_the_run(qtbot, tmp_path):
    from widgets.experiments.workspace import ExperimentsWorkspace

    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    assert ws.load_file(str(path))
    ws.quick.setChecked(False)
    ws.executor.setCurrentText("inline")
    assert "2 probe cell(s)" in ws.plan.text()
    path.write_text(TINY.replace("[8, 16]", "[8, 32, 64]"))  # edited in another program
    ws.set_active(True)  # back to the workspace: the plan is the file's as it is now
    assert "3 probe cell(s)" in ws.plan.text() and "options.k in [8, 32, 64]" in ws.plan.text()
    assert ws.status.text() == "Recipe reloaded from tiny.toml (the file changed since it was read)."
    path.write_text(TINY.replace("[8, 16]", "[8, 32]"))  # edited again, then Run at once
    ws.run()
    assert "Recipe reloaded from tiny.toml" in ws.status.text()
    qtbot.waitUntil(lambda: not ws.is_running(), timeout=120_000)
    assert [c["settings"]["options"]["k"] for c in ws.result.cells] == [8, 32]
    report = Path(ws.result.report["md"]).read_text()
    assert "| - | 32 | 1 |" in report and "| - | 16 |" not in report
    # a file that no longer reads: the project's message, and nothing runs
    path.write_text(TINY.replace("[base]", "[base]\nbakbone = 1"))
    ws.set_active(True)
    assert ws.status.text().startswith("The recipe file changed and no longer reads: tiny.toml [base]: unknown key "
                                       "'bakbone'")
    before = ws.result
    ws.run()
    assert not ws.is_running() and ws.result is before
    assert ws.status.text().startswith("Not started: the recipe file changed and no longer reads: tiny.toml [base]: "
                                       "unknown key 'bakbone'")
    path.write_text(TINY)  # mended: it reads again, the line under Run invites again
    ws.set_active(True)
    assert ws.status.text().startswith("Recipe reloaded from tiny.toml") and "2 probe cell(s)" in ws.plan.text()
    ws.shutdown()


# --- 2. every arm against its named baseline, whatever the order -------------------------------------------------
def test_an_ablation_whose_baseline_is_listed_last_compares_every_arm_with_it():
    doc = {"name": "abl3", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": [0, 1]},
           "variants": [{"label": "no-x", "pooling": "avg"}, {"label": "no-y", "pooling": "max"}, {"label": "full"}],
           "plot": {"kind": "ablation", "x": "variant", "baseline": ["full"]}}
    fig = {"no-x": 0.80, "no-y": 0.85, "full": 0.90}
    res = _result(doc, lambda c: {"test_top1": fig[c["variant"]] + 0.001 * c["settings"]["model_seed"],
                                  "val_top1": 0.9})
    lines = ablation_table(res)
    # the baseline first, then the arms compared with it (it was: no-x the baseline, no-y against no-x, +5.00)
    assert [line.split(" | ")[0][2:] for line in lines if line.startswith("| ") and "---" not in line][1:] == [
        "full", "no-x", "no-y"]
    assert _row(lines, "full").startswith("| full | full | 2 | 90.05 ± 0.07 | (baseline) |")
    assert _row(lines, "no-x").startswith("| no-x | full | 2 | 80.05 ± 0.07 | -10.00 ± 0.00 |")
    assert _row(lines, "no-y").startswith("| no-y | full | 2 | 85.05 ± 0.07 | -5.00 ± 0.00 |")
    changes = cell_changes(res)
    for c in res.cells:
        want = None if c["variant"] == "full" else fig[c["variant"]] - fig["full"]
        assert changes[c["key"]] == pytest.approx(want) if want is not None else changes[c["key"]] is None


# --- 3. a seed list that does not reach the figures: one result, not pairs ---------------------------------------
def test_seeds_that_repeat_one_result_count_once_in_the_ablation_table_and_holms_family():
    doc = {"name": "abl2", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
           "seeds": {"model": [0, 1, 2], "split": [0, 1]},
           "variants": [{"label": "full"}, {"label": "no-x", "pooling": "avg"}],
           "plot": {"kind": "ablation", "x": "variant"}}

    def fig(c):  # the model seed reaches nothing: only the split seed changes the figures
        sp = c["settings"]["split_seed"]
        wrong = {("full", 0): range(100), ("full", 1): range(80), ("no-x", 0): range(110),
                 ("no-x", 1): range(100)}[(c["variant"], sp)]
        return _rec(wrong, val=0.9 if sp == 0 else 0.92)

    res = _result(doc, fig)
    table = as_text(ablation_table(res))
    row = [line for line in table.splitlines() if line.startswith("no-x ")][0]
    # two distinct results per arm: 90.00 / 92.00 and 89.00 / 90.00; changes -1.00 and -2.00 (it read "6", the
    # spread over six repeats, "± 0.55", and 6 McNemar tests in Holm's family)
    assert "6 (2 distinct: model_seed does not reach)" in row and "-1.50 ± 0.71" in row
    assert "89.50 ± 0.71" in row and "(2 of" not in row
    arm = ablation(res)[1]
    assert (arm["n"], arm["n_distinct"], arm["n_delta_test_top1"], arm["planned"]) == (6, 2, 2, 2)
    assert len(arm["paired_p"]) == 2 and arm["paired_tests"] == 2
    assert "all 2 of the table's comparisons" in table
    results = as_text(results_table(res))
    assert "6 (2 distinct: model_seed does not reach)" in results
    pairs = cell_pairs(res)
    arm_pairs = [pairs[c["key"]] for c in res.cells if c["variant"] == "no-x"]
    assert all(p is not None and p.family == 2 for p in arm_pairs)


# --- 4. [quick] settings the grid, a seed list or a variant's table would replace --------------------------------
def test_a_quick_setting_the_grid_varies_or_a_variant_table_replaces_is_refused(tmp_path):
    from tests.cli_inprocess import run_cli

    grid = tmp_path / "quickgrid.toml"
    grid.write_text('name = "quickgrid"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "mnist"\n'
                    'options = { k = 4096 }\n[grid]\n"options.k" = [1024, 4096, 16384]\n[quick]\ndataset = "digits"\n'
                    '"options.k" = 64\n')
    out = run_cli("experiment", "show", str(grid), "--quick", home=tmp_path / "home")
    assert out.returncode != 0 and "quickgrid.toml [quick]: sets 'options.k', which the [grid] varies " \
                                   "('options.k'): the grid's values would replace the quick table's" in out.stderr
    seeds = tmp_path / "quickseed.toml"
    seeds.write_text('name = "qs"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "digits"\n[seeds]\n'
                     'model = [0, 1]\n[quick]\nmodel_seed = 3\n')
    with pytest.raises(RecipeError, match=r"\[quick\]: sets 'model_seed', which \[seeds\] varies \('model' seeds\)"):
        load_recipe(seeds)
    var = tmp_path / "quickvar.toml"
    var.write_text('name = "quickvar"\nkind = "probe"\n[base]\nbackbone = "rdsn"\ndataset = "mnist"\n'
                   'options = { k = 4096, activation = "relu" }\n[seeds]\nmodel = [0, 1]\n[quick]\ndataset = "digits"\n'
                   '"options.k" = 64\n[[variants]]\nlabel = "relu"\n[[variants]]\nlabel = "sign"\n'
                   'options = { k = 4096, activation = "sign" }\n[plot]\nkind = "ablation"\n')
    out = run_cli("experiment", "show", str(var), "--quick", home=tmp_path / "home")
    assert out.returncode != 0 and ("quickvar.toml [[variants]] #2 ('sign'): its table 'options' sets 'options.k' "
                                    "= 4096 and replaces the whole table, so [quick]'s 'options.k' = 64 would not "
                                    "reach this variant at the quick size") in out.stderr
    # the fixes the messages offer read, and give both arms k = 64 at the quick size
    var.write_text(var.read_text().replace('options = { k = 4096, activation = "sign" }',
                                           '"options.activation" = "sign"'))
    assert {c.get("options.k") for c in load_recipe(var).cells(True)} == {64}
    # every shipped recipe still reads (their quick cells were compared before and after: the same)
    for p in shipped():
        load_recipe(p)


# --- 5. a dead worker in the process pool ------------------------------------------------------------------------
def _fake_cell(cell: dict) -> dict:
    """What a pool worker runs in these tests (no torch): a figure after ``train_limit`` milliseconds, or, for a
    cell with ``die``, the worker killed as the out-of-memory killer would."""
    s = cell["settings"]
    if s.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(float(s.get("train_limit", 50)) / 1000)
    return {"test_top1": 0.9, "val_top1": 0.9, "key": cell["key"], "seconds": float(s.get("train_limit", 50)) / 1000}


def _cells(*settings: dict) -> list[dict]:
    return [{"experiment": "pool", "kind": "probe", "variant": "", "key": f"k{i}", "settings": s}
            for i, s in enumerate(settings)]


def test_a_worker_that_dies_breaks_no_run_and_the_cell_that_killed_it_fails_alone():
    cells = _cells({"train_limit": 300}, {"die": True}, {"train_limit": 50}, {"train_limit": 50})
    out = dict((c["key"], r) for c, r in executors.run_local(cells, 2, None, call=_fake_cell))
    assert set(out) == {"k0", "k1", "k2", "k3"}
    assert out["k1"] == {"error": "its worker process died (out of memory?)", "key": "k1"}
    assert all(out[k]["test_top1"] == 0.9 for k in ("k0", "k2", "k3"))


def test_an_executor_that_breaks_still_gives_the_report_of_the_finished_cells(tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from tests.cli_inprocess import run_cli

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY)

    def broken(executor, cells, workers=None, cancel=None, **kw):
        yield cells[0], {"test_top1": 0.5, "val_top1": 0.5, "key": cells[0]["key"]}
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    monkeypatch.setattr(executors, "run", broken)
    out = run_cli("experiment", "run", str(recipe), "--out", str(tmp_path / "rep"), home=tmp_path / "home")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert ("options.k = 16: not run: the local executor stopped (BrokenProcessPool: A process in the process pool "
            "was terminated abruptly)") in out.stderr
    assert "| - | 8 | 1 | 50.00 | 50.00 |" in (tmp_path / "rep" / "tiny-edit.md").read_text()
    store = Store(tmp_path / "home" / "experiments.sqlite")
    assert len(store.done("tiny-edit")) == 1
    assert store.runs()[0]["state"].startswith("stopped: the local executor stopped") and store.runs()[0]["report"]


# --- 6. cancel keeps what finishes, and says what it does --------------------------------------------------------
def test_cancel_with_the_process_pool_stores_the_cells_still_running(tmp_path, monkeypatch):
    """The GUI's worker stops reading the run once Cancel is pressed (it closes the generator): the cell the pool
    was still running finished, and was dropped (the store had 1 cell; the run was never recorded as ended)."""
    doc = parse({"name": "cancel-pool", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
                 "grid": {"train_limit": [50, 2500, 60]}}, "x")
    monkeypatch.setattr(executors, "run", lambda ex, cells, workers=None, cancel=None, **kw:
                        executors.run_local(cells, 2, cancel, call=_fake_cell))
    store = Store(tmp_path / "exp.sqlite")
    token = CancelToken()
    gen = run_experiment(doc, False, "local", 2, cancel=token, store=store, report=False)
    for p in gen:
        if p.payload is not None and not p.payload.reused:
            token.cancel()
            break
    gen.close()  # as widgets.common.worker.Worker does after a cancel
    assert len(store.done("cancel-pool")) == 2  # the first cell, and the one running when Cancel was pressed
    run = store.runs()[0]
    assert (run["state"], run["done"], run["cells"], run["report"]) == ("cancelled", 2, 3, None)


@pytest.mark.gui
def test_cancel_says_what_it_does_with_each_executor(qtbot, tmp_path):
    from widgets.experiments.workspace import ExperimentsWorkspace

    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    tip = ws.cancel_btn.toolTip()
    assert "inline: the running cell stops now (its work is lost)" in tip
    assert "local: no new cell starts; the running cells finish and are stored" in tip
    assert "after the running cell" not in tip

    class Running:
        cancelled = False

        def is_running(self):
            return True

        def cancel(self):
            self.cancelled = True

    for ex, text in (("inline", "Cancelling (inline): the running cell stops now (its work is lost); the finished "
                                "cells stay stored…"),
                     ("local", "Cancelling (local): no new cell starts; the running cells finish and are stored, "
                               "with the cells finished before…")):
        ws.worker, ws._running_executor = Running(), ex
        ws.cancel()
        assert ws.status.text() == text and ws.worker.cancelled
    ws.worker = None


# --- 7. a k-NN head's retrieval figures in the report -----------------------------------------------------------
def test_precision_at_10_and_map_reach_the_csv_and_the_results_table():
    from app.experiments.report import csv_text

    doc = {"name": "knn", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits", "head": "knn"},
           "grid": {"options.k": [16, 32]}, "plot": {"x": "options.k", "y": "precision_at_10"}}
    res = _result(doc, lambda c: {"test_top1": 0.5, "val_top1": 0.5, "top2": 0.7,
                                  "retrieval": {"precision@10": c["settings"]["options"]["k"] / 100,
                                                "mAP": c["settings"]["options"]["k"] / 200}})
    rows = list(csv.DictReader(io.StringIO(csv_text(res))))
    assert [(r["precision_at_10"], r["map"]) for r in rows] == [("0.16", "0.08"), ("0.32", "0.16")]
    text = as_text(results_table(res))
    header, _, first, second = text.splitlines()
    assert "test precision@10 (k-NN)" in header and "16.00" in first and "32.00" in second


# --- 8. a cancelled run is listed as cancelled -------------------------------------------------------------------
@pytest.mark.gui
def test_a_cancelled_run_is_listed_as_such_and_its_line_says_why_no_report_opens(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from widgets.experiments.workspace import ExperimentsWorkspace

    r = parse({"name": "cancel-hist", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
               "seeds": {"model": [0, 1, 2, 3, 4, 5]}}, "x")
    monkeypatch.setattr(executors, "run", lambda ex, cells, workers=None, cancel=None, **kw: (
        (c, {"test_top1": 0.9, "key": c["key"]}) for c in cells if not executors.check(cancel)))
    store = Store(tmp_path / "exp.sqlite")
    token = CancelToken()
    with pytest.raises(Cancelled):
        for p in run_experiment(r, False, "inline", 1, cancel=token, store=store):
            if p.payload is not None:
                token.cancel()
    assert len(store.done("cancel-hist")) == 1
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url))
    ws = ExperimentsWorkspace(store=store)
    qtbot.addWidget(ws)
    ws._refresh_history()
    line = ws.history.item(0).text()
    assert line.startswith("cancel-hist (cancelled, 1 of 6 cells), ") and "6 cells," not in line
    ws.history.itemDoubleClicked.emit(ws.history.item(0))
    assert not opened
    assert ws.status.text() == ("cancel-hist: this run was cancelled after 1 of 6 cell(s) and wrote no report. Run "
                                "the recipe again to finish it: its stored cells are reused.")


def test_an_older_experiments_database_opens_and_keeps_its_runs(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE cells (key TEXT NOT NULL, experiment TEXT NOT NULL, kind TEXT NOT NULL,
            variant TEXT NOT NULL DEFAULT '', settings TEXT NOT NULL, result TEXT NOT NULL, created TEXT NOT NULL,
            PRIMARY KEY (experiment, key));
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, experiment TEXT NOT NULL, quick INTEGER NOT NULL,
            started TEXT NOT NULL, finished TEXT, report TEXT, cells INTEGER);
        INSERT INTO cells VALUES ('k1', 'old', 'probe', '', '{}', '{"test_top1": 0.5}', '2026-12-01T10:00:00');
        INSERT INTO runs (experiment, quick, started, finished, report, cells)
            VALUES ('old', 1, '2026-12-01T10:00:00', '2026-12-01T10:01:00', '/x/old.html', 4);
    """)
    db.commit()
    db.close()
    store = Store(path)
    assert store.done("old") == {"k1": {"test_top1": 0.5}}
    (old,) = store.runs()
    assert (old["experiment"], old["cells"], old["report"], old["state"], old["done"]) == ("old", 4, "/x/old.html",
                                                                                         None, None)
    from widgets.experiments.history import run_text

    assert run_text(old) == "old (quick): 4 cells, 2026-12-01 10:01"
    run_id = store.start_run("new", False, 2)
    store.finish_run(run_id, None, "cancelled", 1)
    assert [(r["experiment"], r["state"], r["done"]) for r in Store(path).runs()] == [("new", "cancelled", 1),
                                                                                      ("old", None, None)]


# --- 9. recipe values of the wrong type; a report that cannot be written -----------------------------------------
@pytest.mark.parametrize("extra, msg", [
    ('estimate_seconds = "10"\n', "'estimate_seconds' must be a non-negative number of seconds per cell (e.g. 10 or "
                                  "2.5, without quotes), got \"10\""),
    ('estimate_seconds = "ten"\n', "'estimate_seconds' must be a non-negative number of seconds per cell"),
    ("quick_estimate_seconds = -1\n", "'quick_estimate_seconds' must be a non-negative number"),
    ("title = 5\n", "t.toml: 'title' must be a string (in quotes), got 5"),
    ('[plot]\nx = "options.k"\ntitle = 5\n', "t.toml [plot]: 'title' must be a string (in quotes), got 5"),
    ('[plot]\nx = "options.k"\nlog_x = "false"\n', "t.toml [plot]: 'log_x' must be true or false (without quotes), "
                                                    "got \"false\""),
    ('[plot]\nx = "options.k"\n[[paper]]\nvalue = 0.9\nx = "100k"\n',
     "t.toml [[paper]] #1: 'x' must be a number (the plot's x, 'options.k', is numeric: 100000, not \"100k\"), got "
     "\"100k\""),
])
def test_recipe_values_of_the_wrong_type_are_refused_when_the_file_is_read(tmp_path, extra, msg):
    from tests.cli_inprocess import run_cli

    head, body = TINY.split("[base]", 1)
    text = (extra + head + "[base]" + body.split("[plot]")[0]) if not extra.startswith("[") else (
        head + "[base]" + body.split("[plot]")[0] + extra)
    path = tmp_path / "t.toml"
    path.write_text(text)
    out = run_cli("experiment", "show", str(path), home=tmp_path / "home")
    assert out.returncode != 0 and msg in out.stderr and "Traceback" not in out.stderr


def test_a_report_that_cannot_be_written_is_said_and_the_run_recorded(tmp_path, monkeypatch):
    import app.experiments.report as report
    from app.errors import AppError

    r = parse({"name": "rep", "kind": "probe", "base": {"backbone": "rdsn", "dataset": "digits"},
               "seeds": {"model": [0, 1]}}, "x")
    monkeypatch.setattr(executors, "run", lambda ex, cells, workers=None, cancel=None, **kw: (
        (c, {"test_top1": 0.9, "key": c["key"]}) for c in cells))

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_report", full)
    store = Store(tmp_path / "exp.sqlite")
    with pytest.raises(AppError) as exc:  # (a ReportError: the project's message, no traceback)
        run_to_end(run_experiment(r, False, "inline", store=store))
    assert str(exc.value) == ("rep: the report could not be written (OSError: No space left on device); the 2 "
                              "finished cell(s) are stored and the next run reuses them")
    assert len(store.done("rep")) == 2
    run = store.runs()[0]
    assert run["finished"] and run["state"] == "report failed: OSError: No space left on device"
    from widgets.experiments.history import no_report_reason, run_text

    assert run_text(run).startswith("rep (no report, 2 of 2 cells), ")
    assert "its report could not be written (OSError: No space left on device)" in no_report_reason(run)


# --- 10. a training cell's test-image count: its error bar -------------------------------------------------------
def test_a_training_cell_records_its_test_images_and_its_point_gets_a_standard_error():
    from app.experiments.cell import run_cell
    from widgets.experiments.plot import bars_note, point_errors

    r = parse({"name": "tr", "kind": "train",
               "base": {"backbone": "simple", "dataset": "digits", "epochs": 1, "train_limit": 200, "test_limit": 90,
                        "options": {"in_channels": 1, "widths": [4]}}, "plot": {"x": "variant"}}, "x")
    (cell,) = [c.to_dict() for c in r.cells(False)]
    out = run_cell(cell)
    assert out["n_test"] == 90 and out["n_val"] > 0
    res = ExperimentResult(r, False, (cell,), {cell["key"]: out})
    (info,) = point_errors(res).values()
    assert info.n_test == 90 and info.se is not None and info.se > 0
    assert bars_note([info]) == ("One seed: bars are the test-set standard error (± 1 s.e., binomial, on 90 test "
                                 "images); points whose bars overlap are not told apart.")
