"""Foundation: the Qt-free core, the entry point, device choice, the task protocol."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app import device
from app.tasks import CancelToken, Cancelled, Progress, check, run_to_end

ROOT = Path(__file__).resolve().parent.parent
# No Qt in app/: the import contract in pyproject.toml, run by tests/test_architecture.py.


def test_gui_opencv_variant_absent():
    """opencv-python bundles its own Qt and rewrites QT_QPA_*; only the headless build may be installed."""
    from importlib import metadata

    names = {d.metadata["Name"].lower() for d in metadata.distributions()}
    assert "opencv-python-headless" in names
    assert "opencv-python" not in names


def test_help_lists_commands():
    out = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "kernels" in out.stdout and "bench" in out.stdout


def test_bad_device_is_a_clear_error():
    out = subprocess.run([sys.executable, "main.py", "--device", "tpu", "kernels", "kinds"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "unknown device" in out.stderr and "Traceback" not in out.stderr


def test_device_auto_and_override():
    device.set_override("cpu")
    try:
        assert device.pick().type == "cpu"
        assert device.describe().name.startswith("CPU (")
    finally:
        device.set_override(None)
    with pytest.raises(ValueError):
        device.set_override("quantum")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            device.set_override("cuda")


def _counting(n, token=None):
    for i in range(n):
        check(token)
        yield Progress(i + 1, n, f"step {i + 1}")
    return "done"


def test_task_protocol_runs_and_cancels():
    seen = []
    assert run_to_end(_counting(3), seen.append) == "done"
    assert [p.fraction for p in seen] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    token = CancelToken()
    gen = _counting(10, token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)


def test_default_threads_leave_a_core_to_the_window(monkeypatch):
    import torch

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: set(range(1024)))
    monkeypatch.setattr(device, "_cgroup_cpus", lambda: None)
    for cores, headless, gui in ((1, 1, 1), (2, 2, 1), (8, 8, 7)):
        monkeypatch.setattr(device.os, "cpu_count", lambda c=cores: c)
        assert device.default_threads() == headless and device.default_threads(gui=True) == gui
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(device.os, "cpu_count", lambda: 2)
        monkeypatch.delenv("FILTER_EXPLORER_THREADS", raising=False)
        assert device.configure_threads(None, gui=True) == 1 and torch.get_num_threads() == 1
        assert device.describe(torch.device("cpu")).name == "CPU (1 thread)"
        monkeypatch.setenv("FILTER_EXPLORER_THREADS", "2")
        assert device.configure_threads(None, gui=True) == 2  # the user's choice wins
        assert device.configure_threads(3, gui=True) == 3
    finally:
        torch.set_num_threads(before)


def test_available_cores_honours_affinity_and_container_quota(monkeypatch):
    from app import device

    monkeypatch.setattr(device.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(device, "_cgroup_cpus", lambda: None)
    assert device.available_cores() == 8  # the affinity mask
    monkeypatch.setattr(device, "_cgroup_cpus", lambda: 2.0)
    assert device.available_cores() == 2  # a container's quota on a big host
    assert device.default_threads() == 2 and device.default_threads(gui=True) == 1
    monkeypatch.setattr(device, "_cgroup_cpus", lambda: 0.3)
    assert device.available_cores() == 1
    from app.experiments.executors import default_workers

    monkeypatch.setattr(device, "_cgroup_cpus", lambda: 4.0)
    assert default_workers() == 4 and default_workers(threads_per_cell=2) == 2
