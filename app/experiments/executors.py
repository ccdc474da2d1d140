"""Where cells run: ``inline`` (this process, one after another), ``local`` (a process pool sized to the machine),
``ray`` (Ray core tasks with per-cell CPU/GPU resources, on a local Ray instance or the cluster at ``RAY_ADDRESS``).

Each executor is a generator ``run(cells, cancel) -> yields (cell, result_or_error)`` in completion order. A cell
that fails yields ``{"error": message}`` whatever it raised (``failure``): it is not stored, so the next run retries
it (a --rerun's failure keeps the older result of its key: the same settings and files). Cancel stops submitting new
cells; ``inline`` stops the running cell at once (its work is lost), ``local`` lets the running cells finish and
yields them (the runner stores them), Ray cancels its running tasks (``ray.cancel``). ``CANCEL_TEXT`` says so for
each, as the Experiments workspace shows it.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from app import paths
from app.errors import AppError, message
from app.tasks import Cancelled, check

EXECUTORS = ("inline", "local", "ray")
# what Cancel does with each executor's running cells (the Experiments workspace's status line and Cancel's tooltip)
CANCEL_TEXT = {
    "inline": "the running cell stops now (its work is lost); the finished cells stay stored",
    "local": "no new cell starts; the running cells finish and are stored, with the cells finished before",
    "ray": "the running cells are cancelled now (their work is lost); the finished cells stay stored",
}


class ExecutorError(AppError):
    """An executor cannot run here (Ray not installed, no cluster at RAY_ADDRESS ...)."""


def failure(cell: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """A failed cell's result: the project's message for an ``AppError``; for anything else (a setting of the wrong
    type reaching the code, a bug of ours) its class and message, so one cell's failure does not end the run."""
    text = message(exc) if isinstance(exc, AppError) else f"{type(exc).__name__}: {message(exc)}"
    return {"error": text, "key": cell["key"]}


def _call(cell: dict[str, Any]) -> dict[str, Any]:
    from app.experiments.cell import run_cell

    try:
        return run_cell(cell)
    except Exception as exc:  # noqa: BLE001 - the cell's failure, reported as inline reports it
        return failure(cell, exc)


def default_workers(threads_per_cell: int = 1) -> int:
    from app.device import available_cores

    return max(1, available_cores() // max(1, threads_per_cell))


def run_inline(cells: list[dict], cancel=None, on_cell_progress=None) -> Iterator[tuple[dict, dict]]:
    from app.experiments.cell import run_cell

    for cell in cells:
        check(cancel)
        try:
            result = run_cell(cell, cancel=cancel, on_progress=on_cell_progress)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - the cell's failure (as the process pool's ``_call`` reports it)
            result = failure(cell, exc)
        yield cell, result


WORKER_DIED = "its worker process died (out of memory?)"


def run_local(cells: list[dict], workers: int | None = None, cancel=None, call=None) -> Iterator[tuple[dict, dict]]:
    """The cells in a process pool of ``workers`` (spawned: torch and forked threads do not mix).

    A worker that dies (the out-of-memory killer, a crash in native code) breaks the whole pool, and every cell
    running in it fails with it: the pool is rebuilt and those cells run again, one at a time (only then is it
    known whose worker died); a cell whose worker dies when it runs alone is recorded failed (``WORKER_DIED``), and
    the others go on in parallel. Cancel: no new cell starts; the running ones finish and are yielded (stored by the
    runner), then ``Cancelled``. ``call``: what runs a cell in a worker (a picklable function; tests)."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    call = call or _call
    workers = workers or default_workers()
    if workers <= 1 or len(cells) <= 1:
        yield from run_inline(cells, cancel)
        return
    ctx = mp.get_context("spawn")  # torch and forked threads do not mix

    def new_pool():
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)

    pool = new_pool()
    queue = list(cells)
    suspects: list[dict] = []  # cells that were running when the pool broke: each runs again alone
    running: dict[Any, tuple[dict, bool]] = {}  # future -> (cell, ran alone)
    try:
        while queue or running or suspects:
            cancelled = cancel is not None and cancel.cancelled
            broken = False
            try:
                if cancelled:
                    pass  # no new cell; the running ones finish and are yielded below
                elif suspects:
                    if not running:
                        c = suspects[0]
                        running[pool.submit(call, c)] = (c, True)
                        suspects.pop(0)
                else:
                    while queue and len(running) < workers:
                        c = queue[0]
                        running[pool.submit(call, c)] = (c, False)
                        queue.pop(0)
            except BrokenProcessPool:  # a worker died between two cells
                broken = True
            if cancelled and not running:
                check(cancel)
            done, _ = wait(list(running), timeout=0.3, return_when=FIRST_COMPLETED) if running else (set(), None)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                broken = True
            if broken:  # the pool fails every future it held: let them all settle, then sort them out
                done = set(wait(list(running), timeout=30)[0])
            for fut in list(done):
                c, alone = running.pop(fut)
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    if alone:
                        yield c, {"error": WORKER_DIED, "key": c["key"]}
                    else:
                        suspects.append(c)
                elif exc is not None:  # (``call`` catches a cell's own failures: this is the pool's)
                    yield c, {"error": f"the worker process failed: {message(exc)}", "key": c["key"]}
                else:
                    yield c, fut.result()
            if broken:
                for fut, (c, _alone) in list(running.items()):  # (not settled in time: run again)
                    fut.cancel()
                    suspects.append(c)
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
        check(cancel)  # cancelled while the last cells ran: they are yielded (stored), the run still ends cancelled
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_ray(cells: list[dict], workers: int | None = None, cancel=None, gpus_per_cell: float = 0.0,
            address: str | None = None) -> Iterator[tuple[dict, dict]]:
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray needs Ray: pip install .[cluster] (or pip install 'ray[default]'), "
                            "then run again; --executor local runs on this machine without it") from None
    address = address or os.environ.get("RAY_ADDRESS")
    started = False
    if not ray.is_initialized():
        env = {"env_vars": {"PYTHONPATH": str(paths.REPO_ROOT), "FILTER_EXPLORER_HOME": str(paths.home())}}
        try:
            if address:
                ray.init(address=address, runtime_env=env, ignore_reinit_error=True, log_to_driver=False)
            else:
                ray.init(num_cpus=workers or default_workers(), include_dashboard=False, runtime_env=env,
                         _node_ip_address="127.0.0.1", ignore_reinit_error=True, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - ray raises many kinds; the message is what matters
            raise ExecutorError(f"could not start or reach Ray ({message(exc)})") from None
        started = True
    try:
        _ray_ready(ray, cancel)
        threads = 1
        remote = ray.remote(num_cpus=threads, num_gpus=gpus_per_cell)(_call)
        refs = {remote.remote(c): c for c in cells}
        pending = list(refs)
        while pending:
            if cancel is not None and cancel.cancelled:
                for r in pending:
                    ray.cancel(r, force=True)
                check(cancel)
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for r in ready:
                c = refs[r]
                try:
                    yield c, ray.get(r)
                except Exception as exc:  # noqa: BLE001
                    yield c, {"error": f"the Ray task failed: {message(exc)}", "key": c["key"]}
    finally:
        if started:
            ray.shutdown()


def _ping() -> int:
    return os.getpid()


def _ray_ready(ray, cancel=None, timeout_s: float | None = None) -> None:
    """One trivial task first: a Ray whose workers cannot start (a runtime-env agent that failed, no resources)
    leaves tasks pending for ever; say so within ``timeout_s`` (FILTER_EXPLORER_RAY_START_S, default 120 s)."""
    import time

    if timeout_s is None:
        timeout_s = float(os.environ.get("FILTER_EXPLORER_RAY_START_S", "120"))
    ref = ray.remote(num_cpus=0)(_ping).remote()
    deadline = time.monotonic() + timeout_s
    while True:
        if cancel is not None and cancel.cancelled:
            ray.cancel(ref, force=True)
            check(cancel)
        ready, _ = ray.wait([ref], num_returns=1, timeout=0.5)
        if ready:
            try:
                ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001
                raise ExecutorError(f"Ray could not run a task ({message(exc)})") from None
            return
        if time.monotonic() > deadline:
            ray.cancel(ref, force=True)
            raise ExecutorError(f"Ray is running but started no task within {timeout_s:.0f} s (its workers cannot "
                                f"start here: see `ray status` and the logs under /tmp/ray; "
                                f"FILTER_EXPLORER_RAY_START_S sets this wait); --executor local runs on this machine")


def run(executor: str, cells: list[dict], workers: int | None = None, cancel=None, **kw) -> Iterator[tuple[dict, dict]]:
    if executor in EXECUTORS and not cells:  # every cell reused: no pool or Ray instance started for nothing
        return iter(())
    if executor == "inline":
        return run_inline(cells, cancel)
    if executor == "local":
        return run_local(cells, workers, cancel)
    if executor == "ray":
        return run_ray(cells, workers, cancel, **kw)
    raise ExecutorError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
