"""Run an experiment: expand the recipe into cells, skip those already stored, run the rest on an executor,
store each as it finishes, write the report. A task generator: ``Progress(done, total, "... ETA ...",
payload=CellDone)`` after every cell; cancel leaves the finished cells stored (a process pool's running cells too,
when they finish: also when the caller closes the generator after cancelling, as the GUI's worker does).

Every run is recorded (``Store.start_run`` / ``finish_run``) with how it ended: "finished" (with its report),
"cancelled" (and how many cells were done), "report failed: ..." (the cells are stored; a ``ReportError`` says so)
or "stopped: ..." (the executor itself broke: the cells it did not run are failed ones, "not run: ...", and the
report of those that finished is written all the same).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import AppError, message
from app.experiments import executors
from app.experiments.recipe import Cell, Recipe, check_runnable, fmt_seconds
from app.experiments.store import Store
from app.tasks import Cancelled, CancelToken, Progress


class ReportError(AppError):
    """The cells ran (and are stored) but the report could not be written; the run is recorded with the reason."""


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
    try:
        yield Progress(reused, total, f"{recipe.describe(quick)}; {reused} cell(s) already stored, {len(pending)} to "
                                      f"run ({executor})")
        for c in cells:
            if c["key"] in results:
                yield Progress(reused, total, "reused a stored cell", CellDone(c, results[c["key"]], True))
    except GeneratorExit:
        store.finish_run(run_id, None, "cancelled", reused)
        raise
    failed = 0
    times: list[float] = []
    n_done = reused
    cancelled = False
    stopped: str | None = None  # the executor itself failed (not a cell): why
    workers_n = workers or executors.default_workers()
    from app.experiments.results import cell_settings

    names = cell_settings(cells)  # what tells each cell apart (its grid values, its arm, its seeds)
    started = time.perf_counter()
    cells_out: Any = iter(())

    def keep(cell: dict, result: dict) -> None:
        nonlocal failed, n_done
        n_done += 1
        if "error" in result:
            failed += 1  # an older result of the same key (a --rerun's) is kept: same settings and files
        else:
            store.put(cell, result)
            times.append(float(result.get("seconds", 0.0)))
        results[cell["key"]] = result

    try:
        cells_out = executors.run(executor, pending, workers, cancel)
        for cell, result in cells_out:
            keep(cell, result)
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
    except GeneratorExit:
        # the caller stopped reading (the GUI's worker does once Cancel is pressed): the cells the executor still
        # finishes (a process pool's running ones) are stored all the same, and the run is recorded as cancelled
        try:
            if cancel is not None and cancel.cancelled:
                for cell, result in cells_out:
                    keep(cell, result)
        except Cancelled:
            pass
        except Exception:  # noqa: BLE001 - closing: what finished is stored, nothing more to say to anyone
            pass
        finally:
            _close(cells_out)
            store.finish_run(run_id, None, "cancelled", n_done)
        raise
    except AppError as exc:  # the executor cannot run here (Ray not installed ...): said as it is
        store.finish_run(run_id, None, f"stopped: {message(exc)}", n_done)
        raise
    except Exception as exc:  # noqa: BLE001 - the executor broke (not a cell): the finished cells make a report
        stopped = f"the {executor} executor stopped ({type(exc).__name__}: {message(exc)})"
        for c in pending:
            if c["key"] not in results:
                failed += 1
                results[c["key"]] = {"error": f"not run: {stopped}", "key": c["key"]}
    res = ExperimentResult(recipe, quick, tuple(cells), results, reused, failed, time.perf_counter() - t0, executor,
                           {}, cancelled)
    if cancelled:
        store.finish_run(run_id, None, "cancelled", n_done)
        raise Cancelled()
    paths = {}
    if report:
        try:
            yield Progress(n_done, total, "writing the report")
        except GeneratorExit:  # cancelled as the last cell finished: every cell is stored, no report
            store.finish_run(run_id, None, "cancelled", n_done)
            raise
        try:
            paths = write_report(res, out_dir)
        except Exception as exc:  # noqa: BLE001 - the cells are stored; the run is recorded, with why no report
            why = _why(exc)
            store.finish_run(run_id, None, f"report failed: {why}", n_done)
            raise ReportError(f"{recipe.name}: the report could not be written ({why}); the {n_done - failed} "
                              f"finished cell(s) are stored and the next run reuses them") from None
        res = ExperimentResult(recipe, quick, tuple(cells), results, reused, failed, time.perf_counter() - t0,
                               executor, paths, cancelled)
    store.finish_run(run_id, paths.get("html"), f"stopped: {stopped}" if stopped else "finished", n_done)
    _ = workers_n
    return res


def _why(exc: BaseException) -> str:
    """A failure as one line: the project's message, or the error's kind and what it said (an OSError's text
    without its number, with its file)."""
    if isinstance(exc, AppError):
        return message(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}" + (f" ({exc.filename})" if exc.filename else "")
    return f"{type(exc).__name__}: {message(exc)}"


def _close(gen) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001 - closing an executor that already failed
            pass


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
