"""Run an experiment: expand the recipe into cells, skip those already stored, run the rest on an executor,
store each as it finishes, write the report. A task generator: ``Progress(done, total, "... ETA ...",
payload=CellDone)`` after every cell; cancel leaves the finished cells stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.experiments import executors
from app.experiments.recipe import Cell, Recipe, check_runnable, fmt_seconds
from app.experiments.store import Store
from app.tasks import Cancelled, CancelToken, Progress


@dataclass(frozen=True)
class CellDone:
    cell: dict[str, Any]
    result: dict[str, Any]
    reused: bool = False


@dataclass(frozen=True)
class ExperimentResult:
    recipe: Recipe
    quick: bool
    cells: tuple[dict[str, Any], ...]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> result
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0
    executor: str = "local"
    report: dict[str, str] = field(default_factory=dict)  # "md", "html", "csv" -> path
    cancelled: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """One row per cell: its settings flattened, variant and metrics (failed cells: error)."""
        out = []
        for c in self.cells:
            r = self.results.get(c["key"], {"error": "not run"})
            out.append({"cell": c, "result": r})
        return out


def run_experiment(recipe: Recipe, quick: bool = False, executor: str = "local", workers: int | None = None,
                   cancel: CancelToken | None = None, store: Store | None = None, out_dir: str | Path | None = None,
                   report: bool = True, rerun: bool = False):
    from app.experiments.report import write_report

    t0 = time.perf_counter()
    check_runnable(recipe, quick)  # no cell: refused before a run is recorded or an empty report written
    store = store or Store()
    cells = [c.to_dict() for c in recipe.cells(quick)]
    total = len(cells)
    done = {} if rerun else store.done(recipe.name)
    results: dict[str, dict] = {c["key"]: done[c["key"]] for c in cells if c["key"] in done}
    reused = len(results)
    pending = [c for c in cells if c["key"] not in results]
    run_id = store.start_run(recipe.name, quick, total)
    yield Progress(reused, total, f"{recipe.describe(quick)}; {reused} cell(s) already stored, {len(pending)} to run"
                                  f" ({executor})")
    for c in cells:
        if c["key"] in results:
            yield Progress(reused, total, "reused a stored cell", CellDone(c, results[c["key"]], True))
    failed = 0
    times: list[float] = []
    n_done = reused
    cancelled = False
    workers_n = workers or executors.default_workers()
    from app.experiments.results import cell_settings

    names = cell_settings(cells)  # what tells each cell apart (its grid values, its arm, its seeds)
    try:
        started = time.perf_counter()
        for cell, result in executors.run(executor, pending, workers, cancel):
            n_done += 1
            if "error" in result:
                failed += 1  # an older result of the same key (a --rerun's) is kept: same settings and files
            else:
                store.put(cell, result)
                times.append(float(result.get("seconds", 0.0)))
            results[cell["key"]] = result
            left = total - n_done
            elapsed = time.perf_counter() - started
            per = elapsed / max(1, n_done - reused)
            eta = per * left
            what = " · ".join(t for t in (cell.get("variant") or "", names.get(cell["key"]) or _short(cell)) if t)
            msg = (f"cell {n_done}/{total} done{f' ({what})' if what else ''}: "
                   f"{_metric(result)}; ETA {fmt_seconds(eta)}")
            yield Progress(n_done, total, msg, CellDone(cell, result))
    except Cancelled:
        cancelled = True
    res = ExperimentResult(recipe, quick, tuple(cells), results, reused, failed, time.perf_counter() - t0, executor,
                           {}, cancelled)
    paths = {}
    if report and not cancelled:
        yield Progress(n_done, total, "writing the report")
        paths = write_report(res, out_dir)
        res = ExperimentResult(recipe, quick, tuple(cells), results, reused, failed, time.perf_counter() - t0,
                               executor, paths, cancelled)
    store.finish_run(run_id, paths.get("html"))
    if cancelled:
        raise Cancelled()
    _ = workers_n
    return res


def _short(cell: dict) -> str:
    s = cell["settings"]
    parts = [f"{k}={v}" for k, v in s.items() if k.endswith("_seed")]
    return ", ".join(parts)


def _metric(r: dict) -> str:
    if "error" in r:
        return f"failed: {r['error']}"
    t = r.get("test_top1")
    v = r.get("val_top1")
    out = f"test {100 * t:.2f}%" if isinstance(t, (int, float)) else "test ?"
    if isinstance(v, (int, float)):
        out += f", val {100 * v:.2f}%"
    return out
