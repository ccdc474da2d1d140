"""``bench load``: busy processes always ended; figures idle and loaded with their ratio; the generator hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.bench_load import busy_processes
from app.tasks import Progress
from app.threads import ThreadTuner, drive, tuned

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("session", ["own", "shared"])
def test_busy_processes_end_on_errors_too(session):
    """In sessions of their own (killed by process group) or in ours (killed one by one: killing our group would
    kill the test): ended either way; a session of its own is what the name says."""
    with pytest.raises(RuntimeError, match="boom"):
        with busy_processes(2, 60, session) as procs:
            pids = [p.pid for p in procs]
            assert len(pids) == 2 and all(_alive(p) for p in pids)
            if hasattr(os, "getsid"):
                same = [os.getsid(p) == os.getsid(0) for p in pids]
                assert same == ([False, False] if session == "own" else [True, True])
            raise RuntimeError("boom")
    assert not any(_alive(p) for p in pids)


def test_drive_times_each_step_per_item_and_returns_the_result():
    def task():
        for done in (0, 10, 20, 25):
            yield Progress(done, 25)
        return "features"

    tuner = ThreadTuner("t", max_threads=1, adaptive=True, set_threads=lambda n: None)
    assert drive(task(), tuner) == "features"
    assert tuner.steps == 4
    seen = []

    def consumer():
        result = yield from tuned(task(), tuner)
        seen.append(result)

    assert [p.done for p in consumer()] == [0, 10, 20, 25] and seen == ["features"] and tuner.steps == 8


def test_bench_load_quick_json(tmp_path):
    # the thread count not forced (the suite forces 1): with the tuner on, the extraction's own tuner adapts
    env = {**{k: v for k, v in os.environ.items() if k != "FILTER_EXPLORER_THREADS"},
           "FILTER_EXPLORER_HOME": str(tmp_path)}
    # --max-seconds: were this command killed (the timeout), its busy process would still end by itself
    out = subprocess.run([sys.executable, "main.py", "bench", "load", "--quick", "--benchmarks", "extract", "--busy",
                          "1", "--tuner", "on", "--max-seconds", "120", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    assert res["busy"] == 1 and res["cpu_count"] == os.cpu_count() and res["busy_session"] == "own"
    assert res["autogroup"] in (True, False, None)
    (fig,) = res["figures"]
    assert fig["figure"] == "extract images/s (tuner on)"
    assert fig["idle"] > 0 and fig["loaded"] > 0 and fig["ratio"] == round(fig["loaded"] / fig["idle"], 3)
    assert fig["loaded_detail"]["threads"]["adaptive"] is True and fig["loaded_detail"]["images"] == 256
    assert not any(_alive(p) for p in res["busy_pids"])


@pytest.mark.parametrize("argv, expected", [
    (["--benchmarks", "live,gpu"], "--benchmarks 'live,gpu': choose from live, extract, head"),
    (["--busy", "-1"], "--busy -1: 0.."),
    (["--rounds", "0"], "--rounds 0: 1..--frames (200) rounds"),
    (["--rounds", "2", "--busy", "0"], "--rounds above 1 alternates the live figure's idle and loaded rounds"),
    (["--rounds", "2", "--benchmarks", "head"], "it needs live among --benchmarks"),
])
def test_bench_load_bad_arguments(argv, expected):
    out = subprocess.run([sys.executable, "main.py", "bench", "load", *argv], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and expected in out.stderr and "Traceback" not in out.stderr


def test_bench_load_live_with_the_tuner_runs(tmp_path):
    """The live figure with the tuner on (``_live(args, True)``) builds its pane from app.live's config types (an
    import that went stale once: the whole ``bench load`` then failed at its first figure)."""
    env = {**os.environ, "FILTER_EXPLORER_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "main.py", "bench", "load", "--quick", "--benchmarks", "live", "--busy",
                          "0", "--tuner", "on", "--frames", "3", "--size", "24x32", "--max-seconds", "120", "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    (fig,) = json.loads(out.stdout)["figures"]
    assert fig["figure"] == "live app FPS (tuner on)" and fig["idle"] > 0 and fig["loaded"] > 0


def test_a_forced_thread_count_is_named_in_the_tuner_on_row(tmp_path):
    """With the thread count forced (the suite forces 1) the extraction's own tuner holds it, as in a probe run: the row
    said "tuner on" while nothing adapted. And the load average is also read at the end of the second pass (the
    1-minute average read 0.5 s after the busy processes started cannot show them yet)."""
    env = {**os.environ, "FILTER_EXPLORER_THREADS": "1", "FILTER_EXPLORER_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "main.py", "bench", "load", "--quick", "--benchmarks", "extract", "--busy",
                          "0", "--tuner", "on", "--images", "64", "--max-seconds", "120", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    (fig,) = res["figures"]
    assert fig["figure"] == "extract images/s (tuner on, held: threads forced)"
    assert fig["idle_detail"]["threads"]["adaptive"] is False
    assert len(res["load_average_loaded_end"]) == 3


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(d.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(__import__("signal"), "SIGHUP"),
                    reason="needs /proc and SIGHUP")
def test_the_busy_processes_end_when_the_terminal_hangs_up(tmp_path):
    """SIGHUP (a closed terminal, a dropped ssh link) ended the command and left its busy processes spinning at 100%
    CPU until --max-seconds."""
    import signal
    import time

    env = {**os.environ, "FILTER_EXPLORER_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "main.py", "bench", "load", "--quick", "--benchmarks", "live", "--busy",
                             "1", "--tuner", "off", "--frames", "400", "--size", "120x160", "--max-seconds", "120",
                             "--json"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    busy: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not busy and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            busy = _children(proc.pid)
        assert busy, "the busy process never started"
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=60) == 129
        time.sleep(0.5)
        assert not any(_alive(p) for p in busy)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in busy:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def _state(pid: int) -> str:
    """A process's scheduler state letter (R, S, T: stopped, ...)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_live_rounds_alternate_with_the_busy_processes_stopped_for_the_idle_ones(tmp_path, monkeypatch, capsys):
    """``--rounds N``: N idle rounds and N loaded ones, alternating, each of frames/N frames; during each idle round
    every busy process is stopped (state T), during each loaded one none is; every busy process ends with the
    command; each condition's figure is its frames over its rounds' time, the per-round ratios beside it."""
    import argparse

    from app import bench_load

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path))
    seen = []  # (stopped processes, frames) at each timed round
    procs_seen = []
    real_signal, real_frames = bench_load.signal_group, bench_load._frames

    def signal_group(procs, sig, own):
        procs_seen[:] = procs
        real_signal(procs, sig, own)

    def frames(engine, src, cfg, tuner, n):
        import time

        time.sleep(0.05)  # a stop or a continue takes effect at once; /proc shows it after a moment
        seen.append((sum(_state(p.pid) == "T" for p in procs_seen), n))
        return real_frames(engine, src, cfg, tuner, n)

    monkeypatch.setattr(bench_load, "signal_group", signal_group)
    monkeypatch.setattr(bench_load, "_frames", frames)
    args = argparse.Namespace(benchmarks="live", busy=2, frames=6, size="24x32", images=8, head_train=600,
                              tuner="on", busy_session="own", max_seconds=120.0, quick=False, json=True,
                              precision="auto", rounds=3)
    assert bench_load.cmd_bench_load(args) == 0
    assert seen == [(2, 2), (0, 2)] * 3  # idle with both stopped, loaded with none, three times
    assert not any(_alive(p.pid) for p in procs_seen)
    res = json.loads(capsys.readouterr().out)
    (fig,) = res["figures"]
    assert res["settings"]["rounds"] == 3 and "3 alternating rounds" in res["method"]["live"]
    assert fig["figure"] == "live app FPS (tuner on)" and fig["idle_detail"]["frames"] == 6
    assert len(fig["idle_detail"]["round_ratios"]) == 3 and fig["loaded"] > 0
