"""Issue 14: the thread tuner (app.threads) is wired into the product's compute loops: each loop creates its tuner
in its own thread (torch's thread count is per thread), its report reaches ``probe --json`` / ``train``, an outer
tuner (``bench load``) keeps the inner ones quiet, and the desktop status bar shows the live loop's choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _recording_tuner(monkeypatch, module):
    """Replace ``module.ThreadTuner`` by a subclass that records the thread each tuner is created in."""
    from app.threads import ThreadTuner

    made = []

    class Recording(ThreadTuner):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append((self.name, threading.get_ident(), self))

    monkeypatch.setattr(module, "ThreadTuner", Recording)
    return made


def _in_thread(fn):
    box = {}

    def body():
        box["ident"] = threading.get_ident()
        box["value"] = fn()

    t = threading.Thread(target=body)
    t.start()
    t.join(120)
    return box


def test_extraction_tuner_is_made_in_the_loop_thread_and_steps_per_batch(monkeypatch):
    import torch

    from app.models.inputs import InputSpec
    from app.probe import extract as ex
    from app.tasks import run_to_end

    made = _recording_tuner(monkeypatch, ex)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3))
    model.feature_info = [{"num_chs": 4, "reduction": 1, "module": "0"}]
    model.forward_intermediates = lambda x, idx: [model(x)]
    images = np.random.default_rng(0).integers(0, 255, (10, 8, 8, 1), dtype=np.uint8)
    ispec = InputSpec(1, None, (0.5,), (0.25,))
    box = _in_thread(lambda: run_to_end(ex.extract(model, images, ispec, 0, "gap", key=None)))
    assert box["value"].array.shape == (10, 4)
    assert [(name, ident) for name, ident, _ in made] == [("extract", box["ident"])]
    assert box["ident"] != threading.get_ident() and made[0][2].steps >= 1


def test_an_outer_tuner_keeps_the_inner_ones_quiet():
    from app.threads import ThreadTuner, drive, reports

    def task():
        inner = ThreadTuner("inner-test", set_threads=lambda n: calls.append(n))
        with inner.step():
            pass
        yield None
        return inner

    calls = []
    outer = ThreadTuner("outer-test", set_threads=lambda n: None)
    inner = drive(task(), outer)
    assert inner.nested and not inner.adaptive and calls == [] and inner.steps == 1
    assert "outer-test" in reports() and "inner-test" not in reports()


def test_probe_json_reports_the_threads_of_its_loops(tmp_path):
    env = dict(os.environ, FILTER_EXPLORER_HOME=str(tmp_path))
    env.pop("FILTER_EXPLORER_THREADS", None)
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "probe", "--backbone", "rdsn", "--options",
                        '{"k": 8, "blocks": 1}', "--dataset", "digits", "--train-limit", "200", "--test-limit", "60",
                        "--head", "logistic", "--json"], capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    threads = json.loads(r.stdout)["threads"]
    assert {"extract", "head"} <= set(threads)
    for rep in threads.values():
        base = {"threads", "max", "adaptive", "steps", "trials", "changes", "stalls"}
        # on a busy machine a loop starts below its maximum and says so (started, busy_at_start)
        assert base <= set(rep) <= base | {"started", "busy_at_start", "skipped"}
        assert ("started" in rep) == ("busy_at_start" in rep)
        if "started" in rep:
            assert 1 <= rep["started"] < rep["max"] and rep["busy_at_start"] >= 1
        assert 1 <= rep["threads"] <= rep["max"] and rep["steps"] >= 1
    assert threads["extract"]["adaptive"] is True


def test_forced_threads_turn_adaptation_off_in_the_json(tmp_path):
    env = dict(os.environ, FILTER_EXPLORER_HOME=str(tmp_path), FILTER_EXPLORER_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "probe", "--backbone", "rdsn", "--options",
                        '{"k": 8, "blocks": 1}', "--dataset", "digits", "--train-limit", "200", "--test-limit", "60",
                        "--head", "ridge", "--json"], capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)["threads"]["extract"]
    assert rep["adaptive"] is False and rep["threads"] == 1 and rep["max"] == 1


@pytest.mark.gui
def test_status_bar_shows_the_live_thread_choice(qtbot, fe_home):
    from app.live.config import LiveStatus
    from widgets.application import make_app
    from widgets.main_window import MainWindow

    make_app()
    win = MainWindow(workspace="kernels")
    qtbot.addWidget(win)
    live = win.live
    live.runner.statusChanged.emit(LiveStatus("Live: threads 1/2 (adapted to load)"))
    assert win.threads_label.text() == "Live: threads 1/2 (adapted to load)"
    live.runner.statusChanged.emit(LiveStatus("Showing camera 0"))
    assert win.threads_label.text() == "Live: threads 1/2 (adapted to load)"
    win.close()


def test_live_loop_tunes_in_its_own_thread_and_posts_the_choice(monkeypatch):
    import time

    from app.live import pipeline
    from app.live.config import LiveConfig, LiveFrame, LiveStatus, PaneConfig
    from app.live.engine import LiveEngine
    from app.live.sources import SourceConfig
    from app.models.spec import ModelSpec
    from app.tasks import CancelToken

    made = _recording_tuner(monkeypatch, pipeline)
    tiny = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6), "pool": "max"})
    cfg = LiveConfig(SourceConfig("synthetic", width=32, height=24), (PaneConfig(tiny),), size=(24, 32), max_fps=0)
    got: list = []
    mb = pipeline.Mailbox()
    loop = pipeline.LiveLoop(cfg, mb, LiveEngine("cpu"))
    token = CancelToken()
    th = threading.Thread(target=loop.run, args=(token,), daemon=True)
    th.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and sum(isinstance(g, LiveFrame) for g in got) < 3:
        time.sleep(0.05)
        f, msgs = mb.take()
        got += msgs + ([f] if f is not None else [])
    token.cancel()
    loop.wake()
    th.join(10)
    got += mb.take()[1]  # what it posted after the last look
    assert not th.is_alive() and sum(isinstance(g, LiveFrame) for g in got) >= 3
    assert [(name, ident) for name, ident, _ in made] == [("live", th.ident)]
    tuner = made[0][2]
    told = [g.message for g in got if isinstance(g, LiveStatus) and g.message.startswith("Live: threads")]
    assert told and told[-1] == "Live: " + tuner.describe()  # posted when the choice changes
    assert tuner.steps >= 3


def test_train_prints_the_threads_of_its_steps(tmp_path, capsys, monkeypatch):
    import cv2

    from app.cli import run

    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for split, n in (("train", 40), ("test", 10)):
        for i in range(n):
            d = root / split / f"class{i % 2}"
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{i:03d}.png"), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
    code = run(["--threads", "1", "train", "--backbone", "simple", "--dataset", f"imagefolder:{root}", "--epochs",
                "1", "--options", "widths=4,8", "--batch-size", "8", "--val", "4", "--out", str(tmp_path / "ck")])
    out = capsys.readouterr()
    assert code == 0, out.err
    line = [ln for ln in out.out.splitlines() if ln.startswith("threads: ")]
    rep = json.loads(line[0][len("threads: "):])
    assert rep["adaptive"] is False and rep["threads"] == 1 and rep["steps"] == 5  # 36 images / 8 (forced: fixed)
