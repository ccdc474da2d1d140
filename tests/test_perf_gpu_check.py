"""scripts/gpu-check.sh: stops with a clear message without CUDA; its report names each command and figure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_without_cuda_the_script_stops_with_a_clear_message():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: the script would create it first")
    out = subprocess.run(["bash", "scripts/gpu-check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    assert "--cpu-dry-run" in out.stderr and "Traceback" not in out.stderr
    assert ("no NVIDIA GPU" in out.stderr) or ("sees no CUDA device" in out.stderr)


def test_report_lists_each_command_with_its_figures(tmp_path):
    live = {"app_fps": 61.2, "bare_fps": 64.0, "ratio": 0.956, "ratio_median": 0.95, "app_ms_median": 16.1,
            "bare_ms_median": 15.2, "backbone": "resnet20", "layer": "layer1.2", "frames": 200,
            "channels_last": True, "amp_fp16": True, "device": "CUDA: X",
            "batchnorm_folded": {"folded": 19, "batchnorms": 19}}
    (tmp_path / "live-1080x1920.out").write_text("progress\n" + json.dumps(live) + "\n")
    preset = {"top1": 0.7604, "top2": 0.8919, "val_top1": 0.7624, "n_train": 45000, "n_test": 10000,
              "n_features": 36864, "extract_seconds": 12.34, "train_seconds": 20.0, "wall_seconds": 41.5,
              "feature_cache_hit": False, "device": "CUDA: X"}
    (tmp_path / "preset-random-cifar10.out").write_text(json.dumps(preset) + "\n")
    (tmp_path / "head.out").write_text("")
    (tmp_path / "head.err").write_text("Traceback ...\nRuntimeError: out of memory\n")
    (tmp_path / "steps.tsv").write_text(
        "name\ttimeout\trc\twall_s\tcommand\n"
        "live-1080x1920\t120\t0\t12.5\tpy main.py bench live --size 1080x1920\n"
        "head\t180\t124\t180.0\tpy main.py bench head --json\n"
        "preset-random-cifar10\t240\t0\t45.0\tpy main.py probe --preset random-cifar10 --json\n")
    out = subprocess.run([sys.executable, "scripts/gpu_report.py", str(tmp_path), "--device-name", "NVIDIA X, 80 GB",
                          "--total", "200"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    md = out.stdout
    assert "Device: **NVIDIA X, 80 GB**" in md
    assert "`py main.py bench live --size 1080x1920`  (timeout 120 s; exit 0; 12.5 s wall)" in md
    assert "app 61.2 FPS, bare 64.0 FPS, **app/bare 0.956**" in md
    assert "channels_last True, float16, device CUDA: X, batch norms folded 19 of 19" in md  # a report of before
    # "precision" was in bench live's JSON: float16 from amp_fp16
    assert "**not measured** (timed out): Traceback ... / RuntimeError: out of memory" in md
    assert ("**test top-1 76.04%** (top-2 89.19%), validation 76.24%, 45000 train / 10000 test, 36864 features; "
            "extract 12.3 s, head 20.0 s, **wall 41.5 s**") in md


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_script_is_valid_bash():
    out = subprocess.run(["bash", "-n", "scripts/gpu-check.sh"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
