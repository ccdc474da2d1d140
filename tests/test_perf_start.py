"""Instant start: the light commands load no torch, Qt or scikit-learn; thread counts are checked, not crashed on.

Speed itself is a benchmark (README, docs/benchmarks.md: ``time python main.py --help``), never a timed assertion;
what is tested here is the cause of a slow start: which heavy modules a command imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import device

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sklearn", "scipy", "PySide6", "pyqtgraph", "cv2")


def _py(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_light_commands_import_no_heavy_module():
    code = (
        "import contextlib, io, sys\n"
        "import main\n"
        "for argv in (['--help'], ['kernels', 'kinds'], ['models', 'list'], ['data', 'list'], ['bench', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        try:\n"
        "            rc = main.main(argv)\n"
        "        except SystemExit as exc:\n"
        "            rc = exc.code\n"
        "    assert rc == 0 and out.getvalue().strip(), (argv, rc)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = _py(code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "", f"light commands imported: {out.stdout.strip()}"


def test_models_list_catalog_matches_the_registry():
    """``models list`` reads app.models.catalog (no torch); it must say exactly what the registry says."""
    from app.models import describe, names
    from app.models.catalog import BACKBONES

    assert BACKBONES == {n: describe(n) for n in names()}


def test_models_list_prints_every_backbone():
    from app.models.catalog import BACKBONES

    out = subprocess.run([sys.executable, "main.py", "models", "list"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == list(BACKBONES)


@pytest.mark.parametrize("argv, env, expected", [
    (["kernels", "kinds"], {"FILTER_EXPLORER_THREADS": "abc"}, "FILTER_EXPLORER_THREADS='abc': the number of threads must be a whole number"),
    (["kernels", "kinds"], {"FILTER_EXPLORER_THREADS": "0"}, "FILTER_EXPLORER_THREADS=0: the number of threads must be 1.."),
    (["--threads", "100000", "kernels", "kinds"], {}, "argument --threads: the number of threads must be 1.."),
    (["--threads", "x", "kernels", "kinds"], {}, "argument --threads: the number of threads must be a whole number"),
    (["--device", "cuda:x", "kernels", "kinds"], {}, "--device cuda:x"),
])
def test_bad_thread_counts_and_devices_are_clear_errors(argv, env, expected):
    out = subprocess.run([sys.executable, "main.py", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env})
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert expected in out.stderr and "Traceback" not in out.stderr


def test_parse_threads_bounds(monkeypatch):
    monkeypatch.setattr(device.os, "cpu_count", lambda: 2)
    assert device.max_threads() == 64
    assert device.parse_threads("1") == 1 and device.parse_threads(" 64 ") == 64
    for bad in ("0", "-1", "65", "1e3", "", "2.5"):
        with pytest.raises(device.DeviceError, match="--threads"):
            device.parse_threads(bad)
    monkeypatch.setattr(device.os, "cpu_count", lambda: 32)
    assert device.max_threads() == 128 and device.parse_threads(128) == 128


def test_thread_count_applies_when_torch_loads_later():
    """configure_threads before torch is imported: the count is applied the moment torch loads."""
    out = _py("import sys\nfrom app import device\nassert device.configure_threads(1) == 1\n"
              "assert 'torch' not in sys.modules\nimport torch\nprint(torch.get_num_threads())\n")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "1"
