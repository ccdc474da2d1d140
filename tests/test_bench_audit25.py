"""Audit J (benchmark and evaluation commands): each finding fixed here has a test that fails without its fix.

bench load: the head's "tuner off" fit runs at the count it reports (1), sizes and limits refused before any work
(6, 7), the second pass without busy processes labelled as a repeat (7), the extraction's warm-up and the two live
figures measured alike (8); eval: the training split's statistics (3), limits refused at parse time (5), the subset
said (12); bench head/svm: the stalled fit's note (4), the thread tuner's report (10); gpu-check (11); small ones (12).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parent.parent


def _head_args(**kw) -> argparse.Namespace:
    base = dict(quick=True, dataset=None, data_root=None, backbone="rdsn", options=None, layer=0, pooling="grid2",
                train_limit=200, test_limit=60, weight_decay=1e-3, epochs=100, seed=0, json=True)
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def two_threads():
    """torch at a configured 2 threads for the test (the suite forces 1), restored after."""
    import torch

    from app import device

    before = torch.get_num_threads()
    device.configure_threads(2)
    yield 2
    device.configure_threads()
    torch.set_num_threads(before)


# --- 1: bench load's head with the tuner off ----------------------------------------------------------------------
def test_bench_load_head_tuner_off_runs_at_the_count_it_reports(fe_home, monkeypatch, two_threads):
    """The warm-up's own tuner (adaptive, not nested) could leave torch at 1 thread, and neither the timed fit's
    nested tuner nor the outer fixed one set it back: every iteration ran on 1 thread while the JSON said 2."""
    import app.probe.heads as heads
    import torch

    from app.bench_load import _head
    from app.threads import workers

    real = heads.train_logistic
    seen: list[int] = []

    def spy(*a, **kw):
        gen = real(*a, **kw)
        warm_up = a[5]["epochs"] == 2

        def run():
            while True:
                try:
                    p = next(gen)
                except StopIteration as stop:
                    if warm_up:
                        torch.set_num_threads(1)  # what an adaptive warm-up that ended inside a trial leaves
                    return stop.value
                if not warm_up:
                    seen.append(workers())
                yield p

        return run()

    monkeypatch.setattr(heads, "train_logistic", spy)
    out = _head(argparse.Namespace(quick=True, head_train=600), False)
    assert out["threads"]["threads"] == 2 and out["threads"]["adaptive"] is False
    assert seen and set(seen) == {2}, seen


# --- 3 and 12: eval normalises with the training split's statistics, and says the subset -------------------------
def _folder_and_weights(tmp_path: Path, classes: int = 2) -> tuple[Path, Path]:
    """An image folder whose training images are bright (~200) and test images dark (~40), and a ``simple``
    checkpoint that declares no input (a plain state dict, no sidecar)."""
    import cv2
    import torch

    from app.models.build import build
    from app.models.spec import ModelSpec

    folder = tmp_path / "folder"
    rng = np.random.default_rng(0)
    for split, level in (("train", 200), ("test", 40)):
        for c in range(classes):
            d = folder / split / f"c{c}"
            d.mkdir(parents=True)
            for i in range(4):
                img = np.clip(level + rng.integers(-20, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(d / f"{i}.png"), img)
    model = build(ModelSpec.make("simple", options={"widths": [4], "num_classes": classes}))
    weights = tmp_path / "nodecl.pt"
    torch.save(model.state_dict(), weights)
    return folder, weights


def test_eval_without_a_declared_input_uses_the_training_splits_statistics(tmp_path):
    folder, weights = _folder_and_weights(tmp_path)
    args = ("eval", "--backbone", "simple", "--options", "widths=4", "num_classes=2", "--weights", str(weights),
            "--dataset", f"imagefolder:{folder}")
    r = run_cli(*args, "--json", home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert "no declared input: dataset statistics" in d["input"] and "training split" in d["input"]
    mean = float(d["input"].split("mean (")[1].split(",")[0])
    assert mean > 0.6, d["input"]  # the bright training images' (~200/255), not the dark test images' (~40/255)
    # 12: a --test-limit run says which subset it scored (size and seed), in the text and the JSON
    r = run_cli(*args, "--test-limit", "3", "--seed", "5", home=tmp_path / "h")
    assert r.returncode == 0, r.stderr
    assert "subset: a seeded subset of 3 of the test images (--test-limit 3, seed 5)" in r.stdout
    assert "training split" in r.stdout.splitlines()[0]
    r = run_cli(*args, "--test-limit", "3", "--json", home=tmp_path / "h")
    assert json.loads(r.stdout)["test_limit"] == 3


# --- 5: eval's limits refused at parse time ---------------------------------------------------------------------
@pytest.mark.parametrize("argv, fragment", [
    (["--test-limit", "0"], "--test-limit: must be a positive number of images, got 0"),
    (["--test-limit", "-5"], "--test-limit: must be a positive number of images, got -5"),
    (["--batch-size", "0"], "--batch-size: must be a positive number of images per batch, got 0"),
    (["--batch-size", "-1"], "--batch-size: must be a positive number of images per batch, got -1"),
])
def test_eval_refuses_a_non_positive_limit_or_batch(tmp_path, argv, fragment):
    import torch

    from app.models.build import build
    from app.models.spec import ModelSpec

    weights = tmp_path / "w.pt"
    torch.save(build(ModelSpec.make("simple", options={"widths": [4], "num_classes": 10})).state_dict(), weights)
    r = run_cli("eval", "--backbone", "simple", "--options", "widths=4", "num_classes=10", "--weights", str(weights),
                "--dataset", "digits", *argv, "--json", home=tmp_path / "h")
    assert r.returncode == 2 and fragment in r.stderr and not r.stdout


# --- 4: the note of a fit that stalled below its cap -------------------------------------------------------------
def test_convergence_note_says_stalled_not_the_cap():
    from app.probe.bench import convergence_note

    stalled = convergence_note(False, True, {"iterations": 25, "converged": False, "stalled": True}, 1000)
    assert "stalled at 25 of 1000 iterations" in stalled and "iteration cap" not in stalled
    assert "raising --epochs cannot help" in stalled
    capped = convergence_note(False, True, {"iterations": 2, "converged": False, "stalled": False}, 2)
    assert capped.startswith("ours stopped at the iteration cap")
    # a stop report without the flag (an older record): fewer iterations than the cap is a stall
    assert "stalled at 7 of 100" in convergence_note(False, True, {"iterations": 7, "converged": False}, 100)
    both = convergence_note(False, False, {"iterations": 3, "stalled": True}, 50)
    assert "ours stalled" in both and "scikit-learn stopped at its iteration cap" in both


def _blobs(n: int = 60, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = (rng.standard_normal((n, d)) + 2.0 * np.eye(3, d)[y]).astype(np.float32)
    return X, y


@pytest.mark.parametrize("head", ["svm", "logistic"])
def test_the_stop_report_carries_the_stalled_flag(head):
    """tol 0 is never met: a cap far away ends by a stall (flag set, fewer iterations than the cap); a cap of 2 ends
    at the cap (flag not set)."""
    from app.probe.config import HEAD_DEFAULTS
    from app.probe.heads import train_logistic
    from app.probe.svm import train_svm
    from app.tasks import run_to_end

    X, y = _blobs()
    if head == "svm":
        base = {"C": 0.1, "tol": 0.0, "standardize": True, "eval_every": 0, "multiclass": "ovr"}
        fit = lambda epochs: run_to_end(train_svm(X, y, X[:5], y[:5], 3, dict(base, epochs=epochs)))  # noqa: E731
    else:
        base = dict(HEAD_DEFAULTS["logistic"], weight_decay=1e-2, tol=0.0, eval_every=0)
        fit = lambda epochs: run_to_end(train_logistic(X, y, X[:5], y[:5], 3, dict(base, epochs=epochs)))  # noqa: E731
    far = fit(500).stop
    assert far["converged"] is False and far["stalled"] is True and far["iterations"] < 500
    near = fit(2).stop
    assert near["stalled"] is False and near["iterations"] == 2


# --- 10: bench head / svm report the thread tuner -----------------------------------------------------------------
def test_bench_head_reports_the_thread_tuner(fe_home):
    from app.probe.bench import bench_head

    out = bench_head(_head_args())
    rep = out["threads"]
    assert {"threads", "max", "adaptive", "trials", "changes"} <= set(rep)
    assert "fixed" in out["settings"]["ours"] or "thread tuner" in out["settings"]["ours"]
    assert out["settings"]["device"].startswith("CPU (") and "thread" in out["settings"]["device"]


def test_bench_svm_reports_the_thread_tuner_and_its_stop(fe_home):
    from app.probe.bench_svm import bench_svm

    args = _head_args(layer=None, pooling="default", train_limit=120, test_limit=40, C=0.01, tol=None, epochs=50,
                      dual=True, sklearn_tol=1e-4, sklearn_max_iter=1000, select_C=None, val=20)
    out = bench_svm(args)
    assert {"threads", "max", "adaptive", "trials", "changes"} <= set(out["threads"])
    assert "stalled" in out["stop"]


# --- 6, 7: bench load's arguments, before any work ----------------------------------------------------------------
@pytest.fixture
def no_measure(monkeypatch):
    import app.bench_load as bl

    def boom(*a, **kw):
        raise AssertionError("a measurement started")

    monkeypatch.setattr(bl, "_measure", boom)


@pytest.mark.parametrize("argv, fragment", [
    (["--size", "abc", "--benchmarks", "extract,head,live"], "--size 'abc': expected HxW"),
    (["--size", "8x8", "--benchmarks", "live"], "--size '8x8': at least 16x16"),
    (["--max-seconds", "0"], "--max-seconds 0: the busy processes' time limit must be more than 0"),
    (["--max-seconds", "-1", "--quick"], "--max-seconds -1:"),
])
def test_bench_load_refuses_bad_sizes_and_limits_before_any_work(tmp_path, no_measure, argv, fragment):
    r = run_cli("bench", "load", *argv, home=tmp_path)
    assert r.returncode == 2 and fragment in r.stderr, r.stderr


def _fake_measure(calls: list, pause: float = 0.0):
    def measure(args, which, modes):
        import time

        calls.append(args.size)
        if len(calls) == 2:
            time.sleep(pause)
        return {"live app FPS (tuner on)": {"value": 10.0 * len(calls)}}

    return measure


def test_bench_load_busy_0_is_a_repeat_and_an_early_end_is_said(tmp_path, monkeypatch):
    import app.bench_load as bl

    calls: list = []
    monkeypatch.setattr(bl, "_measure", _fake_measure(calls))
    r = run_cli("bench", "load", "--busy", "0", "--benchmarks", "live", "--size", "32x48", "--quick", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert calls == ["32x48", "32x48"]  # --quick keeps a --size that was given
    assert "no busy processes, the second pass is a repeat without load" in r.stdout
    assert "repeat" in r.stdout.splitlines()[1] and "loaded" not in r.stdout.splitlines()[1]
    r = run_cli("bench", "load", "--busy", "0", "--benchmarks", "live", "--json", home=tmp_path)
    d = json.loads(r.stdout)
    assert d["second_pass"].startswith("repeat") and d["busy_ended_early"] == []
    # busy processes that end (--max-seconds) before the loaded pass is done: said
    calls.clear()
    monkeypatch.setattr(bl, "_measure", _fake_measure(calls, pause=1.5))
    r = run_cli("bench", "load", "--busy", "1", "--benchmarks", "live", "--max-seconds", "0.3", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 of the 1 busy processes had ended (--max-seconds 0.3) before the loaded figures were done" in r.stdout


# --- 8: the extraction's warm-up, the live figures measured alike, the help text ---------------------------------
def test_bench_load_extraction_has_an_untimed_warm_up(fe_home, monkeypatch):
    import app.probe.extract as ex

    from app.bench_load import _extract

    real = ex.extract
    sizes: list[int] = []

    def spy(model, images, *a, **kw):
        sizes.append(len(images))
        return real(model, images, *a, **kw)

    monkeypatch.setattr(ex, "extract", spy)
    out = _extract(argparse.Namespace(quick=True, images=40), False)
    assert len(sizes) == 2 and sizes[1] == 40 and sizes[0] == min(out["batch"], 40)  # warm-up, then the timed run
    assert out["batches"] == -(-40 // out["batch"])


@pytest.mark.parametrize("on", [False, True])
def test_bench_load_live_off_and_on_are_measured_alike(fe_home, monkeypatch, on):
    import app.live.bench as lb

    from app.bench_load import _live

    monkeypatch.setattr(lb, "run_bench", lambda *a, **kw: pytest.fail("the tuner-off figure took another path"))
    out = _live(argparse.Namespace(size="24x32", frames=2), on)
    assert out["value"] > 0 and out["warmup_frames"] == 5 and out["frames"] == 2
    assert out["threads"]["adaptive"] is on and out["threads"]["steps"] == 2


def test_bench_load_help_gives_no_false_batch_count(tmp_path):
    r = run_cli("bench", "load", "--help", home=tmp_path)
    assert "--images" in r.stdout and "8 batches" not in r.stdout


# --- 11: gpu-check's temporary folder and report -------------------------------------------------------------------
def test_gpu_check_without_a_gpu_leaves_no_temporary_folder(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    if shutil.which("bash") is None or not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no bash or no .venv")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run(["bash", "scripts/gpu-check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == 3, out.stderr
    assert list(tmp.iterdir()) == []


def test_gpu_report_gives_the_end_to_end_wall_and_each_steps_load(tmp_path):
    preset = {"top1": 0.76, "top2": 0.89, "val_top1": 0.76, "n_train": 45000, "n_test": 10000, "n_features": 100,
              "extract_seconds": 12.3, "train_seconds": 20.0, "wall_seconds": 41.5, "feature_cache_hit": False,
              "device": "CUDA: X"}
    (tmp_path / "preset-random-cifar10.out").write_text(json.dumps(preset) + "\n")
    (tmp_path / "steps.tsv").write_text(
        "name\ttimeout\trc\twall_s\tcommand\tload_start\tload_end\n"
        "preset-random-cifar10\t240\t0\t45.250\tpy main.py probe --preset random-cifar10 --json\t1.50\t2.25\n")
    out = subprocess.run([sys.executable, "scripts/gpu_report.py", str(tmp_path), "--device-name", "X",
                          "--total", "50"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "**end to end 45.2 s**" in out.stdout and "**wall 41.5 s** inside the process" in out.stdout
    assert "45.250 s wall; load average 1.50 -> 2.25)" in out.stdout


# --- 12: small ones -------------------------------------------------------------------------------------------------
def test_bench_extract_text_names_the_ratio_direction(monkeypatch, capsys):
    import app.probe.bench_extract as be

    from app.probe.bench_cli import cmd_bench_extract

    fake = {"ours_img_s": 500.0, "bare_img_s": 100.0, "ratio": 5.0, "ours_peak_rss_mb": 1.0, "bare_peak_rss_mb": 1.0,
            "features_match": True,
            "settings": {"images": 10, "dataset": "digits", "backbone": "rdsn", "options": {}, "layer": 1,
                         "pooling": "gap", "batch": 10, "threads": 1, "load_average_before": [1.0, 1.0, 1.0]}}
    monkeypatch.setattr(be, "bench_extract", lambda args: fake)
    cmd_bench_extract(argparse.Namespace(json=False))
    assert "ours/bare 5.000" in capsys.readouterr().out


def test_bench_defaults_apply_to_rdsn_only(fe_home):
    from app.probe.bench import bench_features
    from app.probe.bench_extract import settings_from_args

    f = bench_features(_head_args(backbone="lenet5", train_limit=30, test_limit=10))  # was: lenet5 got k = 32
    assert "k" not in f["spec"].options
    ex = argparse.Namespace(quick=True, dataset=None, data_root=None, backbone="lenet5", options=None, layer=None,
                            pooling="default", images=10, rounds=1, timeout=30, seed=0)
    assert settings_from_args(ex)["options"] == {}
    assert settings_from_args(argparse.Namespace(**{**vars(ex), "backbone": "rdsn"}))["options"] == {"k": 32}


@pytest.mark.parametrize("argv, fragment, unwanted", [
    (["--backbone", "nosuch"], ": unknown backbone 'nosuch'; known:", ': "unknown'),
    (["--timeout", "0"], "--timeout must be a positive number of seconds", "took longer"),
])
def test_bench_extract_refusals_read_cleanly(tmp_path, argv, fragment, unwanted):
    r = run_cli("bench", "extract", "--quick", "--rounds", "1", *argv, home=tmp_path)
    assert r.returncode == 2 and fragment in r.stderr and unwanted not in r.stderr, r.stderr


def test_bench_rdsn_and_kernels_preview_warm_up_and_print_the_load(tmp_path, monkeypatch):
    import app.kernels.ops as ops
    import app.models.registry as registry

    made = []
    real_create = registry.create

    def create(*a, **kw):
        m = real_create(*a, **kw)
        real = m.extract_pooled
        m.extract_pooled = lambda x: (made.append(len(x)), real(x))[1]
        return m

    monkeypatch.setattr(registry, "create", create)
    r = run_cli("bench", "rdsn", "--k", "4", "--blocks", "1", "--images", "6", "--batch", "3", "--size", "8",
                home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert made == [2, 3, 3] and "load average before" in r.stdout  # a 2-image warm-up, then the timed batches
    views = []
    real_views = ops.compute_views
    monkeypatch.setattr(ops, "compute_views", lambda *a, **kw: (views.append(1), real_views(*a, **kw))[1])
    r = run_cli("bench", "kernels-preview", "--repeat", "1", "--max-side", "16", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(views) == 1 + 5 and "load average" in r.stdout.splitlines()[0]


def test_bench_live_prints_the_load(tmp_path):
    r = run_cli("bench", "live", "--frames", "1", "--size", "16x16", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "load average before" in r.stdout.splitlines()[0]
    r = run_cli("bench", "live", "--frames", "1", "--size", "16x16", "--json", home=tmp_path)
    assert len(json.loads(r.stdout)["load_average_before"]) == 3
