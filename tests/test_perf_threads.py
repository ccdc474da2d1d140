"""ThreadTuner: adapts the thread count of a compute loop to the load it measures (simulated clock: exact)."""

from __future__ import annotations

import pytest

from app import device
from app.threads import ThreadTuner


class Machine:
    """A fake machine: the time per step depends on the thread count and the load of the moment."""

    IDLE = {1: 1.0, 2: 0.6}
    LOADED = {1: 1.2, 2: 10.0}  # two busy processes on two cores: the 2-thread team waits at every barrier

    def __init__(self) -> None:
        self.t = 0.0
        self.n = 2
        self.cost = dict(self.IDLE)
        self.sets: list[int] = []

    def clock(self) -> float:
        return self.t

    def set(self, n: int) -> None:
        self.n = n
        self.sets.append(n)

    def run(self, tuner: ThreadTuner, steps: int) -> float:
        t0 = self.t
        for _ in range(steps):
            with tuner.step():
                self.t += self.cost[self.n]
        return self.t - t0


def _tuner(m: Machine, **kw) -> ThreadTuner:
    return ThreadTuner("test", max_threads=2, adaptive=True, clock=m.clock, set_threads=m.set, current=2, **kw)


def test_keeps_all_threads_when_idle_and_drops_one_under_load_then_returns():
    m = Machine()
    t = _tuner(m)
    idle = m.run(t, 2000)
    assert t.threads == 2 and t.changes == 0 and t.trials >= 5
    assert idle < 2000 * 0.6 * 1.02  # the trials of 1 thread (back-off 3, 6, 12, ... 640 steps) cost under 2%
    m.cost = dict(Machine.LOADED)
    m.run(t, 10)
    assert t.threads == 1 and t.stalls >= 1 and t.changes == 1  # the stall triggered the trial at once
    loaded = m.run(t, 1000)
    assert loaded == pytest.approx(1000 * 1.2 + 4 * (10.0 - 1.2))  # 4 failed trials of 2 threads, each ended after
    # its first step (back-off 40, 80, 160, 320 steps): 3% over the best count
    assert t.threads == 1
    m.cost = dict(Machine.IDLE)
    m.run(t, 16 * t.every + 10)
    assert t.threads == 2 and t.changes == 2
    assert t.report() == {"threads": 2, "max": 2, "adaptive": True, "steps": t.steps, "trials": t.trials,
                          "changes": 2, "stalls": t.stalls}


def test_fixed_count_never_changes():
    m = Machine()
    t = ThreadTuner("test", max_threads=2, adaptive=False, clock=m.clock, set_threads=m.set, current=2)
    m.cost = dict(Machine.LOADED)
    m.run(t, 300)
    assert t.threads == 2 and m.sets == [2] and t.trials == 0
    assert t.describe() == "threads 2 (fixed)"


def test_noise_within_margin_does_not_flip():
    m = Machine()
    m.cost = {1: 1.0, 2: 0.98}  # 2% apart: below the 5% margin, the current count stays
    t = _tuner(m)
    m.run(t, 400)
    assert t.threads == 2 and t.changes == 0


def test_per_item_timing_compares_unequal_batches():
    m = Machine()
    t = _tuner(m)
    for i in range(100):
        items = 10 if i % 7 else 3  # a smaller last batch now and then
        with t.step(items=items):
            m.t += m.cost[m.n] * items
    assert t.threads == 2 and t.changes == 0 and t.stalls == 0


def test_forced_threads_turn_adaptation_off(monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_THREADS", "1")
    before = device.forced_threads()
    try:
        device.configure_threads(None)
        assert device.forced_threads() == 1
        assert ThreadTuner("x", set_threads=lambda n: None, max_threads=1).adaptive is False
        monkeypatch.delenv("FILTER_EXPLORER_THREADS")
        device.configure_threads(None)
        assert device.forced_threads() is None
        monkeypatch.setenv("FILTER_EXPLORER_TUNER", "0")
        assert ThreadTuner("x", set_threads=lambda n: None, max_threads=1).adaptive is False
    finally:
        import torch

        device._forced = before
        torch.set_num_threads(device.default_threads())


def test_blas_pool_follows(monkeypatch):
    pytest.importorskip("threadpoolctl")
    import numpy as np
    from threadpoolctl import threadpool_info

    m = Machine()
    t = ThreadTuner("test", max_threads=2, adaptive=True, clock=m.clock, set_threads=m.set, current=1, blas=True)
    np.dot(np.ones((4, 4)), np.ones((4, 4)))
    blas = [p for p in threadpool_info() if p["user_api"] == "blas"]
    try:
        assert blas and all(p["num_threads"] == 1 for p in blas)
    finally:
        t._blas.limit(limits=device.default_threads(), user_api="blas")


def test_after_the_early_trial_fails_the_next_waits_a_full_interval():
    """A loop tries one thread fewer 3 steps in (it may start under load); on an idle machine that trial fails and
    the next comes ``every`` steps later, not 6, 12, 24 steps later (65 batches of bench load's extraction paid four
    trials, ~12% of the run). A load that comes later is still caught at once by its stalls."""
    m = Machine()
    t = _tuner(m)
    m.run(t, 65)
    assert t.trials == 2 and t.threads == 2  # at step 3 and ~every steps after it
    m.cost = dict(Machine.LOADED)
    m.run(t, 6)
    assert t.threads == 1 and t.stalls >= 1


def test_a_tuned_loop_starts_at_its_tuners_count_and_ends_at_the_kept_one():
    """A loop that ended in the middle of a trial left the trial's count for whatever ran next (bench load's timed
    head fit ran on 1 thread after its warm-up's tuner had started a trial of 1, reported as "2 (fixed)")."""
    from app.tasks import Progress
    from app.threads import ThreadTuner, drive, tuned

    counts: list[int] = []
    tuner = ThreadTuner("t", max_threads=4, current=4, adaptive=True, set_threads=counts.append)

    def loop(n):
        for i in range(n):
            yield Progress(i + 1, n, "step")
        return "done"

    tuner._start_trial(1.0, prefer_fewer=True)  # a trial of 3 under way when the loop ends
    assert counts[-1] == 3
    assert drive(loop(0), tuner) == "done"
    assert counts[-1] == 4 and tuner.threads == 4 and tuner._cand is None
    counts.append(1)  # other work set another count meanwhile: the next tuned loop starts at the tuner's
    drive(loop(0), tuner)
    assert counts[-1] == 4
    tuner._start_trial(1.0, prefer_fewer=True)
    it = tuned(loop(5), tuner)
    next(it)
    it.close()  # a cancel: the generator closed mid-loop
    assert counts[-1] == 4 and tuner._cand is None


def test_busy_elsewhere_reads_the_least_running_count_of_a_few_samples(tmp_path, monkeypatch):
    from app import threads

    f = tmp_path / "loadavg"
    counts = iter(["3/90", "5/91", "3/92", "4/92"])  # a task that ran briefly is not counted: the least (3), less us

    def sleep(_):
        f.write_text(f"1.00 0.50 0.25 {next(counts)} 4321\n")

    f.write_text("1.00 0.50 0.25 4/90 4321\n")
    monkeypatch.setattr(threads.time, "sleep", sleep)
    assert threads.busy_elsewhere(samples=4, path=str(f)) == 2
    f.write_text("0.1 0.1 0.1 1/80 99\n")
    assert threads.busy_elsewhere(samples=1, path=str(f)) == 0  # only the caller
    assert threads.busy_elsewhere(path=str(tmp_path / "missing")) is None  # not Linux: nothing said
    f.write_text("garbage\n")
    assert threads.busy_elsewhere(samples=1, path=str(f)) is None


@pytest.mark.parametrize("busy, cores, start", [(0, 2, 2), (None, 2, 2), (1, 2, 1), (2, 2, 1), (1, 4, 3), (9, 4, 1)])
def test_a_tuner_starts_at_the_cores_left_free(monkeypatch, busy, cores, start):
    """Two processes spinning on a 2-core machine: the loop starts at one thread (its first steps at two made its
    threads wait for a core until the first trial); idle: at its maximum; the report says where it started."""
    from app import threads

    import torch

    monkeypatch.setattr(threads, "busy_elsewhere", lambda: busy)
    monkeypatch.setattr(device, "available_cores", lambda: cores)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_torch_setter", lambda n: None)  # a real tuner sets this thread's torch count
    t = ThreadTuner("x", max_threads=cores, adaptive=True)
    assert torch.get_num_threads() == before
    assert t.threads == start
    rep = t.report()
    assert (rep.get("started"), rep.get("busy_at_start")) == ((start, busy) if busy else (None, None))
    # a count the caller gives, or a fixed one, is not second-guessed
    assert ThreadTuner("x", max_threads=cores, adaptive=True, current=cores).threads == cores
    assert ThreadTuner("x", max_threads=cores, adaptive=False).threads == cores


@pytest.mark.parametrize("two, kept", [(0.9, False), (0.85, False), (0.75, True), (0.6, True)])
def test_one_more_thread_is_kept_only_when_clearly_faster(two, kept):
    """From one thread, a trial of two is kept when at least UP_MARGIN (20%) faster: idle it is far faster; a few
    percent (a busy machine's chance reading) is not enough. One fewer keeps its 5%."""
    from app.threads import UP_MARGIN

    assert UP_MARGIN == 0.2
    m = Machine()
    m.n = 1
    m.cost = {1: 1.0, 2: two}
    t = ThreadTuner("test", max_threads=2, adaptive=True, clock=m.clock, set_threads=m.set, current=1)
    m.run(t, 12)
    assert t.trials >= 1 and (t.threads == 2) == kept
    m2 = Machine()
    m2.cost = {1: 0.9, 2: 1.0}  # one fewer, 10% faster: kept as before
    t2 = _tuner(m2)
    m2.run(t2, 12)
    assert t2.threads == 1


def test_no_trial_of_one_more_thread_while_the_cores_are_busy(monkeypatch):
    """Under load (two busy processes on two cores) a loop at one thread does not try two: each such trial's steps
    waited for a core. It looks again every ``every`` steps, and tries (and keeps) two once a core is free."""
    from app import threads

    load = {"busy": 2}
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: load["busy"])
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    m = Machine()
    m.n = 1
    m.cost = dict(Machine.LOADED)
    t = ThreadTuner("test", max_threads=2, adaptive=True, clock=m.clock, set_threads=m.set, current=1,
                    watch_load=True)
    m.run(t, 200)
    assert 2 not in m.sets and t.trials == 0 and t.threads == 1
    assert t.skipped >= 200 // t.every and t.report()["skipped"] == t.skipped
    load["busy"] = 0  # the load went away
    m.cost = dict(Machine.IDLE)
    m.run(t, t.every + 2 * t.trial)
    assert t.threads == 2 and t.trials == 1 and t.changes == 1
    # without looking (the default where a test injects its own setter): the trials are made, and fail
    m2 = Machine()
    m2.n = 1
    m2.cost = dict(Machine.LOADED)
    t2 = ThreadTuner("test", max_threads=2, adaptive=True, clock=m2.clock, set_threads=m2.set, current=1)
    m2.run(t2, 200)
    assert t2.trials >= 2 and t2.skipped == 0 and "skipped" not in t2.report() and t2.threads == 1


def test_a_busy_core_does_not_stop_a_trial_of_one_fewer(monkeypatch):
    from app import threads

    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 2)
    monkeypatch.setattr(device, "available_cores", lambda: 2)
    m = Machine()
    m.cost = dict(Machine.LOADED)
    t = ThreadTuner("test", max_threads=2, adaptive=True, clock=m.clock, set_threads=m.set, current=2,
                    watch_load=True)
    m.run(t, 30)
    assert t.threads == 1 and m.sets[-1] == 1  # two threads under load: one fewer tried and kept
